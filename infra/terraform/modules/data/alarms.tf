# Alarms to the environment's alarm topic. Thresholds leave time to act before users notice.

locals {
  rds_alarms = {
    cpu = {
      metric    = "CPUUtilization"
      stat      = "Average"
      threshold = 80
      operator  = "GreaterThanThreshold"
      what      = "PostgreSQL CPU above 80 % for 10 min"
    }
    free-storage = {
      metric = "FreeStorageSpace"
      stat   = "Minimum"
      # Storage autoscaling grows the volume at 10 % free; this fires if it cannot keep up.
      threshold = var.postgres_storage_gib * 1073741824 * 0.1
      operator  = "LessThanThreshold"
      what      = "PostgreSQL free storage below 10 % of the allocation"
    }
    # A Multi-AZ DB instance's standby is synchronous and publishes no ReplicaLag; trouble with it
    # shows as commit (write) latency, and failovers arrive as RDS events (rds.tf).
    write-latency = {
      metric    = "WriteLatency"
      stat      = "Average"
      threshold = 0.02
      operator  = "GreaterThanThreshold"
      what      = "PostgreSQL write latency above 20 ms (synchronous standby slow or storage throttled)"
    }
  }

  # Node ids ElastiCache assigns (<group>-001... or <group>-0001-001... with shards), computed
  # here because member_clusters is unknown until apply and for_each needs known keys.
  redis_group = "${var.name}redis"
  redis_nodes = var.redis_cluster_mode ? toset(flatten([
    for s in range(1, var.redis_shards + 1) : [
      for n in range(1, var.redis_replicas_per_shard + 2) : format("%s-%04d-%03d", local.redis_group, s, n)
    ]
  ])) : toset([for n in range(1, var.redis_replicas_per_shard + 2) : format("%s-%03d", local.redis_group, n)])
  redis_alarms = {
    cpu = {
      metric    = "EngineCPUUtilization"
      threshold = 70
      what      = "Redis engine CPU (one thread) above 70 %"
    }
    memory = {
      metric    = "DatabaseMemoryUsagePercentage"
      threshold = 80
      what      = "Redis memory above 80 % of maxmemory"
    }
    replication-lag = {
      metric = "ReplicationLag"
      # Asynchronous replication: what a failover would lose is roughly this lag.
      threshold = 1
      what      = "Redis replica more than 1 s behind its primary"
    }
  }
  redis_node_alarms = merge([
    for node in local.redis_nodes : {
      for key, alarm in local.redis_alarms : "${node}-${key}" => merge(alarm, { node = node })
    }
  ]...)
}

resource "aws_cloudwatch_metric_alarm" "rds" {
  for_each            = local.rds_alarms
  alarm_name          = "${var.name}postgres-${each.key}"
  alarm_description   = each.value.what
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  statistic           = each.value.stat
  dimensions          = { DBInstanceIdentifier = aws_db_instance.postgres.identifier }
  period              = 300
  evaluation_periods  = 2
  threshold           = each.value.threshold
  comparison_operator = each.value.operator
  treat_missing_data  = "breaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "redis" {
  for_each            = local.redis_node_alarms
  alarm_name          = "${var.name}redis-${each.key}"
  alarm_description   = each.value.what
  namespace           = "AWS/ElastiCache"
  metric_name         = each.value.metric
  statistic           = "Maximum"
  dimensions          = { CacheClusterId = each.value.node }
  period              = 60
  evaluation_periods  = 5
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  # ReplicationLag exists only on replicas, and a node's role changes with each failover.
  treat_missing_data = "notBreaching"
  alarm_actions      = [var.alarm_topic_arn]
  ok_actions         = [var.alarm_topic_arn]
  tags               = var.tags
}
