# A message in a dead-letter queue is a failure nobody retries any more: alarm on the first.
resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each            = aws_sqs_queue.dead_letters
  alarm_name          = "${each.value.name}-not-empty"
  alarm_description   = "Messages of ${var.name}${each.key} gave up after ${local.max_receives} receives"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  statistic           = "Maximum"
  dimensions          = { QueueName = each.value.name }
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}
