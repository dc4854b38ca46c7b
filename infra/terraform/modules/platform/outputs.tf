output "alarm_topic_arn" {
  value = aws_sns_topic.alarms.arn
}

output "secrets_key_arn" {
  value = module.secrets_key.arn
}

output "secret_arns" {
  value = { for k, s in aws_secretsmanager_secret.tiketi : k => s.arn }
}

output "platform_secret_arns" {
  description = "The secrets External Secrets reads (connections, alertmanager-receivers)."
  value       = { for k, s in aws_secretsmanager_secret.platform : k => s.arn }
}

output "ecr_repository_url" {
  value = aws_ecr_repository.tiketi.repository_url
}
