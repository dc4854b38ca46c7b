# One IAM role per Kubernetes ServiceAccount (IRSA), each allowed exactly the AWS calls its code
# makes (src/app.rs, shared/src/aws.rs, shared/src/secrets.rs, queue-worker/, services/stats/):
#
#   every role that starts with AWS resources located (payment, stats, worker): GetQueueUrl of
#     every queue and dead-letter queue, and ListTopics (no resource-level form exists);
#   auth: signing keys "access" and "service"; ticket: "admission" and "service"; realtime,
#     payment and worker: "service". A signing-key secret is read, and written once if it has no
#     value yet (SecretsManagerKeyStore::load_or_create: CreateSecret answers "exists", then the
#     first PutSecretValue wins), hence Create/Put on that secret's name only;
#   payment: the Toss secret key; the webhook route it also serves (DynamoDB inbox put/get/update,
#     SendMessage to payment-webhooks);
#   stats: consumes stats-events, sends to reports, reads report objects (presigned GETs are
#     signed with the role's credentials, so the role itself needs s3:GetObject and kms:Decrypt);
#   worker: consumes worker-events, hold-expiry and payment-webhooks, sends to hold-expiry,
#     publishes to the topic, reads every queue's depth, reads the Toss secret key (re-fetching
#     payments when applying webhooks);
#   keda/keda-operator: GetQueueAttributes on tiketi-<env>-* queues (k8s/base/autoscaling/keda.yaml);
#   kube-system/cluster-autoscaler and kube-system/aws-load-balancer-controller: below;
#   external-secrets/external-secrets and monitoring/loki (the platform's charts, argocd/): below.

locals {
  region  = data.aws_region.current.name
  account = data.aws_caller_identity.current.account_id
  oidc    = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")

  secret_arn = "arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:${var.name}"
  # Secrets Manager appends "-" and six random characters to a secret's name in its ARN.
  signing_key_arns = { for p in ["access", "service", "admission"] : p => "${local.secret_arn}signing-keys-${p}-??????" }
  toss_key_arn     = "${local.secret_arn}toss-secret-key-??????"
  all_queue_arns   = concat(values(var.queue_arns), values(var.dead_letter_arns))

  signing_keys_of = {
    auth     = ["access", "service"]
    ticket   = ["admission", "service"]
    realtime = ["service"]
    payment  = ["service"]
    stats    = []
    worker   = ["service"]
  }
  consumes = {
    stats  = ["stats-events"]
    worker = ["worker-events", "hold-expiry", "payment-webhooks"]
  }
  sends_to = {
    payment = ["payment-webhooks"]
    stats   = ["reports"]
    worker  = ["hold-expiry"]
  }
  locates = ["payment", "stats", "worker"]

  workloads = merge(
    { for role in keys(local.signing_keys_of) : role => { namespace = var.namespace, service_account = role } },
    {
      "keda-operator"                = { namespace = "keda", service_account = "keda-operator" }
      "cluster-autoscaler"           = { namespace = "kube-system", service_account = "cluster-autoscaler" }
      "aws-load-balancer-controller" = { namespace = "kube-system", service_account = "aws-load-balancer-controller" }
      "external-secrets"             = { namespace = "external-secrets", service_account = "external-secrets" }
      "loki"                         = { namespace = "monitoring", service_account = "loki" }
    },
  )
}

