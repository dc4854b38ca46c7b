# What shared/src/aws.rs names under TIKETI_AWS_NAME_PREFIX: the topic <prefix>domain-events, the
# queues <prefix><suffix> each with <prefix><suffix>-dlq, the table <prefix>webhook-inbox and the
# bucket <prefix>reports. Same shape as `tiketi aws bootstrap` creates against the emulator, plus
# what only AWS has: KMS encryption, point-in-time recovery, lifecycle rules, alarms.

data "aws_caller_identity" "current" {}

locals {
  # Suffix => visibility timeout (s): longer than a message's handling (Queue::visibility_timeout);
  # a report may take the function's whole 15 minutes.
  queues = {
    "worker-events"    = { visibility = 30, domain_events = true }
    "stats-events"     = { visibility = 30, domain_events = true }
    "payment-webhooks" = { visibility = 30, domain_events = false }
    "hold-expiry"      = { visibility = 30, domain_events = false }
    "reports"          = { visibility = 900, domain_events = false }
  }
  # Queue::MAX_RECEIVES.
  max_receives = 5
}

module "key" {
  source      = "../kms-key"
  name        = "${var.name}messaging"
  description = "Topic, queues, webhook inbox and reports bucket of ${var.name}"
  # SNS encrypts for the topic and delivers into the encrypted queues.
  service_principals = ["sns.amazonaws.com"]
  tags               = var.tags
}

resource "aws_sns_topic" "domain_events" {
  name              = "${var.name}domain-events"
  kms_master_key_id = module.key.arn
  tags              = var.tags
}

resource "aws_sqs_queue" "dead_letters" {
  for_each                  = local.queues
  name                      = "${var.name}${each.key}-dlq"
  kms_master_key_id         = module.key.arn
  message_retention_seconds = 1209600 # 14 days, the maximum: time to look and redrive
  tags                      = var.tags
}

resource "aws_sqs_queue" "this" {
  for_each                          = local.queues
  name                              = "${var.name}${each.key}"
  visibility_timeout_seconds        = each.value.visibility
  message_retention_seconds         = 345600 # 4 days
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = module.key.arn
  kms_data_key_reuse_period_seconds = 300
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letters[each.key].arn
    maxReceiveCount     = local.max_receives
  })
  tags = var.tags
}

# Each dead-letter queue takes only its own queue's messages.
resource "aws_sqs_queue_redrive_allow_policy" "dead_letters" {
  for_each  = local.queues
  queue_url = aws_sqs_queue.dead_letters[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this[each.key].arn]
  })
}

data "aws_iam_policy_document" "from_topic" {
  for_each = { for k, v in local.queues : k => v if v.domain_events }
  statement {
    sid       = "TopicDelivers"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this[each.key].arn]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.domain_events.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "from_topic" {
  for_each  = data.aws_iam_policy_document.from_topic
  queue_url = aws_sqs_queue.this[each.key].id
  policy    = each.value.json
}

# Raw delivery: the consumers read the published JSON itself, not SNS's envelope.
resource "aws_sns_topic_subscription" "queues" {
  for_each             = data.aws_iam_policy_document.from_topic
  topic_arn            = aws_sns_topic.domain_events.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.this[each.key].arn
  raw_message_delivery = true
}

# --- Webhook inbox ------------------------------------------------------------------------------

resource "aws_dynamodb_table" "webhook_inbox" {
  name                        = "${var.name}webhook-inbox"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = true

  attribute {
    name = "id"
    type = "S"
  }

  # Deliveries are kept 30 days (functions/payment-webhook/src/aws.rs, KEEP_DAYS): expires_at is
  # a Unix time in seconds.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.key.arn
  }

  tags = var.tags
}
