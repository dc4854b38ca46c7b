#!/usr/bin/env python3
"""Proves check_terraform.py can fail: each case copies infra/terraform/ (and the code and k8s
files the checker reads) to a temporary directory, breaks one thing there (never in the
repository), runs the named check on the copy and expects it to fail.

    python3 tools/infra-check/selftest_check_terraform.py [WORD ...]

With WORDs, only the cases whose check or description contains one of them (the unbroken copy
always runs). The validate/plan_mocked cases need the offline provider mirror; without it they
are reported as skipped.

Prints one line per case and `N passed, M failed`; exits 1 if a broken configuration went
unnoticed or the unbroken copy does not pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHECK = HERE / "check_terraform.py"
# What the checker reads besides infra/terraform.
COPIED = [
    "infra/terraform",
    "k8s/overlays/dev",
    "k8s/overlays/staging",
    "k8s/overlays/prod",
    "k8s/base/kustomization.yaml",
    "argocd",
    "shared/src/aws.rs",
    "shared/src/keys.rs",
    "shared/src/secrets.rs",
    "src/app.rs",
    "functions/payment-webhook/src/aws.rs",
    "functions/stats-report/src/main.rs",
]
TF = "infra/terraform/"


def sub(path: str, old: str, new: str, count: int = 1):
    """A mutation: replace `old` (a regex) by `new` in <copy>/<path>; it must match."""

    def apply(root: Path):
        f = root / path
        text, n = re.subn(old, new, f.read_text(), count=count, flags=re.MULTILINE)
        if n == 0:
            raise AssertionError(f"mutation does not apply: {old!r} not in {path}")
        f.write_text(text)

    return apply


def write(path: str, text: str):
    def apply(root: Path):
        f = root / path
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)

    return apply


def both(*mutations):
    def apply(root: Path):
        for m in mutations:
            m(root)

    return apply


M = TF + "modules/"
CASES = [
    ("parse", "a syntax error", write(M + "network/broken.tf", 'resource "aws_vpc" "x" {\n  cidr_block = \n}\n')),
    ("fmt", "misaligned arguments", sub(M + "network/main.tf", r"  enable_dns_support   = true", "  enable_dns_support = true")),
    ("providers_pinned", "an unpinned aws provider", sub(M + "data/versions.tf", r'version = "~> 5.80"', 'version = ">= 5.0"')),
    ("providers_pinned", "a provider used but not declared", write(M + "data/extra.tf", 'resource "random_id" "x" {\n  byte_length = 4\n}\n')),
    ("providers_pinned", "no allowed_account_ids", sub(TF + "envs/prod/versions.tf", r"  allowed_account_ids = \[var.account_id\]\n", "")),
    ("backend_locking", "no state locking", sub(TF + "envs/prod/versions.tf", r"    use_lockfile = true\n", "")),
    ("backend_locking", "unencrypted state", sub(TF + "envs/staging/versions.tf", r"encrypt      = true", "encrypt      = false")),
    ("three_zones", "two zones", sub(M + "network/variables.tf", r"  default     = 3\n", "  default     = 2\n")),
    ("three_zones", "prod with two zones", sub(TF + "envs/prod/main.tf", r"az_count    = 3", "az_count    = 2")),
    ("nat_per_zone_prod", "one NAT gateway in prod", sub(TF + "envs/prod/main.tf", r"single_nat_gateway = false", "single_nat_gateway = true")),
    ("nat_per_zone_prod", "every zone routed to the first NAT", sub(M + "network/main.tf", r"var.single_nat_gateway \? local.azs\[0\] : each.key", "local.azs[0]")),
    ("rds", "single-AZ PostgreSQL", sub(M + "data/rds.tf", r"multi_az               = true", "multi_az               = false")),
    ("rds", "unencrypted storage", sub(M + "data/rds.tf", r"storage_encrypted     = true", "storage_encrypted     = false")),
    ("rds", "no deletion protection", sub(M + "data/rds.tf", r"deletion_protection       = true", "deletion_protection       = false")),
    ("rds", "3-day backups in staging", sub(TF + "envs/staging/main.tf", r"backup_retention_days    = 7", "backup_retention_days    = 3")),
    ("rds", "retention validation removed", sub(M + "data/variables.tf", r"var.backup_retention_days >= 7", "var.backup_retention_days >= 1")),
    ("rds", "rds.force_ssl off", sub(M + "data/rds.tf", r'(name  = "rds.force_ssl"\n    value = )"1"', r'\1"0"')),
    ("rds", "a literal master password", sub(M + "data/rds.tf", r"  manage_master_user_password   = true\n", '  password = "hunter2hunter2"\n')),
    ("elasticache", "no automatic failover", sub(M + "data/redis.tf", r"automatic_failover_enabled = true", "automatic_failover_enabled = false")),
    ("elasticache", "no in-transit encryption", sub(M + "data/redis.tf", r"transit_encryption_enabled = true", "transit_encryption_enabled = false")),
    ("elasticache", "no replica in staging", sub(TF + "envs/staging/main.tf", r"redis_replicas_per_shard = 1", "redis_replicas_per_shard = 0")),
    ("elasticache", "no AUTH token", sub(M + "data/redis.tf", r"  auth_token                 = .*\n", "")),
    ("sqs_dead_letters_sse", "a queue without redrive", sub(M + "messaging/main.tf", r"  redrive_policy = jsonencode\(\{\n.*?\n.*?\n  \}\)\n", "")),
    ("sqs_dead_letters_sse", "an unencrypted queue", sub(M + "messaging/main.tf", r"  kms_master_key_id                 = module.key.arn\n", "")),
    ("sqs_dead_letters_sse", "a queue the code does not have", sub(M + "messaging/main.tf", r'"hold-expiry"      =', '"hold-expiries"    =')),
    ("sqs_dead_letters_sse", "maxReceiveCount drifting from the code", sub(M + "messaging/main.tf", r"max_receives = 5", "max_receives = 3")),
    ("sns_topic", "SNS envelope instead of raw delivery", sub(M + "messaging/main.tf", r"raw_message_delivery = true", "raw_message_delivery = false")),
    ("sns_topic", "hold-expiry subscribed to domain events", sub(M + "messaging/main.tf", r'("hold-expiry"\s+= \{ visibility = 30, domain_events = )false', r"\1true")),
    ("dynamodb_inbox", "TTL on another attribute", sub(M + "messaging/main.tf", r'attribute_name = "expires_at"', 'attribute_name = "ttl"')),
    ("dynamodb_inbox", "no PITR", sub(M + "messaging/main.tf", r"(point_in_time_recovery \{\n    enabled = )true", r"\1false")),
    ("dynamodb_inbox", "provisioned capacity", sub(M + "messaging/main.tf", r'"PAY_PER_REQUEST"', '"PROVISIONED"')),
    ("s3_buckets", "public access not blocked", sub(M + "messaging/s3.tf", r"restrict_public_buckets = true", "restrict_public_buckets = false")),
    ("s3_buckets", "versioning suspended", sub(M + "edge/main.tf", r'status = "Enabled"\n  \}\n\}', 'status = "Suspended"\n  }\n}')),
    ("s3_buckets", "no TLS-only policy", sub(TF + "bootstrap/main.tf", r'"aws:SecureTransport"', '"aws:UserAgent"')),
    ("lambdas", "another runtime", sub(M + "lambdas/main.tf", r'"provided.al2023"', '"provided.al2"')),
    ("lambdas", "x86 in prod", sub(TF + "envs/prod/main.tf", r'lambda_architecture          = "arm64"', 'lambda_architecture          = "x86_64"')),
    ("lambdas", "no tracing", sub(M + "lambdas/main.tf", r'mode = "Active"', 'mode = "PassThrough"')),
    ("lambdas", "schedule in UTC", sub(M + "lambdas/main.tf", r'"Asia/Seoul"', '"UTC"')),
    ("waf", "a managed group removed", sub(M + "edge/waf.tf", r'name        = "AWSManagedRulesKnownBadInputsRuleSet"', 'name        = "AWSManagedRulesSQLiRuleSet"')),
    ("waf", "the join limit on the wrong path", sub(M + "edge/waf.tf", r"\^/api/events/\[\^/\]\+/queue\$", "^/api/events/[^/]+/holds$")),
    ("waf", "the login limit only counting", sub(M + "edge/waf.tf", r'(name     = "rate-login"\n    priority = 50\n    action \{\n      )block', r"\1count")),
    ("waf", "no association", sub(M + "edge/waf.tf", r'resource "aws_wafv2_web_acl_association" "alb" \{\n.*?\n.*?\n\}\n', "")),
    ("eks", "Secrets not encrypted", sub(M + "eks/main.tf", r'resources = \["secrets"\]', "resources = []")),
    ("eks", "no audit log", sub(M + "eks/main.tf", r'"audit", ', "")),
    ("eks", "IMDS reachable from pods", sub(M + "eks/main.tf", r"http_put_response_hop_limit = 1", "http_put_response_hop_limit = 2")),
    ("eks", "the API open to the internet allowed", sub(M + "eks/variables.tf", r'!contains\(var.public_access_cidrs, "0.0.0.0/0"\)', "true")),
    ("irsa_names", "an overlay ARN for another role name", sub("k8s/overlays/prod/irsa.yaml", r"role/tiketi-prod-payment", "role/tiketi-payment-prod")),
    ("irsa_names", "roles named without the environment", sub(M + "stack/main.tf", r'name = "tiketi-\$\{var.environment\}-"', 'name = "tiketi-"')),
    ("irsa_names", "a Tiketi role dropped", sub(M + "eks/workload_iam.tf", r"    realtime = \[\"service\"\]\n", "")),
    ("irsa_names", "KEDA allowed to receive", sub(M + "eks/workload_iam.tf", r'actions   = \["sqs:GetQueueAttributes"\]\n    resources = \["arn', 'actions   = ["sqs:GetQueueAttributes", "sqs:ReceiveMessage"]\n    resources = ["arn')),
    ("irsa_names", "trust without the subject", sub(M + "eks/workload_iam.tf", r'variable = "\$\{local.oidc\}:sub"', 'variable = "${local.oidc}:amr"')),
    ("platform_contract", "Loki's role trusting another namespace", sub(M + "eks/workload_iam.tf", r'"loki"                         = \{ namespace = "monitoring"', '"loki"                         = { namespace = "logging"')),
    ("platform_contract", "no role for External Secrets", sub(M + "eks/workload_iam.tf", r'      "external-secrets"             = \{[^\n]*\n', "")),
    ("platform_contract", "a chart annotated with a role Terraform does not create", sub("argocd/platform/values/prod/keda.yaml", r"role/tiketi-prod-keda-operator", "role/tiketi-prod-keda")),
    ("platform_contract", "External Secrets installed into another namespace", sub("argocd/envs/staging/apps/external-secrets.yaml", r"    namespace: external-secrets", "    namespace: eso")),
    ("platform_contract", "Loki's ServiceAccount renamed in its values", sub("argocd/platform/values/loki.yaml", r"^  name: loki$", "  name: loki-s3")),
    ("platform_contract", "an overlay ServiceAccount carrying another role's ARN", sub("k8s/overlays/staging/irsa.yaml", r"role/tiketi-staging-auth", "role/tiketi-staging-ticket")),
    ("platform_contract", "an ExternalSecret key Terraform does not create", sub("argocd/platform/manifests/tiketi-connections/prod/externalsecret.yaml", r"key: tiketi-prod-connections", "key: tiketi-prod-database", count=2)),
    ("platform_contract", "Jaeger's ExternalSecret (in chart values) naming another secret", sub("argocd/platform/values/prod/jaeger.yaml", r"key: tiketi-prod-jaeger-opensearch", "key: tiketi-prod-jaeger-es")),
    ("platform_contract", "a referenced secret dropped from Terraform", sub(M + "platform/main.tf", r'toset\(\["connections", "alertmanager-receivers"\]\)', 'toset(["connections"])')),
    ("platform_contract", "External Secrets allowed more than the referenced secrets", sub(M + "eks/workload_iam.tf", r"resources = var.external_secret_arns", "resources = concat(var.external_secret_arns, [\"${local.secret_arn}*\"])")),
    ("platform_contract", "an OpenSearch secret in dev that nothing reads", sub(TF + "envs/dev/main.tf", r"jaeger_opensearch        = false", "jaeger_opensearch        = true")),
    ("platform_contract", "Loki's values naming another bucket", sub("argocd/platform/values/staging/loki.yaml", r"chunks: tiketi-staging-loki", "chunks: tiketi-staging-logs")),
    ("platform_contract", "chunks expiring before Loki's retention", sub(M + "observability/loki.tf", r"days = var.loki_retention_days \+ 1", "days = 7")),
    ("platform_contract", "Loki's retention changed without Terraform", sub("argocd/platform/values/loki.yaml", r"retention_period: 744h", "retention_period: 2160h")),
    ("platform_contract", "the load balancer controller looking for another cluster", sub("argocd/platform/values/prod/aws-load-balancer-controller.yaml", r"clusterName: tiketi-prod-eks", "clusterName: tiketi-prod")),
    ("platform_contract", "a TargetGroupBinding to another environment's target group", sub("argocd/platform/manifests/istio-gateway/prod/targetgroupbinding.yaml", r"targetgroup/tiketi-prod-istio-gw/", "targetgroup/tiketi-staging-istio-gw/")),
    ("platform_contract", "Envoy listening on a port the target group does not use", sub("argocd/platform/values/istio-gateway.yaml", r"targetPort: 8443", "targetPort: 443")),
    ("iam_least_privilege", "a wildcard action", sub(M + "eks/workload_iam.tf", r'actions   = \["sns:Publish"\]', 'actions   = ["sns:*"]')),
    ("iam_least_privilege", "writes on every bucket", sub(M + "lambdas/main.tf", r'resources = \["\$\{var.reports_bucket_arn\}/\*"\]', 'resources = ["*"]')),
    ("secrets_ecr", "a secret name the code does not read", sub(M + "platform/main.tf", r'"toss-secret-key"\]', '"toss-key"]')),
    ("secrets_ecr", "mutable image tags", sub(M + "platform/main.tf", r'"IMMUTABLE"', '"MUTABLE"')),
    ("no_secret_values", "a Toss key in the code", sub(M + "lambdas/main.tf", r'TIKETI_LOG             = "info"\n        TIKETI_SECRETS', 'TIKETI_LOG             = "info"\n        TIKETI_TOSS_SECRET_KEY = "live_sk_abcdefabcdef"\n        TIKETI_SECRETS')),
    ("no_secret_values", "a default database URL", sub(TF + "envs/prod/variables.tf", r'variable "stats_report_database_url" \{\n', 'variable "stats_report_database_url" {\n  default = "x"\n')),
    ("no_secret_values", "a committed tfvars file", write(TF + "envs/prod/prod.tfvars", 'account_id = "123456789012"\n')),
    ("kms_logs_endpoints", "a key without rotation", sub(M + "kms-key/main.tf", r"enable_key_rotation     = true", "enable_key_rotation     = false")),
    ("kms_logs_endpoints", "a log group kept forever, unencrypted", sub(M + "network/main.tf", r"  kms_key_id        = module.logs_key.arn\n", "")),
    ("alarms", "no DLQ alarm", sub(M + "messaging/alarms.tf", r"  threshold           = 0\n", "  threshold           = 10\n")),
    ("alarms", "no Redis replication-lag alarm", sub(M + "data/alarms.tf", r"metric = \"ReplicationLag\"", 'metric = "CurrConnections"')),
    ("validate", "a reference to an undeclared variable", sub(M + "network/main.tf", r"var.flow_log_retention_days", "var.flow_log_days")),
    ("plan_mocked", "for_each over security group ids known only after apply",
     sub(M + "data/rds.tf", r"for_each                     = var.client_security_group_ids", "for_each                     = toset(values(var.client_security_group_ids))")),
]
OFFLINE = {"validate", "plan_mocked"}


def run(root: Path, only: str) -> tuple[int, str]:
    done = subprocess.run([sys.executable, str(CHECK), "--root", str(root), "--only", only], capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def fresh(root: Path):
    if root.exists():
        shutil.rmtree(root)
    for rel in COPIED:
        src, dst = ROOT / rel, root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl"))
        else:
            shutil.copy2(src, dst)


def main() -> int:
    words = sys.argv[1:]
    wanted = lambda *text: not words or any(w in " ".join(text) for w in words)  # noqa: E731
    mirror = Path(os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins"))
    offline = shutil.which("terraform") is not None and (mirror / "registry.terraform.io/hashicorp/aws").is_dir()
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        fresh(root)
        names = [n for n, _, _ in CASES if offline or n not in OFFLINE]
        rc, out = run(root, ",".join(dict.fromkeys(names)))
        ok = rc == 0 and "FAIL" not in out
        print(f"{'ok  ' if ok else 'FAIL'} unbroken copy passes{'' if ok else chr(10) + out}")
        passed, failed = passed + ok, failed + (not ok)
        for check, what, mutate in CASES:
            if not wanted(check, what):
                continue
            if check in OFFLINE and not offline:
                print(f"skip {check}: {what} (no provider mirror at {mirror})")
                continue
            fresh(root)
            try:
                mutate(root)
            except AssertionError as e:
                print(f"FAIL {check}: {what}: {e}")
                failed += 1
                continue
            rc, out = run(root, check)
            ok = rc != 0 and f"FAIL {check}" in out
            detail = "" if ok else f" (exit {rc})\n{out}"
            print(f"{'ok  ' if ok else 'FAIL'} {check}: caught {what}{detail}")
            passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
