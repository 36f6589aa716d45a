output "bucket_name" {
  description = "Name of the S3 bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the S3 bucket."
  value       = local.bucket_arn
}

output "prefix" {
  description = "Key prefix of the team's tablelog data inside the bucket (no leading or trailing slash)."
  value       = var.prefix
}

output "tablelog_root" {
  description = "The TABLELOG_ROOT value for jobs and notebooks: s3://<bucket>/<prefix>."
  # Refer to the bucket so the value is only exported once the bucket exists.
  value = "s3://${aws_s3_bucket.this.id}/${var.prefix}"
}

output "writer_policy_arn" {
  description = "ARN of the IAM policy for writers (put/get/list under the prefix, no delete)."
  value       = aws_iam_policy.this["writer"].arn
}

output "reader_policy_arn" {
  description = "ARN of the IAM policy for readers (get/list under the prefix)."
  value       = aws_iam_policy.this["reader"].arn
}

output "maintainer_policy_arn" {
  description = "ARN of the IAM policy for maintainers (put/get/list/delete under the prefix, for gc and compact)."
  value       = aws_iam_policy.this["maintainer"].arn
}

output "policy_arns" {
  description = "Map of principal kind (writer, reader, maintainer) to IAM policy ARN."
  value       = { for k, p in aws_iam_policy.this : k => p.arn }
}

output "policy_json" {
  description = "Map of principal kind (writer, reader, maintainer) to the IAM policy document (JSON string)."
  value       = local.policy_json
}

output "bucket_policy_json" {
  description = "The bucket policy document (JSON string): denies every request not made over TLS."
  value       = data.aws_iam_policy_document.bucket.json
}

output "role_arns" {
  description = "Map of principal kind to IAM role ARN; empty unless create_roles is true."
  value       = { for k, r in aws_iam_role.this : k => r.arn }
}

output "encryption" {
  description = "Default encryption of the bucket: \"AES256\" (SSE-S3) or \"aws:kms\" (SSE-KMS)."
  value       = local.use_kms ? "aws:kms" : "AES256"
}
