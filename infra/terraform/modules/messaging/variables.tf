variable "name" {
  description = "TIKETI_AWS_NAME_PREFIX of the environment, e.g. tiketi-prod-."
  type        = string
}

variable "alarm_topic_arn" {
  type = string
}

variable "access_log_bucket" {
  description = "Bucket for S3 server access logs of the reports bucket (who downloaded which report)."
  type        = string
}

variable "tags" {
  type    = map(string)
  default = {}
}
