variable "name" {
  description = "Alias name (without alias/)."
  type        = string
}

variable "description" {
  type = string
}

variable "service_principals" {
  description = "AWS service principals (e.g. sns.amazonaws.com) that encrypt and decrypt for this account."
  type        = list(string)
  default     = []
}

variable "logs_service" {
  description = "Let CloudWatch Logs of this region use the key for this account's log groups."
  type        = bool
  default     = false
}

variable "tags" {
  type    = map(string)
  default = {}
}
