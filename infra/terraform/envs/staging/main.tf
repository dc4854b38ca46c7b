# Staging: the shape of prod (three zones, Multi-AZ PostgreSQL, Redis with a replica, the same
# modules and checks) at a fraction of the price: one NAT gateway, smaller instances, one node
# group, shorter backups.

module "tiketi" {
  source = "../../modules/stack"

  environment = "staging"
  vpc_cidr    = "10.20.0.0/16"
  az_count    = 3
  # One NAT gateway: a zone outage in staging may cut egress; ~2 x the NAT hourly price saved.
  single_nat_gateway = true

  eks_public_access_cidrs = var.eks_public_access_cidrs
  eks_admin_role_arns     = var.eks_admin_role_arns
  node_groups = {
    # Per zone: staging runs two pods per role (k8s/overlays/staging).
    apps = { instance_types = ["m7i.large"], min_size = 1, max_size = 3 }
  }

  postgres_instance_class  = "db.m7g.large"
  postgres_storage_gib     = 50
  backup_retention_days    = 7
  redis_node_type          = "cache.m7g.large"
  redis_replicas_per_shard = 1

  certificate_arn              = var.certificate_arn
  payment_webhook_zip          = "${var.lambda_zip_dir}/tiketi-payment-webhook.zip"
  stats_report_zip             = "${var.lambda_zip_dir}/tiketi-stats-report.zip"
  lambda_architecture          = "arm64"
  stats_report_database_url    = var.stats_report_database_url
  webhook_reserved_concurrency = 10
  alarm_emails                 = var.alarm_emails
}
