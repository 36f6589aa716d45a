variable "bucket_name" {
  description = "Name of the S3 bucket that holds the team's tablelog data. Must follow the S3 bucket naming rules (3-63 characters, lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, no '..', not an IP address, no reserved prefixes/suffixes)."
  type        = string

  validation {
    condition     = length(var.bucket_name) >= 3 && length(var.bucket_name) <= 63
    error_message = "bucket_name must be between 3 and 63 characters long."
  }

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name may contain only lowercase letters, digits, dots and hyphens, and must start and end with a letter or digit."
  }

  validation {
    condition     = !strcontains(var.bucket_name, "..") && !strcontains(var.bucket_name, ".-") && !strcontains(var.bucket_name, "-.")
    error_message = "bucket_name must not contain '..', '.-' or '-.'."
  }

  validation {
    condition     = !can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$", var.bucket_name))
    error_message = "bucket_name must not be formatted as an IP address."
  }

  validation {
    condition = !(
      startswith(var.bucket_name, "xn--") ||
      startswith(var.bucket_name, "sthree-") ||
      startswith(var.bucket_name, "amzn-s3-demo-") ||
      endswith(var.bucket_name, "-s3alias") ||
      endswith(var.bucket_name, "--ol-s3") ||
      endswith(var.bucket_name, ".mrap") ||
      endswith(var.bucket_name, "--x-s3")
    )
    error_message = "bucket_name uses a prefix or suffix reserved by AWS (xn--, sthree-, amzn-s3-demo-, -s3alias, --ol-s3, .mrap, --x-s3)."
  }
}

variable "prefix" {
  description = "Key prefix (folder) under which the team's tablelog data lives, e.g. \"team-a\" or \"ml/team-a\". No leading or trailing slash. TABLELOG_ROOT becomes s3://<bucket_name>/<prefix>. All IAM policies are scoped to this prefix."
  type        = string

  validation {
    condition     = length(var.prefix) > 0 && length(var.prefix) <= 512
    error_message = "prefix must be a non-empty string of at most 512 characters (the whole bucket cannot be granted)."
  }

  validation {
    condition     = !startswith(var.prefix, "/") && !endswith(var.prefix, "/")
    error_message = "prefix must not start or end with '/'."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.prefix))
    error_message = "prefix may contain only letters, digits, '_', '.', '-' and single '/' separators (no '//', no wildcards '*' or '?', no spaces)."
  }

  validation {
    condition     = alltrue([for part in split("/", var.prefix) : part != "." && part != ".."])
    error_message = "prefix must not contain '.' or '..' path segments."
  }
}

variable "scratch_prefix" {
  description = "Sub-prefix (relative to prefix, no leading or trailing slash) whose objects expire after scratch_expiration_days. Leave null to expire nothing."
  type        = string
  default     = null

  validation {
    condition     = var.scratch_prefix == null || can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.scratch_prefix))
    error_message = "scratch_prefix may contain only letters, digits, '_', '.', '-' and single '/' separators, with no leading or trailing slash."
  }
}

variable "scratch_expiration_days" {
  description = "Number of days after which objects under <prefix>/<scratch_prefix>/ expire. Used only when scratch_prefix is set."
  type        = number
  default     = 7

  validation {
    condition     = var.scratch_expiration_days >= 1 && floor(var.scratch_expiration_days) == var.scratch_expiration_days
    error_message = "scratch_expiration_days must be a whole number of days, at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Number of days after which incomplete multipart uploads are aborted (and their parts deleted)."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of days, at least 1."
  }
}

variable "versioning_enabled" {
  description = "Whether to enable S3 object versioning on the bucket. On by default: objects deleted by gc/compact or overwritten manifests stay recoverable as noncurrent versions for noncurrent_version_expiration_days. Set false at creation for an unversioned bucket; once enabled, S3 can only suspend versioning, not disable it."
  type        = bool
  default     = true
}

variable "noncurrent_version_expiration_days" {
  description = "When versioning is enabled, number of days after which noncurrent object versions expire. Null keeps them forever."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days == null || try(var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days, false)
    error_message = "noncurrent_version_expiration_days must be null or a whole number of days, at least 1."
  }
}

variable "kms_key_arn" {
  description = "ARN of a KMS key for default encryption (SSE-KMS with an S3 Bucket Key). Leave null to use SSE-S3 (AES256). Principals using the bucket then also need kms:Encrypt/Decrypt/GenerateDataKey on that key, which this module grants in the generated policies."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID)."
  }
}

variable "force_destroy" {
  description = "Whether `terraform destroy` may delete the bucket while it still holds objects. Keep false in production."
  type        = bool
  default     = false
}

variable "name_prefix" {
  description = "Prefix for the names of the IAM policies (and roles) this module creates, e.g. \"tablelog-team-a\". Defaults to \"tablelog-<bucket_name>\" with dots replaced by hyphens."
  type        = string
  default     = null

  validation {
    condition     = var.name_prefix == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,40}$", var.name_prefix))
    error_message = "name_prefix must be 1-40 characters from letters, digits and +=,.@_- (IAM name rules, leaving room for the suffixes)."
  }
}

variable "iam_path" {
  description = "IAM path for the policies and roles this module creates."
  type        = string
  default     = "/tablelog/"

  validation {
    condition     = can(regex("^/([\\x21-\\x7E]+/)?$", var.iam_path)) && length(var.iam_path) <= 512
    error_message = "iam_path must start and end with '/' (e.g. \"/\" or \"/tablelog/\")."
  }
}

variable "require_conditional_manifest_writes" {
  description = "Whether the writer and maintainer policies deny a PutObject of a manifest key (<prefix>/projects/*/versions/*) made without If-None-Match (S3's s3:if-none-match condition key), so a version, once written, cannot be overwritten: history can only grow. tablelog always creates manifests that way. Turn off only in a partition or S3-compatible store whose IAM does not know the s3:if-none-match key (there the deny would refuse every manifest write)."
  type        = bool
  default     = true
}

variable "create_roles" {
  description = "Whether to also create IAM roles (writer, reader, maintainer) with the matching policy attached. Off by default: usually the policies are attached to existing roles or users."
  type        = bool
  default     = false
}

variable "role_trusted_principal_arns" {
  description = "AWS principal ARNs (accounts, roles or users) allowed to assume the roles, when create_roles is true. Keyed by role: writer, reader, maintainer."
  type = object({
    writer     = optional(list(string), [])
    reader     = optional(list(string), [])
    maintainer = optional(list(string), [])
  })
  default = {}

  validation {
    condition = alltrue([
      for arn in flatten([
        var.role_trusted_principal_arns.writer,
        var.role_trusted_principal_arns.reader,
        var.role_trusted_principal_arns.maintainer,
      ]) : can(regex("^arn:aws[a-zA-Z-]*:(iam|sts)::[0-9]{12}:", arn))
    ])
    error_message = "role_trusted_principal_arns entries must be IAM/STS principal ARNs (arn:aws:iam::ACCOUNT:...)."
  }
}

variable "role_max_session_duration" {
  description = "Maximum session duration, in seconds, of the roles created when create_roles is true."
  type        = number
  default     = 3600

  validation {
    condition     = var.role_max_session_duration >= 3600 && var.role_max_session_duration <= 43200
    error_message = "role_max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "tags" {
  description = "Tags applied to every resource this module creates that supports tags."
  type        = map(string)
  default     = {}
}
