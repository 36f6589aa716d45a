variable "region" {
  description = "AWS region of the bucket (and of the provider)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must look like an AWS region name, e.g. \"us-east-1\"."
  }
}

variable "bucket_name" {
  description = "Name of the S3 bucket to create (globally unique on AWS). See the module's variable for the naming rules."
  type        = string
}

variable "prefix" {
  description = "Key prefix of the team's tablelog data, without leading or trailing slash. TABLELOG_ROOT becomes s3://<bucket_name>/<prefix>."
  type        = string
  default     = "team-a"
}

variable "scratch_prefix" {
  description = "Sub-prefix of prefix whose objects expire after scratch_expiration_days (null: none)."
  type        = string
  default     = "scratch"
}

variable "scratch_expiration_days" {
  description = "Days after which objects under <prefix>/<scratch_prefix>/ expire."
  type        = number
  default     = 7
}

variable "versioning_enabled" {
  description = "Whether to enable object versioning on the bucket (noncurrent versions expire after 30 days)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "KMS key ARN for SSE-KMS default encryption; null for SSE-S3."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Whether `terraform destroy` may delete a bucket that still holds objects."
  type        = bool
  default     = false
}

variable "create_roles" {
  description = "Whether to create writer/reader/maintainer IAM roles (needs role_trusted_principal_arns)."
  type        = bool
  default     = false
}

variable "role_trusted_principal_arns" {
  description = "Principals allowed to assume each role, when create_roles is true."
  type = object({
    writer     = optional(list(string), [])
    reader     = optional(list(string), [])
    maintainer = optional(list(string), [])
  })
  default = {}
}

variable "tags" {
  description = "Tags for every resource (also set as the provider's default_tags)."
  type        = map(string)
  default = {
    "managed-by" = "terraform"
    "app"        = "tablelog"
  }
}

# ---------------------------------------------------------------------------
# Pointing the provider at a local server (moto, LocalStack, ...).
# Leave all of these at their defaults to talk to real AWS.
# ---------------------------------------------------------------------------

variable "s3_endpoint" {
  description = "Custom S3 endpoint URL, e.g. \"http://127.0.0.1:5000\". Empty: the real AWS endpoint."
  type        = string
  default     = ""
  nullable    = false

  validation {
    condition     = var.s3_endpoint == "" || can(regex("^https?://", var.s3_endpoint))
    error_message = "s3_endpoint must be empty or an http(s):// URL."
  }
}

variable "iam_endpoint" {
  description = "Custom IAM endpoint URL. Empty: the real AWS endpoint."
  type        = string
  default     = ""
  nullable    = false

  validation {
    condition     = var.iam_endpoint == "" || can(regex("^https?://", var.iam_endpoint))
    error_message = "iam_endpoint must be empty or an http(s):// URL."
  }
}

variable "sts_endpoint" {
  description = "Custom STS endpoint URL. Empty: the real AWS endpoint."
  type        = string
  default     = ""
  nullable    = false

  validation {
    condition     = var.sts_endpoint == "" || can(regex("^https?://", var.sts_endpoint))
    error_message = "sts_endpoint must be empty or an http(s):// URL."
  }
}

variable "skip_credentials_validation" {
  description = "Skip the STS GetCallerIdentity check of the credentials (true for a local server)."
  type        = bool
  default     = false
}

variable "skip_requesting_account_id" {
  description = "Do not ask IAM/STS for the account id (true for a local server)."
  type        = bool
  default     = false
}

variable "skip_metadata_api_check" {
  description = "Do not look for credentials in the EC2 instance metadata service (true for a local server)."
  type        = bool
  default     = false
}

variable "s3_use_path_style" {
  description = "Address buckets as http://host/bucket instead of http://bucket.host (true for a local server)."
  type        = bool
  default     = false
}
