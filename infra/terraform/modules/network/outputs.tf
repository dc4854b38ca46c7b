output "vpc_id" {
  value = aws_vpc.this.id
}

output "cidr" {
  value = aws_vpc.this.cidr_block
}

output "azs" {
  value = local.azs
}

output "public_subnet_ids" {
  value = [for az in local.azs : aws_subnet.public[az].id]
}

output "private_subnet_ids" {
  value = [for az in local.azs : aws_subnet.private[az].id]
}

output "database_subnet_ids" {
  value = [for az in local.azs : aws_subnet.database[az].id]
}

output "nat_gateway_count" {
  value = length(aws_nat_gateway.this)
}
