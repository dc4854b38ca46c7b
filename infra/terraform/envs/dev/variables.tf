# Values that differ per account and are not secret come from a tfvars file kept with the
# account's documentation (terraform apply -var-file=...); the database URL of the report
# function is secret and comes from TF_VAR_stats_report_database_url.

variable "account_id" {
  description = "The AWS account this environment lives in."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of the public host (ap-northeast-2)."
  type        = string
}

variable "eks_admin_role_arns" {
  description = "IAM roles with cluster-admin (SSO administrators, the deploy pipeline)."
  type        = list(string)
}

variable "eks_public_access_cidrs" {
  description = "Operator/CI addresses allowed to the public API endpoint; empty keeps it private (reach it over VPN or SSM)."
  type        = list(string)
  default     = []
}

variable "lambda_zip_dir" {
  description = "Where ./dev package put the Lambda zips (.tiketi/dist of the repository; relative to this directory)."
  type        = string
  default     = "../../../../.tiketi/dist"
}

variable "stats_report_database_url" {
  type      = string
  sensitive = true
}

variable "alarm_emails" {
  type    = list(string)
  default = []
}
