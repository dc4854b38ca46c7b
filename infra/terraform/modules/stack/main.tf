# One Tiketi environment: every module wired together under the name prefix tiketi-<env>-
# (TIKETI_AWS_NAME_PREFIX of k8s/overlays/<env>). envs/<env> only chooses sizes.

locals {
  name = "tiketi-${var.environment}-"
  tags = { environment = var.environment }
}

module "platform" {
  source       = "../platform"
  name         = local.name
  alarm_emails = var.alarm_emails
  tags         = local.tags
}

module "network" {
  source             = "../network"
  name               = local.name
  cidr               = var.vpc_cidr
  az_count           = var.az_count
  single_nat_gateway = var.single_nat_gateway
  tags               = local.tags
}

module "messaging" {
  source            = "../messaging"
  name              = local.name
  alarm_topic_arn   = module.platform.alarm_topic_arn
  access_log_bucket = module.edge.log_bucket
  tags              = local.tags
}

module "eks" {
  source              = "../eks"
  name                = local.name
  kubernetes_version  = var.kubernetes_version
  azs                 = module.network.azs
  private_subnet_ids  = module.network.private_subnet_ids
  public_access_cidrs = var.eks_public_access_cidrs
  admin_role_arns     = var.eks_admin_role_arns
  node_groups         = var.node_groups
  queue_arns          = module.messaging.queue_arns
  dead_letter_arns    = module.messaging.dead_letter_arns
  topic_arn           = module.messaging.topic_arn
  inbox_table_arn     = module.messaging.inbox_table_arn
  reports_bucket_arn  = module.messaging.reports_bucket_arn
  messaging_key_arn   = module.messaging.key_arn
  secrets_key_arn     = module.platform.secrets_key_arn
  target_group_arn    = module.edge.target_group_arn
  loki_bucket_arn     = module.observability.loki_bucket_arn
  loki_key_arn        = module.observability.loki_key_arn
  # Exactly the secrets the ExternalSecrets of argocd/platform/ reference in this environment.
  external_secret_arns = concat(values(module.platform.platform_secret_arns), module.observability.jaeger_opensearch_secret_arns)
  tags                 = local.tags
}

module "data" {
  source                          = "../data"
  name                            = local.name
  vpc_id                          = module.network.vpc_id
  database_subnet_ids             = module.network.database_subnet_ids
  client_security_group_ids       = { eks = module.eks.cluster_security_group_id, lambdas = module.lambdas.security_group_id }
  redis_client_security_group_ids = { eks = module.eks.cluster_security_group_id }
  secrets_key_arn                 = module.platform.secrets_key_arn
  alarm_topic_arn                 = module.platform.alarm_topic_arn
  postgres_instance_class         = var.postgres_instance_class
  postgres_storage_gib            = var.postgres_storage_gib
  backup_retention_days           = var.backup_retention_days
  redis_node_type                 = var.redis_node_type
  redis_cluster_mode              = var.redis_cluster_mode
  redis_replicas_per_shard        = var.redis_replicas_per_shard
  tags                            = local.tags
}

module "lambdas" {
  source                       = "../lambdas"
  name                         = local.name
  payment_webhook_zip          = var.payment_webhook_zip
  stats_report_zip             = var.stats_report_zip
  architecture                 = var.lambda_architecture
  stats_report_database_url    = var.stats_report_database_url
  webhook_reserved_concurrency = var.webhook_reserved_concurrency
  vpc_id                       = module.network.vpc_id
  vpc_cidr                     = module.network.cidr
  private_subnet_ids           = module.network.private_subnet_ids
  queue_arns                   = module.messaging.queue_arns
  inbox_table_arn              = module.messaging.inbox_table_arn
  reports_bucket_arn           = module.messaging.reports_bucket_arn
  messaging_key_arn            = module.messaging.key_arn
  secrets_key_arn              = module.platform.secrets_key_arn
  alarm_topic_arn              = module.platform.alarm_topic_arn
  tags                         = local.tags
}

module "edge" {
  source                    = "../edge"
  name                      = local.name
  vpc_id                    = module.network.vpc_id
  public_subnet_ids         = module.network.public_subnet_ids
  cluster_security_group_id = module.eks.cluster_security_group_id
  certificate_arn           = var.certificate_arn
  tags                      = local.tags
}

module "observability" {
  source                    = "../observability"
  name                      = local.name
  vpc_id                    = module.network.vpc_id
  database_subnet_ids       = module.network.database_subnet_ids
  cluster_security_group_id = module.eks.cluster_security_group_id
  access_log_bucket         = module.edge.log_bucket
  secrets_key_arn           = module.platform.secrets_key_arn
  jaeger_opensearch         = var.jaeger_opensearch
  opensearch_instance_type  = var.opensearch_instance_type
  opensearch_volume_gib     = var.opensearch_volume_gib
  tags                      = local.tags
}
