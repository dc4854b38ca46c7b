# Jaeger's trace store in staging and prod (argocd/platform/values/<env>/jaeger.yaml): an Amazon
# OpenSearch Service domain in the database subnets, one data node per zone and three dedicated
# masters (a zone lost keeps a quorum and two copies of every shard), encrypted at rest (KMS) and
# between nodes, HTTPS only with TLS 1.2+.
#
# Jaeger 2 speaks to OpenSearch with basic auth (username, password), not SigV4, so access is
# fine-grained access control with the internal user database: the master user is Jaeger's, its
# password drawn by Secrets Manager and written with the URL into tiketi-<env>-jaeger-opensearch
# (JSON url, username, password), which External Secrets copies into the Secret jaeger-opensearch.
# The domain policy admits any principal to the domain's HTTP API because FGAC then demands the
# user's credentials; only the cluster's security group reaches port 443 at all.

locals {
  opensearch = var.jaeger_opensearch ? { jaeger = true } : {}
  # The log types a domain can publish (AUDIT_LOGS needs FGAC, enabled below).
  opensearch_logs = ["INDEX_SLOW_LOGS", "SEARCH_SLOW_LOGS", "ES_APPLICATION_LOGS", "AUDIT_LOGS"]
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

module "opensearch_key" {
  source       = "../kms-key"
  name         = "${var.name}jaeger-opensearch"
  description  = "Jaeger's OpenSearch domain and its logs, ${var.name}"
  logs_service = true
  tags         = var.tags
}

resource "aws_security_group" "opensearch" {
  for_each    = local.opensearch
  name        = "${var.name}jaeger-opensearch"
  description = "OpenSearch (HTTPS) from the EKS cluster"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "opensearch" {
  for_each                     = local.opensearch
  security_group_id            = aws_security_group.opensearch[each.key].id
  description                  = "HTTPS from the EKS cluster (Jaeger)"
  referenced_security_group_id = var.cluster_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

resource "aws_cloudwatch_log_group" "opensearch" {
  for_each          = var.jaeger_opensearch ? toset(local.opensearch_logs) : toset([])
  name              = "/aws/opensearch/${var.name}jaeger/${lower(each.key)}"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.opensearch_key.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "opensearch_logs" {
  for_each = local.opensearch
  statement {
    sid       = "OpenSearchPublishesLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for g in aws_cloudwatch_log_group.opensearch : "${g.arn}:*"]
    principals {
      type        = "Service"
      identifiers = ["es.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "opensearch" {
  for_each        = local.opensearch
  policy_name     = "${var.name}jaeger-opensearch"
  policy_document = data.aws_iam_policy_document.opensearch_logs[each.key].json
}

# Drawn when the domain is created and kept: the domain and the secret ignore later draws (the data
# source draws on every plan), like the Redis AUTH token. It is also in the encrypted state.
data "aws_secretsmanager_random_password" "opensearch" {
  password_length            = 40
  require_each_included_type = true
  # FGAC wants upper, lower, digit and a special character; these would need quoting somewhere.
  exclude_characters = "\"'\\/@$`{}:"
}

resource "aws_opensearch_domain" "jaeger" {
  for_each       = local.opensearch
  domain_name    = "${var.name}jaeger"
  engine_version = "OpenSearch_2.19"

  cluster_config {
    instance_type            = var.opensearch_instance_type
    instance_count           = length(var.database_subnet_ids)
    zone_awareness_enabled   = true
    dedicated_master_enabled = true
    dedicated_master_type    = var.opensearch_master_instance_type
    dedicated_master_count   = 3
    zone_awareness_config {
      availability_zone_count = length(var.database_subnet_ids)
    }
  }

  vpc_options {
    subnet_ids         = var.database_subnet_ids
    security_group_ids = [aws_security_group.opensearch[each.key].id]
  }

  ebs_options {
    ebs_enabled = true
    volume_type = "gp3"
    volume_size = var.opensearch_volume_gib
  }

  encrypt_at_rest {
    enabled    = true
    kms_key_id = module.opensearch_key.arn
  }

  node_to_node_encryption {
    enabled = true
  }

  domain_endpoint_options {
    enforce_https       = true
    tls_security_policy = "Policy-Min-TLS-1-2-2019-07"
  }

  advanced_security_options {
    enabled                        = true
    anonymous_auth_enabled         = false
    internal_user_database_enabled = true
    master_user_options {
      master_user_name     = "jaeger"
      master_user_password = data.aws_secretsmanager_random_password.opensearch.random_password
    }
  }

  log_publishing_options {
    log_type                 = "INDEX_SLOW_LOGS"
    enabled                  = true
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.opensearch["INDEX_SLOW_LOGS"].arn
  }
  log_publishing_options {
    log_type                 = "SEARCH_SLOW_LOGS"
    enabled                  = true
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.opensearch["SEARCH_SLOW_LOGS"].arn
  }
  log_publishing_options {
    log_type                 = "ES_APPLICATION_LOGS"
    enabled                  = true
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.opensearch["ES_APPLICATION_LOGS"].arn
  }
  log_publishing_options {
    log_type                 = "AUDIT_LOGS"
    enabled                  = true
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.opensearch["AUDIT_LOGS"].arn
  }

  software_update_options {
    auto_software_update_enabled = true
  }

  tags = var.tags

  lifecycle {
    ignore_changes = [advanced_security_options]
  }

  depends_on = [aws_cloudwatch_log_resource_policy.opensearch]
}

data "aws_iam_policy_document" "opensearch_access" {
  #checkov:skip=CKV_AWS_283:Jaeger's requests carry basic auth, not SigV4: FGAC's internal users decide, the security group admits only the cluster
  for_each = local.opensearch
  statement {
    sid       = "HttpApiBehindFineGrainedAccessControl"
    actions   = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete", "es:ESHttpPatch"]
    resources = ["${aws_opensearch_domain.jaeger[each.key].arn}/*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
  }
}

resource "aws_opensearch_domain_policy" "jaeger" {
  for_each        = local.opensearch
  domain_name     = aws_opensearch_domain.jaeger[each.key].domain_name
  access_policies = data.aws_iam_policy_document.opensearch_access[each.key].json
}

resource "aws_secretsmanager_secret" "jaeger_opensearch" {
  for_each                = local.opensearch
  name                    = "${var.name}jaeger-opensearch"
  description             = "Jaeger's OpenSearch URL and master user (External Secrets: jaeger-opensearch)"
  kms_key_id              = var.secrets_key_arn
  recovery_window_in_days = 30
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "jaeger_opensearch" {
  for_each  = local.opensearch
  secret_id = aws_secretsmanager_secret.jaeger_opensearch[each.key].id
  secret_string = jsonencode({
    url      = "https://${aws_opensearch_domain.jaeger[each.key].endpoint}"
    username = "jaeger"
    password = data.aws_secretsmanager_random_password.opensearch.random_password
  })
  lifecycle {
    ignore_changes = [secret_string]
  }
}
