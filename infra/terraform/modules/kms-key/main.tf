# One customer-managed KMS key with rotation and a policy that names who may use it: the account
# (through IAM policies, so roles still need an explicit grant) and the AWS services that encrypt
# on the account's behalf (CloudWatch Logs, SNS delivering to encrypted SQS, ...).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
}

data "aws_iam_policy_document" "key" {
  # A key policy's Resource "*" is the key itself; kms:* for the account root is AWS's default
  # statement and delegates to IAM policies (which grant per key).
  #checkov:skip=CKV_AWS_109:key policy, Resource "*" is this key
  #checkov:skip=CKV_AWS_111:key policy, Resource "*" is this key
  #checkov:skip=CKV_AWS_356:key policy, Resource "*" is this key
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.account_arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.service_principals) > 0 ? [1] : []
    content {
      # What AWS documents for services writing into encrypted SNS topics and SQS queues: they
      # encrypt (GenerateDataKey) and read back (Decrypt); which topics and queues they may
      # write to is decided by those resources' own policies.
      sid       = "ServicesEncryptForTheAccount"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = var.service_principals
      }
    }
  }

  dynamic "statement" {
    for_each = var.logs_service ? [1] : []
    content {
      sid       = "CloudWatchLogsEncryptsLogGroups"
      actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
      }
      condition {
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:*"]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
