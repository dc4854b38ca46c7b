output "name_prefix" {
  description = "TIKETI_AWS_NAME_PREFIX for k8s/overlays/<env>."
  value       = local.name
}

output "irsa_role_arns" {
  description = "The eks.amazonaws.com/role-arn of each ServiceAccount (namespace/name)."
  value       = module.eks.workload_role_arns
}

output "queue_urls" {
  description = "For the KEDA triggers' queueURL in k8s/base/autoscaling/overlays/<env>."
  value       = module.messaging.queue_urls
}

output "cluster_name" {
  value = module.eks.cluster_name
}

output "alb_dns_name" {
  value = module.edge.alb_dns_name
}

output "gateway_target_group_arn" {
  value = module.edge.target_group_arn
}

output "webhook_url" {
  value = module.lambdas.webhook_url
}

output "postgres_endpoint" {
  value = module.data.postgres_endpoint
}

output "postgres_master_secret_arn" {
  value = module.data.postgres_master_secret_arn
}

output "redis_auth_secret_arn" {
  value = module.data.redis_auth_secret_arn
}

output "ecr_repository_url" {
  value = module.platform.ecr_repository_url
}

output "loki_bucket" {
  description = "loki.storage.bucketNames of argocd/platform/values/<env>/loki.yaml."
  value       = module.observability.loki_bucket
}

output "jaeger_opensearch_endpoint" {
  description = "Jaeger's OpenSearch domain (empty in dev); its URL and user are in the secret jaeger-opensearch."
  value       = module.observability.jaeger_opensearch_endpoint
}

output "external_secrets_secret_names" {
  description = "The Secrets Manager secrets External Secrets may read; each ExternalSecret's remote key is one of them."
  value       = concat([for k in keys(module.platform.platform_secret_arns) : "${local.name}${k}"], var.jaeger_opensearch ? ["${local.name}jaeger-opensearch"] : [])
}
