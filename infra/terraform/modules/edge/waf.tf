# WAFv2 web ACL on the ALB: AWS's managed rule groups (IP reputation, common rules, known bad
# inputs, anonymous IPs), then per-address rate limits on the two paths bots hammer, joining a
# waiting room and logging in (/work/shared/API.md), and a loose one on everything. A rate
# rule's limit counts requests per address within evaluation_window_sec (60 s here, the
# shortest), so a burst is cut within a minute.

resource "aws_wafv2_web_acl" "this" {
  name  = "${var.name}edge"
  scope = "REGIONAL"

  default_action {
    allow {}
  }

  # Addresses AWS's threat intelligence lists as bots and attackers.
  rule {
    name     = "AWSManagedRulesAmazonIpReputationList"
    priority = 10
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "AWSManagedRulesAmazonIpReputationList"
      sampled_requests_enabled   = true
    }
  }

  # OWASP-style rules. Its 8 KiB body limit is left on: admin event creation and report
  # requests stay far below it.
  rule {
    name     = "AWSManagedRulesCommonRuleSet"
    priority = 20
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "AWSManagedRulesCommonRuleSet"
      sampled_requests_enabled   = true
    }
  }

  # Known exploit patterns, Log4Shell among them.
  rule {
    name     = "AWSManagedRulesKnownBadInputsRuleSet"
    priority = 30
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "AWSManagedRulesKnownBadInputsRuleSet"
      sampled_requests_enabled   = true
    }
  }

  # Requests from hosting providers (where scalping bots run) are blocked; VPN/Tor/proxy users
  # (AnonymousIPList) only counted: some real buyers use VPNs, and the join limit below applies anyway.
  rule {
    name     = "AWSManagedRulesAnonymousIpList"
    priority = 35
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAnonymousIpList"
        rule_action_override {
          name = "AnonymousIPList"
          action_to_use {
            count {}
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "AWSManagedRulesAnonymousIpList"
      sampled_requests_enabled   = true
    }
  }

  # POST /api/events/{id}/queue: a person joins once (a second join keeps the place); more than
  # var.join_limit per minute from one address is a script. Addresses behind carrier-grade NAT
  # share a limit, hence a generous figure.
  rule {
    name     = "rate-join-queue"
    priority = 40
    action {
      block {}
    }
    statement {
      rate_based_statement {
        limit                 = var.join_limit_per_minute
        evaluation_window_sec = 60
        aggregate_key_type    = "IP"
        scope_down_statement {
          and_statement {
            statement {
              byte_match_statement {
                search_string         = "POST"
                positional_constraint = "EXACTLY"
                field_to_match {
                  method {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
            statement {
              regex_match_statement {
                regex_string = "^/api/events/[^/]+/queue$"
                field_to_match {
                  uri_path {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "rate-join-queue"
      sampled_requests_enabled   = true
    }
  }

  # POST /api/auth/login: password guessing.
  rule {
    name     = "rate-login"
    priority = 50
    action {
      block {}
    }
    statement {
      rate_based_statement {
        limit                 = var.login_limit_per_minute
        evaluation_window_sec = 60
        aggregate_key_type    = "IP"
        scope_down_statement {
          and_statement {
            statement {
              byte_match_statement {
                search_string         = "POST"
                positional_constraint = "EXACTLY"
                field_to_match {
                  method {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
            statement {
              byte_match_statement {
                search_string         = "/api/auth/login"
                positional_constraint = "EXACTLY"
                field_to_match {
                  uri_path {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "rate-login"
      sampled_requests_enabled   = true
    }
  }

  # Everything else: a ceiling per address well above a person's polling (GET .../queue every
  # 3 s is 20 a minute).
  rule {
    name     = "rate-all"
    priority = 60
    action {
      block {}
    }
    statement {
      rate_based_statement {
        limit                 = var.overall_limit_per_minute
        evaluation_window_sec = 60
        aggregate_key_type    = "IP"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "rate-all"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}edge"
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

resource "aws_wafv2_web_acl_association" "alb" {
  resource_arn = aws_lb.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}

# WAF logs (names must start with aws-waf-logs-); blocked requests only, to keep the volume sane
# in a sale.
module "logs_key" {
  source       = "../kms-key"
  name         = "${var.name}waf-logs"
  description  = "WAF logs of ${var.name}edge"
  logs_service = true
  tags         = var.tags
}

resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${var.name}edge"
  retention_in_days = var.log_retention_days
  kms_key_id        = module.logs_key.arn
  tags              = var.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
  logging_filter {
    default_behavior = "DROP"
    filter {
      behavior    = "KEEP"
      requirement = "MEETS_ANY"
      condition {
        action_condition {
          action = "BLOCK"
        }
      }
    }
  }
}
