# The VPC over three availability zones: public subnets (load balancer, NAT gateways), private
# subnets (EKS nodes, Lambdas), database subnets (RDS, ElastiCache; no route to the internet).
# One NAT gateway per zone keeps a zone's egress alive when another zone fails; staging may share
# one (single_nat_gateway) to save ~2 x the hourly NAT price.

locals {
  azs      = slice(data.aws_availability_zones.available.names, 0, var.az_count)
  nat_keys = var.single_nat_gateway ? [local.azs[0]] : local.azs
  # The /16 in /20s (4,091 usable addresses each): public 0-2, private 3-5, database 8-10. Pods
  # take private-subnet addresses (VPC CNI): at the prod maximum of 14 nodes per zone, at most
  # 58 pods each plus the CNI's warm addresses, a zone uses about 1,000.
  public_cidrs   = [for i, _ in local.azs : cidrsubnet(var.cidr, 4, i)]
  private_cidrs  = [for i, _ in local.azs : cidrsubnet(var.cidr, 4, i + 3)]
  database_cidrs = [for i, _ in local.azs : cidrsubnet(var.cidr, 4, i + 8)]
}

# Zones by id (the same physical zones in every account; names are shuffled per account), so a
# zone AWS adds later never changes the subnets.
data "aws_availability_zones" "available" {
  state = "available"
  filter {
    name   = "zone-id"
    values = var.zone_ids
  }
}

data "aws_region" "current" {}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = "${var.name}vpc" })
}

# The default security group denies everything: nothing may fall back to it.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}default-deny" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}igw" })
}

resource "aws_subnet" "public" {
  for_each          = { for i, az in local.azs : az => local.public_cidrs[i] }
  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = each.value
  # Nothing launched here gets a public address by default: the ALB and NAT gateways have their own.
  map_public_ip_on_launch = false
  tags = merge(var.tags, {
    Name                     = "${var.name}public-${each.key}"
    "kubernetes.io/role/elb" = "1"
  })
}

resource "aws_subnet" "private" {
  for_each          = { for i, az in local.azs : az => local.private_cidrs[i] }
  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = each.value
  tags = merge(var.tags, {
    Name                              = "${var.name}private-${each.key}"
    "kubernetes.io/role/internal-elb" = "1"
  })
}

resource "aws_subnet" "database" {
  for_each          = { for i, az in local.azs : az => local.database_cidrs[i] }
  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = each.value
  tags              = merge(var.tags, { Name = "${var.name}database-${each.key}" })
}

resource "aws_eip" "nat" {
  for_each = toset(local.nat_keys)
  domain   = "vpc"
  tags     = merge(var.tags, { Name = "${var.name}nat-${each.key}" })
}

resource "aws_nat_gateway" "this" {
  for_each      = toset(local.nat_keys)
  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = aws_subnet.public[each.key].id
  tags          = merge(var.tags, { Name = "${var.name}nat-${each.key}" })
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
  tags = merge(var.tags, { Name = "${var.name}public" })
}

resource "aws_route_table_association" "public" {
  for_each       = aws_subnet.public
  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

# One private route table per zone, each to its own zone's NAT gateway (or the single one).
resource "aws_route_table" "private" {
  for_each = toset(local.azs)
  vpc_id   = aws_vpc.this.id
  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.this[var.single_nat_gateway ? local.azs[0] : each.key].id
  }
  tags = merge(var.tags, { Name = "${var.name}private-${each.key}" })
}

resource "aws_route_table_association" "private" {
  for_each       = aws_subnet.private
  subnet_id      = each.value.id
  route_table_id = aws_route_table.private[each.key].id
}

# Database subnets: local routes (and the gateway endpoints) only.
resource "aws_route_table" "database" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}database" })
}

resource "aws_route_table_association" "database" {
  for_each       = aws_subnet.database
  subnet_id      = each.value.id
  route_table_id = aws_route_table.database.id
}

# S3 and DynamoDB through gateway endpoints: free, and report uploads and inbox writes skip the NAT.
resource "aws_vpc_endpoint" "gateway" {
  for_each          = toset(["s3", "dynamodb"])
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = concat([for rt in aws_route_table.private : rt.id], [aws_route_table.database.id])
  tags              = merge(var.tags, { Name = "${var.name}${each.key}" })
}

# Interface endpoints for the services every pod calls at start-up and per message: they keep
# working while a NAT gateway is lost, and SQS traffic (thousands of calls/s in a sale) is not
# billed per GB through the NAT.
resource "aws_security_group" "endpoints" {
  name        = "${var.name}vpc-endpoints"
  description = "HTTPS from inside the VPC to the interface endpoints"
  vpc_id      = aws_vpc.this.id
  ingress {
    description = "HTTPS from the VPC"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.cidr]
  }
  tags = var.tags
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = toset(var.interface_endpoints)
  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = [for s in aws_subnet.private : s.id]
  security_group_ids  = [aws_security_group.endpoints.id]
  tags                = merge(var.tags, { Name = "${var.name}${each.key}" })
}

# Flow logs of every interface (accepted and rejected) to CloudWatch Logs, encrypted.
module "logs_key" {
  source       = "../kms-key"
  name         = "${var.name}flow-logs"
  description  = "VPC flow logs of ${var.name}vpc"
  logs_service = true
  tags         = var.tags
}

resource "aws_cloudwatch_log_group" "flow" {
  name              = "/aws/vpc/${var.name}flow-logs"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = module.logs_key.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "flow_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flow" {
  name               = "${var.name}vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "flow" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow.id
  policy = data.aws_iam_policy_document.flow.json
}

resource "aws_flow_log" "this" {
  vpc_id          = aws_vpc.this.id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow.arn
  iam_role_arn    = aws_iam_role.flow.arn
  tags            = var.tags
}
