variable "name" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "public_subnet_ids" {
  type = list(string)
}

variable "cluster_security_group_id" {
  description = "The EKS cluster security group (the ingress gateway pods' ENIs carry it)."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate (ap-northeast-2) for the public host."
  type        = string
}

variable "gateway_port" {
  description = "The Istio ingress gateway pods' HTTPS container port (Service port 443)."
  type        = number
  default     = 8443
}

variable "gateway_health_port" {
  description = "The gateway's readiness port (/healthz/ready)."
  type        = number
  default     = 15021
}

variable "join_limit_per_minute" {
  description = "Per client address. Korean mobile carriers put many users behind one address (CGNAT): keep it generous."
  type        = number
  default     = 300
}

variable "login_limit_per_minute" {
  type    = number
  default = 100
}

variable "overall_limit_per_minute" {
  type    = number
  default = 10000
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "tags" {
  type    = map(string)
  default = {}
}
