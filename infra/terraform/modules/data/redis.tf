# ElastiCache (Redis OSS 7) replication group: Multi-AZ, automatic failover (~tens of seconds to
# promote a replica), encrypted at rest (KMS) and in transit (TLS required), AUTH token kept in
# Secrets Manager, daily snapshots.
#
# Cluster mode is a variable. The binary's Redis client (redis-rs ConnectionManager, without the
# "cluster-async" feature) speaks to one primary and does not follow MOVED redirections, and its
# multi-key Lua scripts (waiting room, seat maps) use keys without a shared hash tag, so they
# would fail with CROSSSLOT across shards. Both environments therefore run cluster mode disabled:
# one shard (all writes on one primary, measured ~90k ops/s on two shared cores, far below a
# cache.r7g node) with replicas in the other zones, reached through the primary endpoint that
# follows a failover. Enabling cluster mode needs the cluster client and hash-tagged keys first
# ("compatible" mode lets both kinds of client connect during that move).

resource "aws_elasticache_subnet_group" "this" {
  name       = "${var.name}redis"
  subnet_ids = var.database_subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "redis" {
  name        = "${var.name}redis"
  description = "Redis from the EKS nodes"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  for_each                     = var.redis_client_security_group_ids
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis (TLS) from a client security group"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

# The AUTH token: drawn by Secrets Manager (GetRandomPassword) when the group is created, kept in
# a secret for the platform to build TIKETI_REDIS_URL from. The data source draws a new value on
# every plan; the group and the secret ignore it after creation, so the token is stable until it
# is rotated on purpose (auth_token_update_strategy ROTATE, then SET). It is also in the
# (encrypted, access-restricted) Terraform state: ElastiCache takes it only as a plain argument.
data "aws_secretsmanager_random_password" "redis_auth" {
  password_length     = 64
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "redis_auth" {
  name        = "${var.name}redis-auth-token"
  description = "AUTH token of ${var.name}redis"
  kms_key_id  = var.secrets_key_arn
  tags        = var.tags
}

resource "aws_secretsmanager_secret_version" "redis_auth" {
  secret_id = aws_secretsmanager_secret.redis_auth.id
  secret_string = jsonencode({
    auth_token = data.aws_secretsmanager_random_password.redis_auth.random_password
    host       = var.redis_cluster_mode ? aws_elasticache_replication_group.redis.configuration_endpoint_address : aws_elasticache_replication_group.redis.primary_endpoint_address
    port       = 6379
    tls        = true
  })
  lifecycle {
    ignore_changes = [secret_string]
  }
}

resource "aws_cloudwatch_log_group" "redis_slow" {
  name              = "/aws/elasticache/${var.name}redis/slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.key.arn
  tags              = var.tags
}

resource "aws_elasticache_replication_group" "redis" {
  replication_group_id = "${var.name}redis"
  description          = "Tiketi waiting rooms, seat maps, sessions"
  engine               = "redis"
  engine_version       = "7.1"
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = var.redis_cluster_mode ? "default.redis7.cluster.on" : "default.redis7"

  cluster_mode            = var.redis_cluster_mode ? "enabled" : "disabled"
  num_node_groups         = var.redis_cluster_mode ? var.redis_shards : null
  replicas_per_node_group = var.redis_cluster_mode ? var.redis_replicas_per_shard : null
  num_cache_clusters      = var.redis_cluster_mode ? null : 1 + var.redis_replicas_per_shard

  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = module.key.arn
  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = data.aws_secretsmanager_random_password.redis_auth.random_password
  auth_token_update_strategy = "ROTATE"

  snapshot_retention_limit   = var.redis_snapshot_retention_days
  snapshot_window            = "16:00-17:00"
  maintenance_window         = "sun:19:00-sun:20:00"
  auto_minor_version_upgrade = true
  apply_immediately          = false

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.redis_slow.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  tags = var.tags

  lifecycle {
    ignore_changes = [auth_token]
  }
}
