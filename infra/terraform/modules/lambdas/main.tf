# The two functions of functions/: payment-webhook (Toss -> DynamoDB inbox -> SQS, behind a
# function URL) and stats-report (reports queue, daily schedule -> S3). Both are Rust binaries
# named bootstrap on the provided.al2023 runtime, from the zips `./dev package` writes
# (cargo lambda build --release --output-format zip; TIKETI_LAMBDA_ARCH=arm64 for Graviton,
# which var.architecture must match).

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  region     = data.aws_region.current.name
  secret_arn = "arn:aws:secretsmanager:${local.region}:${data.aws_caller_identity.current.account_id}:secret:${var.name}"
  functions = {
    payment-webhook = {
      zip = var.payment_webhook_zip
      # A delivery is one inbox write and one enqueue (tens of ms); Toss waits ~10 s.
      timeout = 10
      memory  = 256
      # ~1,000 deliveries/s at the 500 payments/s peak x ~50 ms is ~50 in flight; twice that,
      # and a flood of forged calls cannot take the account's whole concurrency.
      concurrency = var.webhook_reserved_concurrency
      env = {
        TIKETI_AWS_NAME_PREFIX = var.name
        TIKETI_LOG             = "info"
      }
    }
    stats-report = {
      zip = var.stats_report_zip
      # The reports queue's visibility timeout is 900 s: a report may take all of it.
      timeout = 900
      memory  = 1024
      # Two queue consumers (the event source's minimum) + the daily run; each holds two
      # database connections.
      concurrency = 3
      env = {
        TIKETI_AWS_NAME_PREFIX = var.name
        TIKETI_LOG             = "info"
        TIKETI_SECRETS         = "aws"
        TIKETI_TOSS_API_URL    = "https://api.tosspayments.com/"
        TIKETI_DATABASE_URL    = var.stats_report_database_url
      }
    }
  }
}

module "key" {
  source       = "../kms-key"
  name         = "${var.name}lambdas"
  description  = "Environment variables and logs of ${var.name} functions"
  logs_service = true
  tags         = var.tags
}

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.functions
  name              = "/aws/lambda/${var.name}${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.key.arn
  tags              = var.tags
}

# Failed asynchronous invocations (the daily schedule, manual replays) land here.
resource "aws_sqs_queue" "failures" {
  name                      = "${var.name}lambda-failures"
  kms_master_key_id         = var.messaging_key_arn
  message_retention_seconds = 1209600
  tags                      = var.tags
}

resource "aws_security_group" "function" {
  name        = "${var.name}lambdas"
  description = "Tiketi functions: outbound only"
  vpc_id      = var.vpc_id
  egress {
    description = "HTTPS: AWS endpoints, Toss"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    description = "PostgreSQL inside the VPC"
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
  tags = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = local.functions
  name               = "${var.name}fn-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "vpc" {
  for_each   = local.functions
  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_iam_role_policy_attachment" "xray" {
  for_each   = local.functions
  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

data "aws_iam_policy_document" "function" {
  for_each = local.functions

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }
  statement {
    sid       = "Failures"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failures.arn]
  }
  statement {
    sid       = "MessagingKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.messaging_key_arn]
  }

  dynamic "statement" {
    for_each = each.key == "payment-webhook" ? [1] : []
    content {
      sid       = "Inbox"
      actions   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]
      resources = [var.inbox_table_arn]
    }
  }
  dynamic "statement" {
    for_each = each.key == "payment-webhook" ? [1] : []
    content {
      sid       = "Enqueue"
      actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
      resources = [var.queue_arns["payment-webhooks"]]
    }
  }

  dynamic "statement" {
    for_each = each.key == "stats-report" ? [1] : []
    content {
      sid       = "ReportRequests"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
      resources = [var.queue_arns["reports"]]
    }
  }
  dynamic "statement" {
    for_each = each.key == "stats-report" ? [1] : []
    content {
      sid       = "WriteReports"
      actions   = ["s3:PutObject"]
      resources = ["${var.reports_bucket_arn}/*"]
    }
  }
  dynamic "statement" {
    for_each = each.key == "stats-report" ? [1] : []
    content {
      sid       = "TossSecretKey"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = ["${local.secret_arn}toss-secret-key-??????"]
    }
  }
  dynamic "statement" {
    for_each = each.key == "stats-report" ? [1] : []
    content {
      sid       = "SecretsKey"
      actions   = ["kms:Decrypt"]
      resources = [var.secrets_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }
  statement {
    sid       = "EnvironmentKey"
    actions   = ["kms:Decrypt"]
    resources = [module.key.arn]
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "tiketi-${each.key}"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function[each.key].json
}

resource "aws_lambda_function" "this" {
  for_each         = local.functions
  function_name    = "${var.name}${each.key}"
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  architectures    = [var.architecture]
  handler          = "bootstrap"
  filename         = each.value.zip
  source_code_hash = filebase64sha256(each.value.zip)
  timeout          = each.value.timeout
  memory_size      = each.value.memory
  kms_key_arn      = module.key.arn

  reserved_concurrent_executions = each.value.concurrency

  environment {
    variables = each.value.env
  }

  vpc_config {
    subnet_ids         = var.private_subnet_ids
    security_group_ids = [aws_security_group.function.id]
  }

  tracing_config {
    mode = "Active"
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.failures.arn
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.function, aws_iam_role_policy_attachment.vpc]
}

resource "aws_lambda_function_event_invoke_config" "this" {
  for_each                     = local.functions
  function_name                = aws_lambda_function.this[each.key].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600
  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures.arn
    }
  }
}

