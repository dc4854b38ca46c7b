variable "environment" {
  description = "dev, staging or prod: names become tiketi-<environment>-*."
  type        = string
  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "One of the k8s overlays: dev, staging, prod."
  }
}

variable "vpc_cidr" {
  type = string
}

variable "az_count" {
  type    = number
  default = 3
}

variable "single_nat_gateway" {
  type = bool
}

variable "kubernetes_version" {
  type    = string
  default = "1.32"
}

variable "eks_public_access_cidrs" {
  type = list(string)
}

variable "eks_admin_role_arns" {
  type = list(string)
}

variable "node_groups" {
  type = map(object({
    instance_types = list(string)
    capacity_type  = optional(string, "ON_DEMAND")
    ami_type       = optional(string, "AL2023_x86_64_STANDARD")
    min_size       = number
    max_size       = number
    labels         = optional(map(string), {})
  }))
}

variable "postgres_instance_class" {
  type = string
}

variable "postgres_storage_gib" {
  type = number
}

variable "backup_retention_days" {
  type = number
}

variable "redis_node_type" {
  type = string
}

variable "redis_cluster_mode" {
  type    = bool
  default = false
}

variable "redis_replicas_per_shard" {
  type = number
}

variable "certificate_arn" {
  type = string
}

variable "payment_webhook_zip" {
  type = string
}

variable "stats_report_zip" {
  type = string
}

variable "lambda_architecture" {
  type    = string
  default = "arm64"
}

variable "stats_report_database_url" {
  type      = string
  sensitive = true
}

variable "webhook_reserved_concurrency" {
  type = number
}

variable "alarm_emails" {
  type    = list(string)
  default = []
}

variable "jaeger_opensearch" {
  description = "An OpenSearch domain for Jaeger's traces (argocd/platform/values/<env>/jaeger.yaml); dev keeps them in memory."
  type        = bool
  default     = true
}

variable "opensearch_instance_type" {
  description = "Jaeger's OpenSearch data nodes (one per zone)."
  type        = string
  default     = "r7g.large.search"
}

variable "opensearch_volume_gib" {
  type    = number
  default = 100
}
