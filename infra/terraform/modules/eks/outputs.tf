output "cluster_name" {
  value = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  value = aws_eks_cluster.this.endpoint
}

output "cluster_security_group_id" {
  description = "The security group EKS gives the control plane and managed nodes."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "oidc_provider_arn" {
  value = aws_iam_openid_connect_provider.this.arn
}

output "workload_role_arns" {
  description = "IRSA role ARN per Kubernetes ServiceAccount (namespace/name)."
  value       = { for k, r in aws_iam_role.workload : "${local.workloads[k].namespace}/${local.workloads[k].service_account}" => r.arn }
}

output "node_group_names" {
  value = [for g in aws_eks_node_group.this : g.node_group_name]
}
