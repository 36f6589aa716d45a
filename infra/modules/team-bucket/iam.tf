# Prefix-scoped IAM policies. No action wildcards; the only resources are the
# objects under <bucket>/<prefix>/ and the bucket itself for ListBucket, which
# carries an s3:prefix condition so only keys under the prefix can be listed.

locals {
  # Actions granted on arn:aws:s3:::<bucket>/<prefix>/* for each principal.
  # s3:AbortMultipartUpload lets s3fs clean up a failed large upload; it does
  # not remove any committed object.
  object_actions = {
    writer     = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    reader     = ["s3:GetObject"]
    maintainer = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
  }

  # KMS actions needed on kms_key_arn when the bucket uses SSE-KMS.
  kms_actions = {
    writer     = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    reader     = ["kms:Decrypt"]
    maintainer = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
  }

  policy_descriptions = {
    writer     = "tablelog writer: put/get/list objects under ${local.tablelog_root}/ (no delete)."
    reader     = "tablelog reader: get/list objects under ${local.tablelog_root}/ (read only)."
    maintainer = "tablelog maintainer: put/get/list/delete objects under ${local.tablelog_root}/ (gc, compact)."
  }

  policy_json = {
    writer     = data.aws_iam_policy_document.writer.json
    reader     = data.aws_iam_policy_document.reader.json
    maintainer = data.aws_iam_policy_document.maintainer.json
  }
}

data "aws_iam_policy_document" "writer" {
  statement {
    sid       = "ListTeamPrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = local.list_prefixes
    }
  }

  statement {
    sid       = "ReadWriteTeamObjects"
    effect    = "Allow"
    actions   = local.object_actions.writer
    resources = [local.prefix_objects_arn]
  }

  # History can only grow: a manifest may only be created (If-None-Match: *), never
  # overwritten. Manifests are small (never multipart uploads, whose UploadPart
  # requests carry no If-None-Match). See var.require_conditional_manifest_writes.
  dynamic "statement" {
    for_each = var.require_conditional_manifest_writes ? [local.manifest_objects_arn] : []

    content {
      sid       = "ManifestsAreCreateOnly"
      effect    = "Deny"
      actions   = ["s3:PutObject"]
      resources = [statement.value]

      condition {
        test     = "Null"
        variable = "s3:if-none-match"
        values   = ["true"]
      }
    }
  }

  dynamic "statement" {
    for_each = local.use_kms ? [var.kms_key_arn] : []

    content {
      sid       = "UseBucketKmsKey"
      effect    = "Allow"
      actions   = local.kms_actions.writer
      resources = [statement.value]

      condition {
        test     = "StringLike"
        variable = "kms:ViaService"
        values   = ["s3.*.amazonaws.com"]
      }
    }
  }
}

data "aws_iam_policy_document" "reader" {
  statement {
    sid       = "ListTeamPrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = local.list_prefixes
    }
  }

  statement {
    sid       = "ReadTeamObjects"
    effect    = "Allow"
    actions   = local.object_actions.reader
    resources = [local.prefix_objects_arn]
  }

  dynamic "statement" {
    for_each = local.use_kms ? [var.kms_key_arn] : []

    content {
      sid       = "UseBucketKmsKey"
      effect    = "Allow"
      actions   = local.kms_actions.reader
      resources = [statement.value]

      condition {
        test     = "StringLike"
        variable = "kms:ViaService"
        values   = ["s3.*.amazonaws.com"]
      }
    }
  }
}

data "aws_iam_policy_document" "maintainer" {
  statement {
    sid       = "ListTeamPrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = local.list_prefixes
    }
  }

  statement {
    sid       = "ManageTeamObjects"
    effect    = "Allow"
    actions   = local.object_actions.maintainer
    resources = [local.prefix_objects_arn]
  }

  # History can only grow: a manifest may only be created (If-None-Match: *), never
  # overwritten. Manifests are small (never multipart uploads, whose UploadPart
  # requests carry no If-None-Match). See var.require_conditional_manifest_writes.
  dynamic "statement" {
    for_each = var.require_conditional_manifest_writes ? [local.manifest_objects_arn] : []

    content {
      sid       = "ManifestsAreCreateOnly"
      effect    = "Deny"
      actions   = ["s3:PutObject"]
      resources = [statement.value]

      condition {
        test     = "Null"
        variable = "s3:if-none-match"
        values   = ["true"]
      }
    }
  }

  dynamic "statement" {
    for_each = local.use_kms ? [var.kms_key_arn] : []

    content {
      sid       = "UseBucketKmsKey"
      effect    = "Allow"
      actions   = local.kms_actions.maintainer
      resources = [statement.value]

      condition {
        test     = "StringLike"
        variable = "kms:ViaService"
        values   = ["s3.*.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_policy" "this" {
  for_each = local.policy_json

  name        = "${local.name_prefix}-${each.key}"
  path        = var.iam_path
  description = local.policy_descriptions[each.key]
  policy      = each.value

  tags = local.common_tags
}

# ---------------------------------------------------------------------------
# Optional roles (off by default)
# ---------------------------------------------------------------------------

locals {
  role_trusted = {
    writer     = var.role_trusted_principal_arns.writer
    reader     = var.role_trusted_principal_arns.reader
    maintainer = var.role_trusted_principal_arns.maintainer
  }
  roles = var.create_roles ? local.role_trusted : {}
}

data "aws_iam_policy_document" "assume" {
  for_each = local.roles

  statement {
    sid     = "AssumeFromTrustedPrincipals"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = each.value
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.roles

  name                 = "${local.name_prefix}-${each.key}"
  path                 = var.iam_path
  description          = "tablelog ${each.key} for ${local.tablelog_root}"
  assume_role_policy   = data.aws_iam_policy_document.assume[each.key].json
  max_session_duration = var.role_max_session_duration

  tags = local.common_tags

  lifecycle {
    precondition {
      condition     = length(each.value) > 0
      error_message = "create_roles is true but role_trusted_principal_arns.${each.key} is empty: give at least one principal allowed to assume the ${each.key} role."
    }
  }
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = local.roles

  role       = aws_iam_role.this[each.key].name
  policy_arn = aws_iam_policy.this[each.key].arn
}
