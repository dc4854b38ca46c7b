variable "name" {
  type = string
}

variable "payment_webhook_zip" {
  description = "The payment-webhook zip (./dev package: .tiketi/dist/tiketi-payment-webhook.zip)."
  type        = string
}

variable "stats_report_zip" {
  description = "The stats-report zip (.tiketi/dist/tiketi-stats-report.zip)."
  type        = string
}

variable "architecture" {
  description = "The zips' architecture: arm64 (Graviton, ~20 % cheaper per GB-second) from TIKETI_LAMBDA_ARCH=arm64 ./dev package."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "arm64 or x86_64."
  }
}

variable "stats_report_database_url" {
  description = "PostgreSQL URL the report function connects with (its own database user); see docs/operations.md."
  type        = string
  sensitive   = true
}

variable "webhook_reserved_concurrency" {
  type    = number
  default = 100
}

variable "vpc_id" {
  type = string
}

variable "vpc_cidr" {
  type = string
}

variable "private_subnet_ids" {
  type = list(string)
}

variable "queue_arns" {
  type = map(string)
}

variable "inbox_table_arn" {
  type = string
}

variable "reports_bucket_arn" {
  type = string
}

variable "messaging_key_arn" {
  type = string
}

variable "secrets_key_arn" {
  type = string
}

variable "alarm_topic_arn" {
  type = string
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "tags" {
  type    = map(string)
  default = {}
}
