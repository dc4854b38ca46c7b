# Prod: three zones, a NAT gateway per zone, node groups sized from docs/operations.md "Sizing"
# (the floors request ~14 cores across the roles, plus sidecars), PostgreSQL and Redis on memory-
# optimised Graviton instances.

module "tiketi" {
  source = "../../modules/stack"

  environment = "prod"
  vpc_cidr    = "10.10.0.0/16"
  az_count    = 3
  # Each zone egresses through its own NAT gateway: a zone outage leaves the others' egress.
  single_nat_gateway = false

  eks_public_access_cidrs = var.eks_public_access_cidrs
  eks_admin_role_arns     = var.eks_admin_role_arns
  node_groups = {
    # Per zone. Add-ons (istiod, KEDA, cluster autoscaler, load balancer controller, cert-manager)
    # apart from the roles, so a sale's scale-up never starves them.
    system = { instance_types = ["m7i.large"], min_size = 1, max_size = 2, labels = { "tiketi.io/pool" = "system" } }
    # 8 vCPU nodes, two per zone: the floors (~14 cores of requests + ~2 of sidecars) still fit
    # on the 32 vCPU left when a zone is lost; the autoscaler adds nodes as KEDA adds pods.
    apps = { instance_types = ["c7i.2xlarge"], min_size = 2, max_size = 12, labels = { "tiketi.io/pool" = "apps" } }
  }

  # Prod pods may open 420+ connections (21 pods x TIKETI_DATABASE_MAX_CONNECTIONS 20, more when
  # scaled): 64 GiB gives max_connections ~5,000 by RDS's default formula.
  postgres_instance_class  = "db.r7g.2xlarge"
  postgres_storage_gib     = 200
  backup_retention_days    = 35
  redis_node_type          = "cache.r7g.xlarge"
  redis_replicas_per_shard = 2

  certificate_arn              = var.certificate_arn
  payment_webhook_zip          = "${var.lambda_zip_dir}/tiketi-payment-webhook.zip"
  stats_report_zip             = "${var.lambda_zip_dir}/tiketi-stats-report.zip"
  lambda_architecture          = "arm64"
  stats_report_database_url    = var.stats_report_database_url
  webhook_reserved_concurrency = 100
  alarm_emails                 = var.alarm_emails
}
