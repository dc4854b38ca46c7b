output "postgres_endpoint" {
  value = aws_db_instance.postgres.endpoint
}

output "postgres_identifier" {
  value = aws_db_instance.postgres.identifier
}

output "postgres_master_secret_arn" {
  description = "The RDS-managed master credentials (rotated by RDS)."
  value       = aws_db_instance.postgres.master_user_secret[0].secret_arn
}

output "postgres_security_group_id" {
  value = aws_security_group.postgres.id
}

output "redis_replication_group_id" {
  value = aws_elasticache_replication_group.redis.id
}

output "redis_member_clusters" {
  value = aws_elasticache_replication_group.redis.member_clusters
}

output "redis_auth_secret_arn" {
  value = aws_secretsmanager_secret.redis_auth.arn
}
