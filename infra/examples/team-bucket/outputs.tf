output "tablelog_root" {
  description = "TABLELOG_ROOT for jobs and notebooks: export TABLELOG_ROOT=$(terraform output -raw tablelog_root)"
  value       = module.team_bucket.tablelog_root
}

output "bucket_name" {
  description = "Name of the S3 bucket."
  value       = module.team_bucket.bucket_name
}

output "prefix" {
  description = "Key prefix of the team's data inside the bucket."
  value       = module.team_bucket.prefix
}

output "writer_policy_arn" {
  description = "IAM policy to attach to jobs that log tables."
  value       = module.team_bucket.writer_policy_arn
}

output "reader_policy_arn" {
  description = "IAM policy to attach to notebooks and dashboards that only read."
  value       = module.team_bucket.reader_policy_arn
}

output "maintainer_policy_arn" {
  description = "IAM policy to attach to the gc / compact jobs."
  value       = module.team_bucket.maintainer_policy_arn
}

output "policy_arns" {
  description = "Map of writer/reader/maintainer to IAM policy ARN."
  value       = module.team_bucket.policy_arns
}

output "policy_json" {
  description = "Map of writer/reader/maintainer to the IAM policy document (JSON)."
  value       = module.team_bucket.policy_json
}

output "bucket_policy_json" {
  description = "The bucket policy document (JSON)."
  value       = module.team_bucket.bucket_policy_json
}

output "role_arns" {
  description = "Map of writer/reader/maintainer to IAM role ARN (empty unless create_roles)."
  value       = module.team_bucket.role_arns
}
