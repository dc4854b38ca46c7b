output "webhook_url" {
  description = "The URL to register in Toss's merchant console (path /webhooks/toss appended)."
  value       = aws_lambda_function_url.webhook.function_url
}

output "security_group_id" {
  value = aws_security_group.function.id
}
