provider "aws" {
  region = var.region

  # All false / empty by default: real AWS. Set them (see README.md) to run
  # against a local S3/IAM/STS server such as moto or LocalStack.
  skip_credentials_validation = var.skip_credentials_validation
  skip_requesting_account_id  = var.skip_requesting_account_id
  skip_metadata_api_check     = var.skip_metadata_api_check
  s3_use_path_style           = var.s3_use_path_style

  endpoints {
    s3  = var.s3_endpoint != "" ? var.s3_endpoint : null
    iam = var.iam_endpoint != "" ? var.iam_endpoint : null
    sts = var.sts_endpoint != "" ? var.sts_endpoint : null
  }

  default_tags {
    tags = var.tags
  }
}

module "team_bucket" {
  source = "../../modules/team-bucket"

  bucket_name             = var.bucket_name
  prefix                  = var.prefix
  scratch_prefix          = var.scratch_prefix
  scratch_expiration_days = var.scratch_expiration_days
  versioning_enabled      = var.versioning_enabled
  kms_key_arn             = var.kms_key_arn
  force_destroy           = var.force_destroy

  create_roles                = var.create_roles
  role_trusted_principal_arns = var.role_trusted_principal_arns
}
