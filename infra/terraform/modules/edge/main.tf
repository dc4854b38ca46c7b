# The public entrance: an internet-facing ALB with a WAF web ACL, in front of the Istio ingress
# gateway.
#
# Why an ALB and not an NLB: WAFv2 attaches to ALBs,
# CloudFront, API Gateway, AppSync and Cognito, never to an NLB. Of the two that fit, the ALB
# stays in the region (one provider, one certificate in ap-northeast-2; CloudFront needs its WAF
# and certificate in us-east-1) and adds one proxy hop like CloudFront would; the API and the
# WebSockets are uncachable, so an edge cache would mostly serve the small web app. The ALB
# terminates TLS with an ACM certificate and re-encrypts to the gateway's HTTPS port (the
# Gateway keeps its own certificate), and the AWS Load Balancer Controller keeps the gateway pods'
# IPs registered in the target group (a TargetGroupBinding; the controller creates nothing else).
#
# With the ALB in front, X-Forwarded-For reaches the gateway as "<client>" and the gateway appends
# the ALB's address: the pods must trust two hops (TIKETI_TRUSTED_PROXY_HOPS=2) — see
# docs/operations.md "Terraform (AWS)".

data "aws_elb_service_account" "this" {}

resource "aws_security_group" "alb" {
  name        = "${var.name}alb"
  description = "Public HTTPS to the ALB; the ALB to the ingress gateway pods"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  #checkov:skip=CKV_AWS_260:port 80 only answers a 301 to HTTPS (listener "http")
  for_each          = toset(["80", "443"])
  security_group_id = aws_security_group.alb.id
  description       = each.value == "80" ? "HTTP (redirected to HTTPS)" : "HTTPS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
}

resource "aws_vpc_security_group_egress_rule" "alb" {
  for_each                     = toset([tostring(var.gateway_port), tostring(var.gateway_health_port)])
  security_group_id            = aws_security_group.alb.id
  description                  = "To the ingress gateway pods"
  referenced_security_group_id = var.cluster_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
}

resource "aws_vpc_security_group_ingress_rule" "gateway" {
  for_each                     = toset([tostring(var.gateway_port), tostring(var.gateway_health_port)])
  security_group_id            = var.cluster_security_group_id
  description                  = "From the ALB to the ingress gateway pods"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
}

# --- Access logs (ALB logs support only SSE-S3) --------------------------------------------------

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_145:ALB access logs can only be written with SSE-S3
  #checkov:skip=CKV_AWS_18:this is the access-log bucket; logging it into itself would loop
  bucket = "${var.name}edge-logs"
  tags   = var.tags
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_notification" "logs" {
  bucket      = aws_s3_bucket.logs.id
  eventbridge = true
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "logs"
    status = "Enabled"
    filter {}
    transition {
      days          = 30
      storage_class = "STANDARD_IA"
    }
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.logs]
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "AlbWritesAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.this.arn]
    }
  }
  statement {
    sid       = "S3WritesServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
  }
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket     = aws_s3_bucket.logs.id
  policy     = data.aws_iam_policy_document.logs.json
  depends_on = [aws_s3_bucket_public_access_block.logs]
}

# --- Load balancer ------------------------------------------------------------------------------

resource "aws_lb" "this" {
  name                       = "${var.name}alb"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  # WebSockets (/ws) stay open for hours; the client pings well within an hour.
  idle_timeout = 3600
  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }
  tags       = var.tags
  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_lb_target_group" "gateway" {
  name        = "${var.name}istio-gw"
  vpc_id      = var.vpc_id
  target_type = "ip"
  protocol    = "HTTPS"
  port        = var.gateway_port
  # The gateway drains for up to the roles' longest grace (payment 75 s).
  deregistration_delay = 90
  health_check {
    protocol            = "HTTP"
    port                = tostring(var.gateway_health_port)
    path                = "/healthz/ready"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway.arn
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"
  default_action {
    type = "redirect"
    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}
