output "key_arn" {
  value = module.key.arn
}

output "topic_arn" {
  value = aws_sns_topic.domain_events.arn
}

output "queue_arns" {
  value = { for k, q in aws_sqs_queue.this : k => q.arn }
}

output "queue_urls" {
  value = { for k, q in aws_sqs_queue.this : k => q.id }
}

output "dead_letter_arns" {
  value = { for k, q in aws_sqs_queue.dead_letters : k => q.arn }
}

output "inbox_table_arn" {
  value = aws_dynamodb_table.webhook_inbox.arn
}

output "reports_bucket" {
  value = aws_s3_bucket.reports.id
}

output "reports_bucket_arn" {
  value = aws_s3_bucket.reports.arn
}
