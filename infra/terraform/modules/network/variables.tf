variable "name" {
  description = "Name prefix, e.g. tiketi-prod-."
  type        = string
}

variable "cidr" {
  type    = string
  default = "10.0.0.0/16"
}

variable "az_count" {
  description = "Availability zones to span. Three: losing one leaves two, and RDS/ElastiCache/EKS keep a quorum of placements."
  type        = number
  default     = 3
  validation {
    condition     = var.az_count >= 3
    error_message = "Tiketi spans at least three availability zones."
  }
}

variable "zone_ids" {
  description = "The zones by id, one per az_count."
  type        = list(string)
  default     = ["apne2-az1", "apne2-az2", "apne2-az3"]
  validation {
    condition     = length(var.zone_ids) == var.az_count
    error_message = "One zone id per zone (az_count)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper; a zone outage there cuts every zone's egress)."
  type        = bool
  default     = false
}

variable "interface_endpoints" {
  description = "Interface VPC endpoints (service short names)."
  type        = list(string)
  default     = ["sqs", "sns", "secretsmanager", "sts", "ecr.api", "ecr.dkr", "logs", "kms"]
}

variable "flow_log_retention_days" {
  type    = number
  default = 365
}

variable "tags" {
  type    = map(string)
  default = {}
}
