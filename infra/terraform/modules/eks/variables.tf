variable "name" {
  description = "Name prefix, e.g. tiketi-prod-; IAM role names are <name><role>."
  type        = string
}

variable "kubernetes_version" {
  type    = string
  default = "1.32"
}

variable "azs" {
  type = list(string)
}

variable "private_subnet_ids" {
  description = "One per zone, in the order of azs."
  type        = list(string)
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint (operators, CI). Empty: private endpoint only."
  type        = list(string)
  default     = []
  validation {
    condition     = !contains(var.public_access_cidrs, "0.0.0.0/0")
    error_message = "The API endpoint is never open to the whole internet."
  }
}

variable "admin_role_arns" {
  description = "IAM roles given cluster-admin through EKS access entries."
  type        = list(string)
  default     = []
}

variable "node_groups" {
  description = "Node groups; each becomes one managed node group per zone. Sizes are per zone."
  type = map(object({
    instance_types = list(string)
    capacity_type  = optional(string, "ON_DEMAND")
    ami_type       = optional(string, "AL2023_x86_64_STANDARD")
    min_size       = number
    max_size       = number
    labels         = optional(map(string), {})
  }))
}

variable "node_volume_gib" {
  type    = number
  default = 50
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "namespace" {
  description = "Kubernetes namespace of the Tiketi roles (k8s/base/namespace.yaml)."
  type        = string
  default     = "tiketi"
}

variable "queue_arns" {
  description = "SQS queue ARNs by suffix (worker-events, stats-events, payment-webhooks, hold-expiry, reports)."
  type        = map(string)
}

variable "dead_letter_arns" {
  description = "Dead-letter queue ARNs by the suffix of the queue they serve."
  type        = map(string)
}

variable "topic_arn" {
  type = string
}

variable "inbox_table_arn" {
  type = string
}

variable "reports_bucket_arn" {
  type = string
}

variable "messaging_key_arn" {
  description = "KMS key of the topic, queues, inbox table and reports bucket."
  type        = string
}

variable "secrets_key_arn" {
  description = "KMS key of the Secrets Manager secrets."
  type        = string
}

variable "target_group_arn" {
  description = "The ALB target group the AWS Load Balancer Controller fills with ingress-gateway pods (TargetGroupBinding)."
  type        = string
}

variable "external_secret_arns" {
  description = "The Secrets Manager secrets the platform's ExternalSecrets reference."
  type        = list(string)
}

variable "loki_bucket_arn" {
  type = string
}

variable "loki_key_arn" {
  type = string
}

variable "tags" {
  type    = map(string)
  default = {}
}
