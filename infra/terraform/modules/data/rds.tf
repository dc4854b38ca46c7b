# PostgreSQL 15, Multi-AZ DB instance: a synchronous standby in another zone; a failover (zone
# loss, instance failure, patching) moves the endpoint's DNS name to it in ~60-120 s, losing no
# committed transaction. Backups with point-in-time restore (transaction logs shipped to S3
# every 5 min), encrypted with this module's key, IAM authentication on, the master password
# generated and rotated by RDS in Secrets Manager (never in Terraform state).

module "key" {
  source       = "../kms-key"
  name         = "${var.name}data"
  description  = "RDS and ElastiCache of ${var.name}"
  logs_service = true
  tags         = var.tags
}

resource "aws_db_subnet_group" "this" {
  name       = "${var.name}postgres"
  subnet_ids = var.database_subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "postgres" {
  name        = "${var.name}postgres"
  description = "PostgreSQL from the EKS nodes and the report Lambda"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "postgres" {
  for_each                     = var.client_security_group_ids
  security_group_id            = aws_security_group.postgres.id
  description                  = "PostgreSQL from a client security group"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_db_parameter_group" "postgres" {
  name_prefix = "${var.name}postgres15-"
  family      = "postgres15"
  description = "Tiketi PostgreSQL 15"

  # A commit returns once its WAL is flushed; with Multi-AZ the flush is mirrored to the standby
  # synchronously, so a committed hold or payment survives a failover (RPO 0 for commits).
  parameter {
    name  = "synchronous_commit"
    value = "on"
  }
  # Log statements slower than 250 ms: holds take ~0.1 s at p99 (docs/benchmarks.md), so these
  # are the outliers worth reading.
  parameter {
    name  = "log_min_duration_statement"
    value = "250"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_connections"
    value = "1"
  }
  parameter {
    name  = "log_disconnections"
    value = "1"
  }
  # A session idle in a transaction holds row locks (seat holds): end it after a minute.
  parameter {
    name  = "idle_in_transaction_session_timeout"
    value = "60000"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${var.name}rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "postgres" {
  identifier     = "${var.name}postgres"
  engine         = "postgres"
  engine_version = var.postgres_version
  instance_class = var.postgres_instance_class

  allocated_storage     = var.postgres_storage_gib
  max_allocated_storage = var.postgres_max_storage_gib
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = module.key.arn

  db_name                       = "tiketi"
  username                      = "tiketi"
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.secrets_key_arn

  multi_az               = true
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.postgres.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.postgres.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  iam_database_authentication_enabled = true

  backup_retention_period   = var.backup_retention_days
  backup_window             = "17:00-18:00" # 02:00-03:00 KST, after the evening sales
  maintenance_window        = "sun:18:00-sun:19:00"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}postgres-final"

  auto_minor_version_upgrade      = true
  performance_insights_enabled    = true
  performance_insights_kms_key_id = module.key.arn
  monitoring_interval             = 15
  monitoring_role_arn             = aws_iam_role.monitoring.arn
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]

  tags = var.tags
}

# RDS's own failover/failure/maintenance events to the alarm topic: a Multi-AZ failover is
# announced here (the standby publishes no lag metric to alarm on).
resource "aws_db_event_subscription" "postgres" {
  name             = "${var.name}postgres"
  sns_topic        = var.alarm_topic_arn
  source_type      = "db-instance"
  source_ids       = [aws_db_instance.postgres.identifier]
  event_categories = ["availability", "failover", "failure", "low storage", "maintenance", "recovery"]
  tags             = var.tags
}
