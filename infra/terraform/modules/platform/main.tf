# Per-environment pieces the other modules share: the alarm topic, the Secrets Manager key and
# the secrets the binary reads, and the image repository.

module "alarms_key" {
  source      = "../kms-key"
  name        = "${var.name}alarms"
  description = "Alarm topic of ${var.name}"
  # CloudWatch alarms and RDS event subscriptions publish to the encrypted topic.
  service_principals = ["cloudwatch.amazonaws.com", "events.rds.amazonaws.com"]
  tags               = var.tags
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}alarms"
  kms_master_key_id = module.alarms_key.arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "alarm_emails" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

module "secrets_key" {
  source      = "../kms-key"
  name        = "${var.name}secrets"
  description = "Secrets Manager secrets of ${var.name}"
  tags        = var.tags
}

# Secrets the binary reads by name (shared/src/aws.rs Names::secret, shared/src/secrets.rs).
# Created empty: no value is in Terraform or its state.
#   signing-keys-<purpose>: the first process that needs a set writes it (load_or_create), later
#     rotations by `tiketi keys rotate <purpose>`;
#   toss-secret-key: put by an operator (`aws secretsmanager put-secret-value`) from Toss's
#     merchant console (live_sk_... in prod, test_sk_... in staging).
resource "aws_secretsmanager_secret" "tiketi" {
  for_each                = toset(["signing-keys-access", "signing-keys-service", "signing-keys-admission", "toss-secret-key"])
  name                    = "${var.name}${each.key}"
  description             = "Tiketi ${each.key}"
  kms_key_id              = module.secrets_key.arn
  recovery_window_in_days = 30
  tags                    = var.tags
}

# Secrets the platform reads through External Secrets (argocd/platform/manifests/<env>/), created
# empty; someone with access writes each value (docs/operations.md "Terraform (AWS)", "Applying"):
#   connections: JSON TIKETI_DATABASE_URL, TIKETI_REDIS_URL, built from the database user of the
#     roles and redis-auth-token (the Secret tiketi-connections in the namespace tiketi);
#   alertmanager-receivers: JSON slack-webhook-url, pagerduty-routing-key (namespace monitoring).
resource "aws_secretsmanager_secret" "platform" {
  for_each                = toset(["connections", "alertmanager-receivers"])
  name                    = "${var.name}${each.key}"
  description             = "Tiketi ${each.key} (External Secrets)"
  kms_key_id              = module.secrets_key.arn
  recovery_window_in_days = 30
  tags                    = var.tags
}

# --- Image repository ---------------------------------------------------------------------------

module "ecr_key" {
  source      = "../kms-key"
  name        = "${var.name}ecr"
  description = "Images of ${var.name}"
  tags        = var.tags
}

resource "aws_ecr_repository" "tiketi" {
  name = "${trimsuffix(var.name, "-")}/tiketi"
  # A tag names one image forever: a rollback redeploys exactly what ran before.
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = module.ecr_key.arn
  }
  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "tiketi" {
  repository = aws_ecr_repository.tiketi.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Untagged images go after 7 days"
        selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 7 }
        action       = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest 200 tagged images (rollbacks reach far back)"
        selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 200 }
        action       = { type = "expire" }
      },
    ]
  })
}
