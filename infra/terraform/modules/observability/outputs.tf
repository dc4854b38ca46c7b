output "loki_bucket" {
  description = "loki.storage.bucketNames of argocd/platform/values/<env>/loki.yaml."
  value       = aws_s3_bucket.loki.bucket
}

output "loki_bucket_arn" {
  value = aws_s3_bucket.loki.arn
}

output "loki_key_arn" {
  value = module.loki_key.arn
}

output "jaeger_opensearch_endpoint" {
  value = [for d in aws_opensearch_domain.jaeger : d.endpoint]
}

output "jaeger_opensearch_secret_arns" {
  description = "The secret External Secrets reads for Jaeger (none in dev)."
  value       = [for s in aws_secretsmanager_secret.jaeger_opensearch : s.arn]
}
