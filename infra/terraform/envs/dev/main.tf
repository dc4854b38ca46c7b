# Dev: the cluster the Argo CD charts and k8s/overlays/dev meet first (one pod per role). The same
# modules as staging and prod, so a chart bump, an IRSA role or the ALB in front of the gateway is
# tried on the same AWS shape; smaller and cheaper: one NAT gateway, one small node group, the
# smallest Multi-AZ database and Redis, 7-day backups, and no OpenSearch (Jaeger keeps dev's traces
# in memory, argocd/platform/values/dev/jaeger.yaml).

module "tiketi" {
  source = "../../modules/stack"

  environment        = "dev"
  vpc_cidr           = "10.30.0.0/16"
  az_count           = 3
  single_nat_gateway = true

  eks_public_access_cidrs = var.eks_public_access_cidrs
  eks_admin_role_arns     = var.eks_admin_role_arns
  node_groups = {
    # Per zone: one pod per role (k8s/overlays/dev) plus the add-ons.
    apps = { instance_types = ["m7i.large"], min_size = 1, max_size = 2 }
  }

  postgres_instance_class  = "db.m7g.large"
  postgres_storage_gib     = 20
  backup_retention_days    = 7
  redis_node_type          = "cache.m7g.large"
  redis_replicas_per_shard = 1
  jaeger_opensearch        = false

  certificate_arn              = var.certificate_arn
  payment_webhook_zip          = "${var.lambda_zip_dir}/tiketi-payment-webhook.zip"
  stats_report_zip             = "${var.lambda_zip_dir}/tiketi-stats-report.zip"
  lambda_architecture          = "arm64"
  stats_report_database_url    = var.stats_report_database_url
  webhook_reserved_concurrency = 5
  alarm_emails                 = var.alarm_emails
}
