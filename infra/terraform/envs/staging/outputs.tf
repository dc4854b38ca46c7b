output "stack" {
  description = "Names and endpoints the k8s overlay and the platform need."
  value       = module.tiketi
}