# --- payment-webhook: the URL registered with Toss ----------------------------------------------
#
# Authorization NONE: Toss sends plain HTTPS POSTs and cannot sign AWS requests. What protects
# the flow is in the code: the receiver only stores the raw delivery (at most 256 KiB) and queues
# it; the worker trusts nothing in it. PAYMENT_STATUS_CHANGED is unsigned, so the worker re-fetches
# the payment from Toss with the secret key and applies only that answer; DEPOSIT_CALLBACK's
# `secret` must equal the one on the payment. A forged delivery costs an inbox row and a Toss
# lookup, bounded by the reserved concurrency above.

resource "aws_lambda_function_url" "webhook" {
  #checkov:skip=CKV_AWS_258:Toss calls it and cannot sign AWS requests; see above
  function_name      = aws_lambda_function.this["payment-webhook"].function_name
  authorization_type = "NONE"
  invoke_mode        = "BUFFERED"
}

resource "aws_lambda_permission" "webhook_url" {
  #checkov:skip=CKV_AWS_301:the public webhook URL Toss calls; see above
  statement_id           = "TossCallsTheFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this["payment-webhook"].function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

# --- stats-report: report requests and the daily settlement -------------------------------------

resource "aws_lambda_event_source_mapping" "reports" {
  event_source_arn        = var.queue_arns["reports"]
  function_name           = aws_lambda_function.this["stats-report"].arn
  batch_size              = 1
  function_response_types = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = 2
  }
}

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}daily-settlement-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.this["stats-report"].arn]
  }
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failures.arn]
  }
  statement {
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.messaging_key_arn, module.key.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "invoke-stats-report"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

# 00:30 Korean time: the previous Korean day's settlement (main.rs answers {"source": "aws.events"}).
resource "aws_scheduler_schedule" "daily_settlement" {
  name                         = "${var.name}daily-settlement"
  schedule_expression          = "cron(30 0 * * ? *)"
  schedule_expression_timezone = "Asia/Seoul"
  kms_key_arn                  = module.key.arn
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = aws_lambda_function.this["stats-report"].arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ source = "aws.events", "detail-type" = "Scheduled Event", detail = {} })
    retry_policy {
      maximum_retry_attempts       = 3
      maximum_event_age_in_seconds = 3600
    }
    dead_letter_config {
      arn = aws_sqs_queue.failures.arn
    }
  }
}

# --- Alarms -------------------------------------------------------------------------------------

locals {
  function_alarms = merge([
    for fn, _ in local.functions : {
      "${fn}-errors"    = { fn = fn, metric = "Errors", what = "${fn} invocations failed" }
      "${fn}-throttles" = { fn = fn, metric = "Throttles", what = "${fn} hit its reserved concurrency" }
    }
  ]...)
}

resource "aws_cloudwatch_metric_alarm" "function" {
  for_each            = local.function_alarms
  alarm_name          = "${var.name}${each.key}"
  alarm_description   = each.value.what
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  statistic           = "Sum"
  dimensions          = { FunctionName = aws_lambda_function.this[each.value.fn].function_name }
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "failures" {
  alarm_name          = "${aws_sqs_queue.failures.name}-not-empty"
  alarm_description   = "An asynchronous function invocation failed for good"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  statistic           = "Maximum"
  dimensions          = { QueueName = aws_sqs_queue.failures.name }
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}
