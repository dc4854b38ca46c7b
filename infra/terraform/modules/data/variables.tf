variable "name" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "database_subnet_ids" {
  description = "One per zone (three)."
  type        = list(string)
}

# Maps with fixed keys: the ids are known only after apply, and for_each needs known keys.
variable "client_security_group_ids" {
  description = "Security groups allowed to reach PostgreSQL (EKS nodes, the report Lambda), by a fixed name."
  type        = map(string)
}

variable "redis_client_security_group_ids" {
  description = "Security groups allowed to reach Redis (EKS nodes), by a fixed name."
  type        = map(string)
}

variable "secrets_key_arn" {
  type = string
}

variable "alarm_topic_arn" {
  type = string
}

variable "postgres_version" {
  description = "Major version 15: RDS picks the newest minor and upgrades minors in the maintenance window."
  type        = string
  default     = "15"
}

variable "postgres_instance_class" {
  type = string
}

variable "postgres_storage_gib" {
  type    = number
  default = 100
}

variable "postgres_max_storage_gib" {
  type    = number
  default = 1000
}

variable "backup_retention_days" {
  type    = number
  default = 14
  validation {
    condition     = var.backup_retention_days >= 7
    error_message = "Point-in-time restore keeps at least 7 days."
  }
}

variable "redis_node_type" {
  type = string
}

variable "redis_cluster_mode" {
  description = "Shard the keyspace (needs a cluster-aware client and hash-tagged keys; see redis.tf)."
  type        = bool
  default     = false
}

variable "redis_shards" {
  description = "Node groups with cluster mode on."
  type        = number
  default     = 1
}

variable "redis_replicas_per_shard" {
  type    = number
  default = 2
  validation {
    condition     = var.redis_replicas_per_shard >= 1
    error_message = "Automatic failover needs at least one replica per shard."
  }
}

variable "redis_snapshot_retention_days" {
  type    = number
  default = 7
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "tags" {
  type    = map(string)
  default = {}
}
