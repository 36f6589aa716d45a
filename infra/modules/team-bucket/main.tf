# An S3 bucket for tablelog data (Parquet objects + JSON manifests) of one
# team, and prefix-scoped IAM policies for the three kinds of principals that
# use it: writers (jobs that log tables), readers (notebooks, dashboards) and
# maintainers (gc / compaction, which delete unreferenced objects).

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition

  # Every ARN is computed from the inputs, so the policy documents are known
  # at plan time and do not depend on the bucket having been created.
  bucket_arn         = "arn:${local.partition}:s3:::${var.bucket_name}"
  prefix_objects_arn = "arn:${local.partition}:s3:::${var.bucket_name}/${var.prefix}/*"
  # Table manifests (.../tables/<key>/versions/<n>.json): created once, never rewritten.
  manifest_objects_arn = "arn:${local.partition}:s3:::${var.bucket_name}/${var.prefix}/projects/*/versions/*"

  # s3:prefix values a ListBucket request may carry: the team prefix as a
  # folder and anything below it. The bare prefix (no trailing slash) is not
  # allowed on purpose: it would also list keys such as "<prefix>-other/...".
  list_prefixes = ["${var.prefix}/", "${var.prefix}/*"]

  name_prefix = coalesce(var.name_prefix, substr("tablelog-${replace(var.bucket_name, ".", "-")}", 0, 40))

  use_kms = var.kms_key_arn != null

  tablelog_root = "s3://${var.bucket_name}/${var.prefix}"

  scratch_enabled = var.scratch_prefix != null
  # A placeholder keeps the (disabled) rule valid when no scratch prefix is set.
  scratch_prefix = local.scratch_enabled ? var.scratch_prefix : "scratch"

  noncurrent_expiration_enabled = var.versioning_enabled && var.noncurrent_version_expiration_days != null
  noncurrent_days               = coalesce(var.noncurrent_version_expiration_days, 30)

  common_tags = merge(
    {
      "tablelog:root" = local.tablelog_root
    },
    var.tags,
  )
}

# ---------------------------------------------------------------------------
# Bucket
# ---------------------------------------------------------------------------

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Server access logging needs a separate log bucket owned by the platform team; enable it there (aws_s3_bucket_logging) if your account requires it.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery decision outside this module (tablelog data can be re-logged); add aws_s3_bucket_replication_configuration where needed.
  #checkov:skip=CKV2_AWS_62:tablelog does not consume S3 event notifications; nothing subscribes to them.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy

  tags = local.common_tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = local.use_kms ? "aws:kms" : "AES256"
      kms_master_key_id = local.use_kms ? var.kms_key_arn : null
    }
    bucket_key_enabled = local.use_kms
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    # "Disabled" is only valid for a bucket that never had versioning; turning
    # it off later must go through "Suspended", which S3 keeps forever.
    status = var.versioning_enabled ? "Enabled" : "Disabled"
  }
}

# All rules are static (optional ones are switched with their status rather
# than added with dynamic blocks) so that static analysers such as checkov see
# the real configuration.
resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_upload_days
    }
  }

  rule {
    id     = "expire-scratch"
    status = local.scratch_enabled ? "Enabled" : "Disabled"

    filter {
      prefix = "${var.prefix}/${local.scratch_prefix}/"
    }

    expiration {
      days = var.scratch_expiration_days
    }
  }

  rule {
    id     = "expire-noncurrent-versions"
    status = local.noncurrent_expiration_enabled ? "Enabled" : "Disabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = local.noncurrent_days
    }
  }

  # Lifecycle rules are validated against the versioning state of the bucket.
  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      local.bucket_arn,
      "${local.bucket_arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.bucket.json

  # S3 rejects concurrent changes of the policy and the public access block
  # (OperationAborted); apply them one after the other.
  depends_on = [
    aws_s3_bucket_public_access_block.this,
    aws_s3_bucket_ownership_controls.this,
  ]
}
