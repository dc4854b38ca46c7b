# Loki's object store (argocd/platform/values/loki.yaml: one bucket for chunks, the index, rules
# and the compactor's delete requests; release loki in monitoring, reached through IRSA).
#
# Retention belongs to Loki: its compactor deletes chunks and index older than retention_period
# (744 h = 31 days). The lifecycle rule is only the backstop for what the compactor misses, on the
# chunks' prefix (fake/: the single tenant of auth_enabled: false) one day after that, so the two
# never race; the ruler's rules elsewhere in the bucket are never expired.
#
# Versioned, with noncurrent versions gone after 7 days: a chunk is written once and deleted once
# by the compactor, so versioning costs a week of deleted chunks, and buys a week in which a wrong
# compactor setting or a mistaken delete can be undone.

module "loki_key" {
  source      = "../kms-key"
  name        = "${var.name}loki"
  description = "Loki's log chunks of ${var.name}"
  tags        = var.tags
}

resource "aws_s3_bucket" "loki" {
  bucket = "${var.name}loki"
  tags   = var.tags
}

resource "aws_s3_bucket_ownership_controls" "loki" {
  bucket = aws_s3_bucket.loki.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "loki" {
  bucket                  = aws_s3_bucket.loki.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "loki" {
  bucket = aws_s3_bucket.loki.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = module.loki_key.arn
    }
    # One data key per bucket rather than per object: Loki writes many small objects.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "loki" {
  bucket = aws_s3_bucket.loki.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "loki" {
  bucket = aws_s3_bucket.loki.id

  rule {
    id     = "chunks-after-retention"
    status = "Enabled"
    filter {
      prefix = "fake/"
    }
    expiration {
      days = var.loki_retention_days + 1
    }
  }

  rule {
    id     = "deleted-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.loki]
}

data "aws_iam_policy_document" "loki_bucket" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.loki.arn, "${aws_s3_bucket.loki.arn}/*"]
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

resource "aws_s3_bucket_policy" "loki" {
  bucket     = aws_s3_bucket.loki.id
  policy     = data.aws_iam_policy_document.loki_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.loki]
}

resource "aws_s3_bucket_logging" "loki" {
  bucket        = aws_s3_bucket.loki.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${aws_s3_bucket.loki.id}/"
}

resource "aws_s3_bucket_notification" "loki" {
  bucket      = aws_s3_bucket.loki.id
  eventbridge = true
}
