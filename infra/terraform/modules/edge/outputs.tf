output "alb_dns_name" {
  value = aws_lb.this.dns_name
}

output "target_group_arn" {
  description = "For the TargetGroupBinding of the istio-ingress gateway Service."
  value       = aws_lb_target_group.gateway.arn
}

output "web_acl_arn" {
  value = aws_wafv2_web_acl.this.arn
}

output "log_bucket" {
  value = aws_s3_bucket.logs.id
}