data "aws_iam_policy_document" "workload_assume" {
  for_each = local.workloads
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

# Role names are exactly those of k8s/overlays/<env>/irsa.yaml: tiketi-<env>-<role>.
resource "aws_iam_role" "workload" {
  for_each             = local.workloads
  name                 = "${var.name}${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.workload_assume[each.key].json
  max_session_duration = 3600
  tags                 = merge(var.tags, { "tiketi.io/service-account" = "${each.value.namespace}/${each.value.service_account}" })
}

data "aws_iam_policy_document" "tiketi" {
  for_each = local.signing_keys_of

  dynamic "statement" {
    for_each = length(each.value) > 0 ? [1] : []
    content {
      sid       = "SigningKeys"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue"]
      resources = [for p in each.value : local.signing_key_arns[p]]
    }
  }

  dynamic "statement" {
    for_each = contains(["payment", "worker"], each.key) ? [1] : []
    content {
      sid       = "TossSecretKey"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = [local.toss_key_arn]
    }
  }

  dynamic "statement" {
    for_each = each.key != "stats" ? [1] : []
    content {
      sid       = "SecretsKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.secrets_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = contains(local.locates, each.key) ? [1] : []
    content {
      sid       = "LocateQueues"
      actions   = ["sqs:GetQueueUrl"]
      resources = local.all_queue_arns
    }
  }

  dynamic "statement" {
    for_each = contains(local.locates, each.key) ? [1] : []
    content {
      sid       = "LocateTopic"
      actions   = ["sns:ListTopics"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = contains(keys(local.consumes), each.key) ? [1] : []
    content {
      sid       = "Consume"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
      resources = [for q in local.consumes[each.key] : var.queue_arns[q]]
    }
  }

  dynamic "statement" {
    for_each = contains(keys(local.sends_to), each.key) ? [1] : []
    content {
      sid       = "Send"
      actions   = ["sqs:SendMessage"]
      resources = [for q in local.sends_to[each.key] : var.queue_arns[q]]
    }
  }

  dynamic "statement" {
    for_each = each.key == "worker" ? [1] : []
    content {
      sid       = "QueueDepth"
      actions   = ["sqs:GetQueueAttributes"]
      resources = local.all_queue_arns
    }
  }

  dynamic "statement" {
    for_each = each.key == "worker" ? [1] : []
    content {
      sid       = "Publish"
      actions   = ["sns:Publish"]
      resources = [var.topic_arn]
    }
  }

  dynamic "statement" {
    for_each = each.key == "payment" ? [1] : []
    content {
      sid       = "WebhookInbox"
      actions   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]
      resources = [var.inbox_table_arn]
    }
  }

  dynamic "statement" {
    for_each = each.key == "stats" ? [1] : []
    content {
      sid       = "ReadReports"
      actions   = ["s3:GetObject"]
      resources = ["${var.reports_bucket_arn}/*"]
    }
  }

  dynamic "statement" {
    for_each = contains(local.locates, each.key) ? [1] : []
    content {
      sid       = "MessagingKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.messaging_key_arn]
    }
  }
}

resource "aws_iam_role_policy" "tiketi" {
  for_each = local.signing_keys_of
  name     = "tiketi-${each.key}"
  role     = aws_iam_role.workload[each.key].id
  policy   = data.aws_iam_policy_document.tiketi[each.key].json
}

data "aws_iam_policy_document" "keda" {
  statement {
    sid       = "ReadQueueDepth"
    actions   = ["sqs:GetQueueAttributes"]
    resources = ["arn:${local.partition}:sqs:${local.region}:${local.account}:${var.name}*"]
  }
}

resource "aws_iam_role_policy" "keda" {
  name   = "read-queue-depth"
  role   = aws_iam_role.workload["keda-operator"].id
  policy = data.aws_iam_policy_document.keda.json
}

# The cluster autoscaler: read anything about groups and instances; change only this cluster's
# node groups (managed node groups tag their ASGs k8s.io/cluster-autoscaler/<cluster>=owned).
data "aws_iam_policy_document" "cluster_autoscaler" {
  statement {
    sid = "Describe"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "DescribeOwnNodeGroups"
    actions   = ["eks:DescribeNodegroup"]
    resources = ["arn:${local.partition}:eks:${local.region}:${local.account}:nodegroup/${local.cluster_name}/*/*"]
  }
  statement {
    sid     = "ScaleOwnGroups"
    actions = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    # Managed node groups' Auto Scaling groups are named eks-<node group>-<id>.
    resources = ["arn:${local.partition}:autoscaling:${local.region}:${local.account}:autoScalingGroup:*:autoScalingGroupName/eks-*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${local.cluster_name}"
      values   = ["owned"]
    }
  }
}

resource "aws_iam_role_policy" "cluster_autoscaler" {
  name   = "cluster-autoscaler"
  role   = aws_iam_role.workload["cluster-autoscaler"].id
  policy = data.aws_iam_policy_document.cluster_autoscaler.json
}

# The AWS Load Balancer Controller only keeps the ingress gateway's pod IPs registered in the
# target group Terraform made (a TargetGroupBinding); it creates no load balancers, so it gets
# the describe calls and register/deregister on that one target group, not its full policy.
data "aws_iam_policy_document" "load_balancer_controller" {
  statement {
    sid = "Describe"
    actions = [
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetHealth",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeListeners",
      "elasticloadbalancing:DescribeTags",
      "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeSubnets",
      "ec2:DescribeVpcs",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "RegisterGatewayPods"
    actions   = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
    resources = [var.target_group_arn]
  }
}

resource "aws_iam_role_policy" "load_balancer_controller" {
  name   = "target-group-binding"
  role   = aws_iam_role.workload["aws-load-balancer-controller"].id
  policy = data.aws_iam_policy_document.load_balancer_controller.json
}

# External Secrets (release external-secrets in external-secrets; its SecretStores name no
# credentials, so the controller's own role reads): exactly the secrets the ExternalSecrets of
# argocd/platform/ reference, decrypted with their key through Secrets Manager only.
data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid       = "ReadPlatformSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = var.external_secret_arns
  }
  statement {
    sid       = "SecretsKey"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "external_secrets" {
  name   = "read-platform-secrets"
  role   = aws_iam_role.workload["external-secrets"].id
  policy = data.aws_iam_policy_document.external_secrets.json
}

# Loki (release loki in monitoring, ServiceAccount loki for writers, readers and the compactor):
# its own bucket only; the compactor deletes chunks past retention, hence DeleteObject.
data "aws_iam_policy_document" "loki" {
  statement {
    sid       = "ListBucket"
    actions   = ["s3:ListBucket"]
    resources = [var.loki_bucket_arn]
  }
  statement {
    sid       = "Objects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.loki_bucket_arn}/*"]
  }
  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.loki_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "loki" {
  name   = "loki-bucket"
  role   = aws_iam_role.workload["loki"].id
  policy = data.aws_iam_policy_document.loki.json
}
