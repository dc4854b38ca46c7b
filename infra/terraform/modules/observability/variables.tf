variable "name" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "database_subnet_ids" {
  description = "One per zone (three): the OpenSearch domain's nodes."
  type        = list(string)
}

variable "cluster_security_group_id" {
  description = "The EKS nodes' and pods' security group: Jaeger reaches the domain from it."
  type        = string
}

variable "access_log_bucket" {
  description = "Where the Loki bucket's S3 server access logs go (the edge log bucket)."
  type        = string
}

variable "secrets_key_arn" {
  description = "The Secrets Manager key of the environment (External Secrets decrypts with it)."
  type        = string
}

variable "loki_retention_days" {
  description = "limits_config.retention_period of argocd/platform/values/loki.yaml, in days."
  type        = number
  default     = 31
}

variable "jaeger_opensearch" {
  description = "Create the OpenSearch domain for Jaeger (staging, prod); dev keeps traces in memory."
  type        = bool
  default     = true
}

variable "opensearch_instance_type" {
  type    = string
  default = "r7g.large.search"
}

variable "opensearch_master_instance_type" {
  type    = string
  default = "m7g.large.search"
}

variable "opensearch_volume_gib" {
  description = "gp3 per data node."
  type        = number
  default     = 100
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "tags" {
  type    = map(string)
  default = {}
}
