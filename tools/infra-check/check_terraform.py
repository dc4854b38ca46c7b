#!/usr/bin/env python3
"""Offline checks of Tiketi's Terraform (infra/terraform/).

Parses every .tf file with python-hcl2 and asserts what docs/operations.md ("Terraform (AWS)",
"Availability") promises: three zones, NAT per zone in prod, Multi-AZ encrypted PostgreSQL with
point-in-time recovery, Redis with automatic failover and encryption, a dead-letter queue and KMS
on every queue, the webhook inbox and reports bucket as the code uses them, both Lambdas on
provided.al2023, the WAF rules, EKS encryption and logging, locked remote state, pinned
providers, IAM role names equal to the IRSA ARNs of k8s/overlays/<env>/irsa.yaml, least-privilege
policies and no secret values; and the contract with argocd/ (platform_contract): every role ARN
there and in the overlays names a role whose trust admits the ServiceAccount carrying it, every
ExternalSecret's key a secret Terraform makes, Loki's bucket, the gateway's target group. Names are compared with the Rust code that uses them
(shared/src/aws.rs, shared/src/secrets.rs, functions/payment-webhook/src/aws.rs).

Also runs `terraform fmt -check`; and, when the AWS provider is available offline (a filesystem
mirror: $TF_PLUGIN_DIR, default /opt/tf-plugins), `terraform validate` of every root and
`terraform test` in each environment (envs/<env>/tests/: a full plan against a mocked AWS
provider, which catches what validate cannot: for_each over values unknown until apply,
plan-time argument checks). Without a mirror those two are skipped and say so.

Prints PASS/FAIL per named check, then `terraform checks: N passed` (or `N passed, M failed`);
exits 1 on any failure. Needs python3, python-hcl2 8.x, PyYAML, and `terraform` on PATH.

    python3 tools/infra-check/check_terraform.py [--root DIR] [--only CHECK,...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import hcl2
    import yaml
    from hcl2 import SerializationOptions
except ImportError as e:  # say plainly what is missing rather than a traceback
    sys.exit(f"check_terraform: missing Python package ({e.name}): pip install 'python-hcl2==8.1.4' pyyaml")

ENVS = ["dev", "staging", "prod"]
ROLES = ["auth", "ticket", "payment", "stats", "realtime", "worker"]
REGION = "ap-northeast-2"
MANAGED_RULE_GROUPS = {
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
}
# Actions a policy may grant on Resource "*" without a condition: those AWS offers no
# resource-level form for (reads and listings).
STAR_RESOURCE_OK = re.compile(
    r"^(sns:ListTopics|autoscaling:Describe\w+|ec2:Describe\w+|ec2:GetInstanceTypesFromInstanceRequirements"
    r"|eks:DescribeNodegroup|elasticloadbalancing:Describe\w+)$"
)
SECRET_ATTRS = re.compile(r"^(password|master_password|auth_token|secret_string|secret_key|access_key|token|passwords)$")


class Tf:
    """Every parsed file, and the blocks of each kind, with the directory (module) they are in."""

    def __init__(self, root: Path):
        self.root = root
        self.files: dict[Path, dict] = {}
        self.errors: list[str] = []
        opts = SerializationOptions(strip_string_quotes=True, with_comments=False)
        for path in sorted(root.rglob("*.tf")):
            if ".terraform" in path.parts:
                continue
            try:
                with path.open() as f:
                    self.files[path] = hcl2.load(f, serialization_options=opts)
            except Exception as e:  # noqa: BLE001 - any parser error is a finding
                self.errors.append(f"{path.relative_to(root)}: {str(e).splitlines()[0][:200]}")

    def blocks(self, kind: str):
        """(dir, label..., body) for every block of `kind` (resource, data, module, variable, ...)."""
        for path, doc in self.files.items():
            for entry in doc.get(kind, []):
                yield path, entry

    def resources(self, rtype: str, kind: str = "resource"):
        """[(path, name, body)] of every resource (or data source) of type `rtype`."""
        found = []
        for path, entry in self.blocks(kind):
            for t, named in entry.items():
                if t == rtype:
                    for name, body in named.items():
                        found.append((path, name, body))
        return found

    def all_resources(self):
        for path, entry in self.blocks("resource"):
            for t, named in entry.items():
                for name, body in named.items():
                    yield path, t, name, body

    def variable(self, module_dir: Path, name: str) -> dict | None:
        for path, entry in self.blocks("variable"):
            if path.parent == module_dir and name in entry:
                return entry[name]
        return None

    def locals_of(self, module_dir: Path) -> dict:
        merged: dict = {}
        for path, entry in self.blocks("locals"):
            if path.parent == module_dir:
                merged.update({k: v for k, v in entry.items() if k != "__is_block__"})
        return merged

    def module_call(self, module_dir: Path, name: str) -> dict | None:
        for path, entry in self.blocks("module"):
            if path.parent == module_dir and name in entry:
                return entry[name]
        return None

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))


def first(body: dict, key: str) -> dict:
    """A nested block (python-hcl2 gives a list of them) or {}."""
    value = body.get(key)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return value if isinstance(value, dict) else {}


def all_of(body: dict, key: str) -> list[dict]:
    value = body.get(key)
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


def text(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def default_of(tf: Tf, module_dir: Path, expr) -> object:
    """The literal value, or the default of the `var.x` it names in `module_dir`."""
    if isinstance(expr, str):
        m = re.fullmatch(r"\$\{var\.(\w+)\}", expr)
        if m:
            var = tf.variable(module_dir, m.group(1))
            return None if var is None else var.get("default")
    return expr


def validations(tf: Tf, module_dir: Path, name: str) -> str:
    var = tf.variable(module_dir, name) or {}
    return " ".join(text(v.get("condition", "")) for v in all_of(var, "validation"))


# --- what the Rust code names ---------------------------------------------------------------------


class Code:
    def __init__(self, repo: Path):
        aws = (repo / "shared/src/aws.rs").read_text()
        self.queue_suffixes = sorted(set(re.findall(r'Queue::\w+ => "([a-z-]+)"', aws)))
        takes = re.search(r"fn takes_domain_events.*?matches!\(self, ([^)]*)\)", aws, re.S)
        variants = dict(re.findall(r'Queue::(\w+) => "([a-z-]+)"', aws))
        self.domain_event_queues = sorted(variants[v] for v in re.findall(r"Queue::(\w+)", takes.group(1))) if takes else []
        m = re.search(r"MAX_RECEIVES: u32 = (\d+)", aws)
        self.max_receives = int(m.group(1)) if m else None
        self.topic = "domain-events" if "{}domain-events" in aws else None
        self.inbox = "webhook-inbox" if "{}webhook-inbox" in aws else None
        self.bucket = "reports" if "{}reports" in aws else None
        webhook = (repo / "functions/payment-webhook/src/aws.rs").read_text()
        m = re.search(r'\.item\("(\w+)", AttributeValue::N\(expires_at', webhook)
        self.ttl_attribute = m.group(1) if m else None
        keys = (repo / "shared/src/keys.rs").read_text()
        self.key_purposes = sorted(set(re.findall(r'KeyPurpose::\w+ => "(\w+)"', keys)))
        secrets = (repo / "shared/src/secrets.rs").read_text()
        self.signing_key_format = "signing-keys-" if 'format!("signing-keys-{}"' in secrets else None
        app = (repo / "src/app.rs").read_text()
        self.other_secrets = sorted(set(re.findall(r'names\.secret\("([a-z-]+)"\)', app)))


# --- checks ---------------------------------------------------------------------------------------


def check_parse(tf: Tf) -> list[str]:
    problems = list(tf.errors)
    if len(tf.files) < 10:
        problems.append(f"only {len(tf.files)} .tf files parsed under {tf.root}")
    return problems


def check_fmt(tf: Tf) -> list[str]:
    exe = shutil.which("terraform")
    if not exe:
        return ["`terraform` is not on PATH (terraform >= 1.10 is needed for fmt)"]
    run = subprocess.run([exe, "fmt", "-check", "-recursive", "-no-color", str(tf.root)], capture_output=True, text=True)
    if run.returncode != 0:
        return [f"terraform fmt would change: {' '.join(run.stdout.split()) or run.stderr.strip()[:300]}"]
    return []


def provider_mirror() -> Path | None:
    mirror = Path(os.environ.get("TF_PLUGIN_DIR", "/opt/tf-plugins"))
    return mirror if shutil.which("terraform") and (mirror / "registry.terraform.io/hashicorp/aws").is_dir() else None


def terraform_run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["terraform", f"-chdir={cwd}", *args], capture_output=True, text=True, env=env)


def check_offline_runs(tf: Tf) -> tuple[list[str] | None, list[str] | None]:
    """`terraform validate` of every root, and `terraform test` (a plan against a mocked AWS
    provider, envs/<env>/tests/) of every environment; (None, None) without a provider mirror."""
    mirror = provider_mirror()
    if mirror is None:
        return None, None
    validate: list[str] = []
    plan: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "terraform"
        shutil.copytree(tf.root, copy, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl"))
        zips = Path(tmp) / "lambda"
        zips.mkdir()
        for fn in ["payment-webhook", "stats-report"]:
            (zips / f"tiketi-{fn}.zip").write_bytes(b"stand-in")
        env = dict(os.environ, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", TF_VAR_lambda_zip_dir=str(zips))
        for root in roots(tf):
            d = copy / root.relative_to(tf.root)
            init = terraform_run(["init", "-backend=false", "-input=false", "-no-color", f"-plugin-dir={mirror}"], d, env)
            if init.returncode != 0:
                validate.append(f"{tf.rel(root)}: init: {' '.join(init.stderr.split())[:400]}")
                continue
            val = terraform_run(["validate", "-json", "-no-color"], d, env)
            try:
                diags = json.loads(val.stdout).get("diagnostics", [])
            except json.JSONDecodeError:
                diags = [{"severity": "error", "summary": val.stderr.strip()[:400]}]
            for diag in diags:
                where = diag.get("range", {}).get("filename", "")
                validate.append(f"{tf.rel(root)}: {diag['severity']}: {diag['summary']} {where}".strip())
            if root.parent.name != "envs":
                continue
            if not list((root / "tests").glob("*.tftest.hcl")):
                plan.append(f"{tf.rel(root)}: no tests/*.tftest.hcl")
                continue
            test = terraform_run(["test", "-no-color"], d, env)
            if test.returncode != 0:
                lines = [ln for ln in test.stdout.splitlines() + test.stderr.splitlines() if ln.strip() and "CLI config" not in ln and "terraformrc" not in ln]
                errors = [ln.strip() for ln in lines if "Error" in ln or ln.strip().startswith("on ")]
                plan.append(f"{tf.rel(root)}: terraform test failed: {' | '.join(errors[:6]) or ' | '.join(lines[-6:])}")
    return validate, plan


def roots(tf: Tf) -> list[Path]:
    return [tf.root / "bootstrap"] + [tf.root / "envs" / e for e in ENVS]


def check_providers(tf: Tf) -> list[str]:
    problems = []
    dirs = {p.parent for p in tf.files}
    for d in sorted(dirs):
        blocks = [e for p, e in tf.blocks("terraform") if p.parent == d]
        uses = {t.split("_")[0] for p, t, _, _ in tf.all_resources() if p.parent == d}
        uses |= {t.split("_")[0] for p, e in tf.blocks("data") if p.parent == d for t in e if t != "__is_block__"}
        if not blocks:
            problems.append(f"{tf.rel(d)}: no terraform block (required_version, required_providers)")
            continue
        block = blocks[0]
        if not str(block.get("required_version", "")).startswith(">= 1.1"):
            problems.append(f"{tf.rel(d)}: required_version must be >= 1.10 (use_lockfile), got {block.get('required_version')!r}")
        declared = {}
        for rp in all_of(block, "required_providers"):
            declared.update({k: v for k, v in rp.items() if k != "__is_block__"})
        for name, spec in declared.items():
            version = spec.get("version", "") if isinstance(spec, dict) else ""
            if not spec.get("source", "").startswith("hashicorp/") if isinstance(spec, dict) else True:
                problems.append(f"{tf.rel(d)}: provider {name} without a hashicorp/ source")
            if not re.fullmatch(r"(~> ?\d+\.\d+(\.\d+)?|= ?\d+\.\d+\.\d+|\d+\.\d+\.\d+)", version):
                problems.append(f"{tf.rel(d)}: provider {name} version {version!r} is not pinned (~> x.y or exact)")
        if "aws" in declared and not declared["aws"].get("version", "").startswith("~> 5."):
            problems.append(f"{tf.rel(d)}: hashicorp/aws must be ~> 5.x")
        for used in uses - set(declared) - {"terraform"}:
            problems.append(f"{tf.rel(d)}: uses provider {used} without declaring it in required_providers")
    for root in roots(tf):
        providers = [e for p, e in tf.blocks("provider") if p.parent == root]
        regions = [e["aws"].get("region") for e in providers if "aws" in e]
        if regions != [REGION]:
            problems.append(f"{tf.rel(root)}: one aws provider in {REGION} expected, got {regions}")
        if providers and "allowed_account_ids" not in providers[0].get("aws", {}):
            problems.append(f"{tf.rel(root)}: aws provider without allowed_account_ids")
    return problems


def check_backend(tf: Tf) -> list[str]:
    problems = []
    for env in ENVS:
        d = tf.root / "envs" / env
        backends = [b for p, e in tf.blocks("terraform") if p.parent == d for b in all_of(e, "backend")]
        s3 = backends[0].get("s3") if backends else None
        if not s3:
            problems.append(f"envs/{env}: no s3 backend")
            continue
        if s3.get("use_lockfile") is not True and not s3.get("dynamodb_table"):
            problems.append(f"envs/{env}: backend without locking (use_lockfile = true or dynamodb_table)")
        if s3.get("encrypt") is not True:
            problems.append(f"envs/{env}: backend without encrypt = true")
        if s3.get("key") != f"{env}/terraform.tfstate":
            problems.append(f"envs/{env}: state key {s3.get('key')!r} is not {env}/terraform.tfstate (one state per env)")
    boot = tf.root / "bootstrap"
    buckets = [(p, n) for p, n, _ in tf.resources("aws_s3_bucket") if p.parent == boot]
    if len(buckets) != 1:
        problems.append(f"bootstrap: one state bucket expected, found {len(buckets)}")
    return problems


def check_zones(tf: Tf) -> list[str]:
    problems = []
    net = tf.root / "modules/network"
    if default_of(tf, net, "${var.az_count}") != 3:
        problems.append("modules/network: az_count must default to 3")
    if ">= 3" not in validations(tf, net, "az_count"):
        problems.append("modules/network: az_count needs a validation >= 3")
    for kind in ["public", "private", "database"]:
        subnets = [b for p, n, b in tf.resources("aws_subnet") if p.parent == net and n == kind]
        if not subnets or "local.azs" not in text(subnets[0].get("for_each")):
            problems.append(f"modules/network: {kind} subnets must be one per zone (for_each over local.azs)")
    stack = tf.root / "modules/stack"
    for env in ENVS:
        call = tf.module_call(tf.root / "envs" / env, "tiketi") or {}
        az = call.get("az_count", default_of(tf, stack, "${var.az_count}"))
        if az != 3:
            problems.append(f"envs/{env}: az_count {az!r}, expected 3")
    eks = tf.root / "modules/eks"
    groups = [b for p, n, b in tf.resources("aws_eks_node_group") if p.parent == eks]
    if not groups or "local.node_groups" not in text(groups[0].get("for_each")):
        problems.append("modules/eks: node groups must be created per zone (for_each over local.node_groups)")
    return problems


def check_nat(tf: Tf) -> list[str]:
    problems = []
    net = tf.root / "modules/network"
    nat = [b for p, n, b in tf.resources("aws_nat_gateway") if p.parent == net]
    if not nat or "local.nat_keys" not in text(nat[0].get("for_each")):
        problems.append("modules/network: NAT gateways must be for_each over local.nat_keys")
    nat_keys = tf.locals_of(net).get("nat_keys", "")
    if text(nat_keys) != "${var.single_nat_gateway ? [local.azs[0]] : local.azs}":
        problems.append(f"modules/network: nat_keys must be one per zone unless single_nat_gateway, got {nat_keys!r}")
    routes = [b for p, n, b in tf.resources("aws_route_table") if p.parent == net and n == "private"]
    if not routes or "each.key" not in text(routes[0].get("route")):
        problems.append("modules/network: each zone's private route table must use its own zone's NAT gateway")
    prod = tf.module_call(tf.root / "envs/prod", "tiketi") or {}
    if prod.get("single_nat_gateway") is not False:
        problems.append(f"envs/prod: single_nat_gateway must be false (NAT per zone), got {prod.get('single_nat_gateway')!r}")
    return problems


def check_rds(tf: Tf) -> list[str]:
    problems = []
    data = tf.root / "modules/data"
    dbs = tf.resources("aws_db_instance") + tf.resources("aws_rds_cluster")
    if len(dbs) != 1:
        return [f"one PostgreSQL instance expected, found {len(dbs)}"]
    path, _, db = dbs[0]
    want = {
        "engine": "postgres",
        "multi_az": True,
        "storage_encrypted": True,
        "deletion_protection": True,
        "iam_database_authentication_enabled": True,
        "performance_insights_enabled": True,
        "manage_master_user_password": True,
        "publicly_accessible": False,
        "skip_final_snapshot": False,
    }
    for key, value in want.items():
        if db.get(key) != value:
            problems.append(f"{tf.rel(path)}: {key} = {db.get(key)!r}, expected {value!r}")
    if not str(default_of(tf, data, db.get("engine_version"))).startswith("15"):
        problems.append(f"{tf.rel(path)}: PostgreSQL 15 expected")
    for key in ["kms_key_id", "performance_insights_kms_key_id", "parameter_group_name", "monitoring_role_arn"]:
        if not db.get(key):
            problems.append(f"{tf.rel(path)}: {key} missing")
    if "password" in db:
        problems.append(f"{tf.rel(path)}: a password argument: RDS must manage it (manage_master_user_password)")
    retention = db.get("backup_retention_period")
    if retention != "${var.backup_retention_days}" or ">= 7" not in validations(tf, data, "backup_retention_days"):
        problems.append(f"{tf.rel(path)}: backup_retention_period must be var.backup_retention_days validated >= 7")
    for env in ENVS:
        days = (tf.module_call(tf.root / "envs" / env, "tiketi") or {}).get("backup_retention_days")
        if not isinstance(days, int) or days < 7:
            problems.append(f"envs/{env}: backup_retention_days {days!r} < 7 (PITR window)")
    groups = [b for p, n, b in tf.resources("aws_db_parameter_group") if p.parent == data]
    params = {x.get("name"): str(x.get("value")) for g in groups for x in all_of(g, "parameter")}
    if not groups or groups[0].get("family") != "postgres15":
        problems.append("modules/data: a postgres15 parameter group expected")
    for name, value in {"synchronous_commit": "on", "rds.force_ssl": "1"}.items():
        if params.get(name) != value:
            problems.append(f"modules/data: parameter {name} = {params.get(name)!r}, expected {value!r}")
    if not params.get("log_min_duration_statement", "").isdigit():
        problems.append("modules/data: parameter log_min_duration_statement must be set (ms)")
    return problems


def check_redis(tf: Tf) -> list[str]:
    problems = []
    data = tf.root / "modules/data"
    groups = tf.resources("aws_elasticache_replication_group")
    if len(groups) != 1:
        return [f"one ElastiCache replication group expected, found {len(groups)}"]
    path, _, rg = groups[0]
    for key in ["automatic_failover_enabled", "multi_az_enabled", "at_rest_encryption_enabled", "transit_encryption_enabled"]:
        if rg.get(key) is not True:
            problems.append(f"{tf.rel(path)}: {key} must be true")
    if rg.get("transit_encryption_mode") != "required":
        problems.append(f"{tf.rel(path)}: transit_encryption_mode must be required (TLS only)")
    if not rg.get("kms_key_id"):
        problems.append(f"{tf.rel(path)}: kms_key_id missing")
    auth = text(rg.get("auth_token", "")) + text(rg.get("user_group_ids", ""))
    if "${" not in auth:
        problems.append(f"{tf.rel(path)}: AUTH (auth_token from Secrets Manager's generator, or an RBAC user group) missing")
    if "secretsmanager" not in auth and not rg.get("user_group_ids"):
        problems.append(f"{tf.rel(path)}: the AUTH token must come from Secrets Manager")
    snapshots = default_of(tf, data, rg.get("snapshot_retention_limit"))
    if not isinstance(snapshots, int) or snapshots < 1:
        problems.append(f"{tf.rel(path)}: snapshot_retention_limit {snapshots!r} < 1")
    # Cluster mode: shards and replicas per shard when on; one shard of 1 + replicas when off.
    if text(rg.get("num_node_groups")) != "${var.redis_cluster_mode ? var.redis_shards : null}" or text(
        rg.get("replicas_per_node_group")
    ) != "${var.redis_cluster_mode ? var.redis_replicas_per_shard : null}":
        problems.append(f"{tf.rel(path)}: num_node_groups/replicas_per_node_group must follow var.redis_cluster_mode")
    if ">= 1" not in validations(tf, data, "redis_replicas_per_shard"):
        problems.append("modules/data: redis_replicas_per_shard needs a validation >= 1")
    for env in ENVS:
        call = tf.module_call(tf.root / "envs" / env, "tiketi") or {}
        replicas = call.get("redis_replicas_per_shard")
        if not isinstance(replicas, int) or replicas < 1:
            problems.append(f"envs/{env}: redis_replicas_per_shard {replicas!r} < 1 (no failover target)")
        if call.get("redis_cluster_mode") is True and call.get("redis_replicas_per_shard", 0) < 1:
            problems.append(f"envs/{env}: cluster mode without replicas")
    secrets = [b for p, n, b in tf.resources("aws_secretsmanager_secret") if p.parent == data and "redis" in text(b.get("name"))]
    if not secrets or not secrets[0].get("kms_key_id"):
        problems.append("modules/data: the Redis AUTH token must be kept in a KMS-encrypted Secrets Manager secret")
    return problems


def dead_letter_targets(tf: Tf) -> set[str]:
    """Names of the aws_sqs_queue resources something dead-letters into: a redrive policy's
    deadLetterTargetArn, a function's dead_letter_config or on-failure destination, a schedule's
    dead_letter_config."""
    targets = set()
    for _, _, _, body in tf.all_resources():
        blob = text(body)
        for m in re.finditer(r'(deadLetterTargetArn|target_arn|destination|"arn")\W{0,8}(\$\{)?aws_sqs_queue\.(\w+)', blob):
            targets.add(m.group(3))
    return targets


def check_queues(tf: Tf, code: Code) -> list[str]:
    problems = []
    dlqs = dead_letter_targets(tf)
    queues = tf.resources("aws_sqs_queue")
    if not queues:
        return ["no SQS queues"]
    for path, name, q in queues:
        where = f"{tf.rel(path)}: aws_sqs_queue.{name}"
        if not q.get("kms_master_key_id") and q.get("sqs_managed_sse_enabled") is not True:
            problems.append(f"{where}: no server-side encryption")
        if name in dlqs:
            if q.get("message_retention_seconds") != 1209600:
                problems.append(f"{where}: a dead-letter queue keeps messages 14 days (1209600 s)")
            continue
        redrive = text(q.get("redrive_policy", ""))
        m = re.search(r"deadLetterTargetArn = aws_sqs_queue\.(\w+)", redrive)
        if not m or m.group(1) not in dlqs:
            problems.append(f"{where}: no redrive policy to a dead-letter queue")
        if "maxReceiveCount" not in redrive:
            problems.append(f"{where}: redrive policy without maxReceiveCount")
    msg = tf.root / "modules/messaging"
    local = tf.locals_of(msg)
    declared = sorted(local.get("queues", {}).keys())
    if declared != code.queue_suffixes:
        problems.append(f"modules/messaging: queues {declared} != the code's {code.queue_suffixes} (shared/src/aws.rs)")
    if local.get("max_receives") != code.max_receives:
        problems.append(f"modules/messaging: maxReceiveCount {local.get('max_receives')} != Queue::MAX_RECEIVES {code.max_receives}")
    if local.get("queues", {}).get("reports", {}).get("visibility") != 900:
        problems.append("modules/messaging: the reports queue's visibility timeout must be 900 s (the function's limit)")
    names = {n: text(b.get("name")) for p, n, b in queues if p.parent == msg}
    if names.get("this") != "${var.name}${each.key}" or names.get("dead_letters") != "${var.name}${each.key}-dlq":
        problems.append(f"modules/messaging: queue names must be <prefix><suffix> and <prefix><suffix>-dlq, got {names}")
    return problems


def check_topic(tf: Tf, code: Code) -> list[str]:
    problems = []
    msg = tf.root / "modules/messaging"
    topics = {n: b for p, n, b in tf.resources("aws_sns_topic")}
    for name, topic in topics.items():
        if not topic.get("kms_master_key_id"):
            problems.append(f"aws_sns_topic.{name}: not KMS-encrypted")
    domain = [b for p, n, b in tf.resources("aws_sns_topic") if p.parent == msg]
    if not domain or domain[0].get("name") != f"${{var.name}}{code.topic}":
        problems.append(f"modules/messaging: the topic must be named <prefix>{code.topic}")
    subs = [b for p, n, b in tf.resources("aws_sns_topic_subscription") if p.parent == msg]
    if not subs:
        return problems + ["modules/messaging: no topic subscriptions"]
    for sub in subs:
        if sub.get("protocol") != "sqs" or sub.get("raw_message_delivery") is not True:
            problems.append("modules/messaging: subscriptions must be sqs with raw_message_delivery = true")
    local = tf.locals_of(msg).get("queues", {})
    subscribed = sorted(k for k, v in local.items() if v.get("domain_events"))
    if subscribed != code.domain_event_queues:
        problems.append(f"modules/messaging: subscribed queues {subscribed} != takes_domain_events {code.domain_event_queues}")
    policies = [b for p, n, b in tf.resources("aws_iam_policy_document", "data") if p.parent == msg and n == "from_topic"]
    if not policies or "aws:SourceArn" not in text(policies[0]):
        problems.append("modules/messaging: queue policies must admit only the topic (aws:SourceArn)")
    return problems


def check_dynamodb(tf: Tf, code: Code) -> list[str]:
    problems = []
    tables = tf.resources("aws_dynamodb_table")
    if len(tables) != 1:
        return [f"one DynamoDB table expected, found {len(tables)}"]
    path, _, t = tables[0]
    where = tf.rel(path)
    if t.get("name") != f"${{var.name}}{code.inbox}":
        problems.append(f"{where}: table must be named <prefix>{code.inbox}")
    if t.get("billing_mode") != "PAY_PER_REQUEST":
        problems.append(f"{where}: billing_mode must be PAY_PER_REQUEST")
    if t.get("hash_key") != "id":
        problems.append(f"{where}: hash key must be id (the inbox key)")
    ttl = first(t, "ttl")
    if ttl.get("attribute_name") != code.ttl_attribute or ttl.get("enabled") is not True:
        problems.append(f"{where}: TTL must be enabled on {code.ttl_attribute!r} (the code's), got {ttl}")
    if first(t, "point_in_time_recovery").get("enabled") is not True:
        problems.append(f"{where}: point-in-time recovery off")
    sse = first(t, "server_side_encryption")
    if sse.get("enabled") is not True or not sse.get("kms_key_arn"):
        problems.append(f"{where}: SSE with a customer-managed KMS key expected")
    return problems


def bucket_ref(body: dict) -> str | None:
    m = re.search(r"aws_s3_bucket\.(\w+)\.(id|bucket)", text(body.get("bucket", "")))
    return m.group(1) if m else None


def check_s3(tf: Tf, code: Code) -> list[str]:
    problems = []
    buckets = tf.resources("aws_s3_bucket")
    if not buckets:
        return ["no S3 buckets"]

    def attached(rtype: str, path: Path, name: str) -> list[dict]:
        return [b for p, n, b in tf.resources(rtype) if p.parent == path.parent and bucket_ref(b) == name]

    for path, name, _ in buckets:
        where = f"{tf.rel(path)}: aws_s3_bucket.{name}"
        sse = attached("aws_s3_bucket_server_side_encryption_configuration", path, name)
        if not sse or not first(first(sse[0], "rule"), "apply_server_side_encryption_by_default").get("sse_algorithm"):
            problems.append(f"{where}: no default encryption")
        versioning = attached("aws_s3_bucket_versioning", path, name)
        if not versioning or first(versioning[0], "versioning_configuration").get("status") != "Enabled":
            problems.append(f"{where}: versioning not enabled")
        pab = attached("aws_s3_bucket_public_access_block", path, name)
        flags = ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]
        if not pab or any(pab[0].get(f) is not True for f in flags):
            problems.append(f"{where}: public access not fully blocked")
        lifecycle = attached("aws_s3_bucket_lifecycle_configuration", path, name)
        rules = [r for lc in lifecycle for r in all_of(lc, "rule")]
        if not rules or not any(all_of(r, "noncurrent_version_expiration") for r in rules):
            problems.append(f"{where}: no lifecycle rule expiring noncurrent versions")
        policies = attached("aws_s3_bucket_policy", path, name)
        docs = [b for p, n, b in tf.resources("aws_iam_policy_document", "data") if p.parent == path.parent]
        tls_only = any("aws:SecureTransport" in text(d) and f"aws_s3_bucket.{name}.arn" in text(d) for d in docs)
        if not policies or not tls_only:
            problems.append(f"{where}: no TLS-only bucket policy (deny aws:SecureTransport = false)")
    msg = tf.root / "modules/messaging"
    reports = [b for p, n, b in buckets if p.parent == msg]
    if not reports or reports[0].get("bucket") != f"${{var.name}}{code.bucket}":
        problems.append(f"modules/messaging: the reports bucket must be named <prefix>{code.bucket}")
    sse = [b for p, n, b in tf.resources("aws_s3_bucket_server_side_encryption_configuration") if p.parent == msg]
    if not sse or "aws:kms" not in text(sse[0]):
        problems.append("modules/messaging: the reports bucket must use SSE-KMS")
    lc = [b for p, n, b in tf.resources("aws_s3_bucket_lifecycle_configuration") if p.parent == msg]
    if not lc or "transition" not in text(lc[0]):
        problems.append("modules/messaging: the reports lifecycle must transition objects")
    return problems


def check_lambdas(tf: Tf) -> list[str]:
    problems = []
    lam = tf.root / "modules/lambdas"
    fns = tf.resources("aws_lambda_function")
    local = tf.locals_of(lam).get("functions", {})
    if sorted(local) != ["payment-webhook", "stats-report"]:
        problems.append(f"modules/lambdas: functions {sorted(local)} != ['payment-webhook', 'stats-report']")
    for dirname in ["payment-webhook", "stats-report"]:
        if not (tf.root.parent.parent / "functions" / dirname).is_dir():
            problems.append(f"functions/{dirname} does not exist")
    if not fns:
        return problems + ["no Lambda functions"]
    for path, name, fn in fns:
        where = f"{tf.rel(path)}: aws_lambda_function.{name}"
        want = {"runtime": "provided.al2023", "handler": "bootstrap", "architectures": ["${var.architecture}"]}
        for key, value in want.items():
            if fn.get(key) != value:
                problems.append(f"{where}: {key} = {fn.get(key)!r}, expected {value!r}")
        if first(fn, "tracing_config").get("mode") != "Active":
            problems.append(f"{where}: X-Ray tracing not Active")
        if "reserved_concurrent_executions" not in fn:
            problems.append(f"{where}: no reserved concurrency")
        if not first(fn, "dead_letter_config").get("target_arn"):
            problems.append(f"{where}: no dead-letter queue")
        if not fn.get("kms_key_arn"):
            problems.append(f"{where}: environment not encrypted with a KMS key")
        if "filebase64sha256" not in text(fn.get("source_code_hash")):
            problems.append(f"{where}: source_code_hash must follow the zip")
    for key, spec in local.items():
        if not isinstance(spec.get("concurrency"), (int, str)) or not spec.get("timeout"):
            problems.append(f"modules/lambdas: {key} needs timeout and concurrency")
    if default_of(tf, lam, "${var.architecture}") != "arm64":
        problems.append("modules/lambdas: architecture must default to arm64")
    for env in ENVS:
        arch = (tf.module_call(tf.root / "envs" / env, "tiketi") or {}).get("lambda_architecture")
        if arch != "arm64":
            problems.append(f"envs/{env}: lambda_architecture {arch!r}, expected arm64 (the release zips)")
    if local.get("stats-report", {}).get("timeout") != 900:
        problems.append("modules/lambdas: stats-report timeout must equal the reports queue's visibility (900 s)")
    invoke = [b for p, n, b in tf.resources("aws_lambda_function_event_invoke_config") if p.parent == lam]
    if not invoke or not first(first(invoke[0], "destination_config"), "on_failure").get("destination"):
        problems.append("modules/lambdas: no on-failure destination for asynchronous invocations")
    url = [b for p, n, b in tf.resources("aws_lambda_function_url") if p.parent == lam]
    if not url or "payment-webhook" not in text(url[0].get("function_name")):
        problems.append("modules/lambdas: payment-webhook needs a function URL")
    schedules = [b for p, n, b in tf.resources("aws_scheduler_schedule") if p.parent == lam]
    if not schedules or schedules[0].get("schedule_expression_timezone") != "Asia/Seoul" or "cron(" not in text(schedules[0]):
        problems.append("modules/lambdas: the daily report schedule must be a cron in Asia/Seoul")
    elif '"aws.events"' not in text(first(schedules[0], "target").get("input")) and "aws.events" not in text(first(schedules[0], "target").get("input")):
        problems.append("modules/lambdas: the schedule must send {source: aws.events} (functions/stats-report/src/main.rs)")
    esm = [b for p, n, b in tf.resources("aws_lambda_event_source_mapping") if p.parent == lam]
    if not esm or "ReportBatchItemFailures" not in text(esm[0].get("function_response_types")):
        problems.append("modules/lambdas: the reports queue mapping must use ReportBatchItemFailures")
    groups = [b for p, n, b in tf.resources("aws_cloudwatch_log_group") if p.parent == lam]
    if not groups:
        problems.append("modules/lambdas: no log groups (retention)")
    return problems


def check_waf(tf: Tf) -> list[str]:
    problems = []
    acls = tf.resources("aws_wafv2_web_acl")
    if len(acls) != 1:
        return [f"one WAF web ACL expected, found {len(acls)}"]
    path, _, acl = acls[0]
    rules = all_of(acl, "rule")
    groups = set()
    for r in rules:
        statement = first(first(r, "statement"), "managed_rule_group_statement")
        if statement.get("vendor_name") == "AWS" and "count" not in first(r, "override_action"):
            groups.add(statement.get("name"))
    missing = MANAGED_RULE_GROUPS - groups
    if missing:
        problems.append(f"{tf.rel(path)}: managed rule groups missing (or only counting): {sorted(missing)}")
    rate = [r for r in rules if "rate_based_statement" in text(r)]
    if not rate:
        problems.append(f"{tf.rel(path)}: no rate-based rule")

    def scoped(pattern: str) -> bool:
        for r in rate:
            t = text(r)
            if "scope_down_statement" in t and re.search(pattern, t) and "POST" in t and "block" in first(r, "action"):
                return True
        return False

    if not scoped(r"/api/events/.*?/queue"):
        problems.append(f"{tf.rel(path)}: no blocking rate rule scoped to POST /api/events/{{id}}/queue (the join)")
    if not scoped(r"/api/auth/login"):
        problems.append(f"{tf.rel(path)}: no blocking rate rule scoped to POST /api/auth/login")
    if first(acl, "default_action") == {}:
        problems.append(f"{tf.rel(path)}: no default action")
    assoc = tf.resources("aws_wafv2_web_acl_association")
    if not assoc or "aws_lb." not in text(assoc[0][2].get("resource_arn")):
        problems.append("the web ACL must be associated with the ALB")
    lbs = tf.resources("aws_lb")
    if any(b.get("load_balancer_type") != "application" for _, _, b in lbs):
        problems.append("WAF attaches only to an application load balancer (not an NLB)")
    if not tf.resources("aws_wafv2_web_acl_logging_configuration"):
        problems.append("no WAF logging configuration")
    api = Path("/work/shared/API.md")
    if api.is_file():
        doc = api.read_text()
        if "`/api/events/{id}/queue`" not in doc or "`/api/auth/login`" not in doc:
            problems.append("/work/shared/API.md no longer names the join/login paths the rate rules scope to")
    return problems


def check_eks(tf: Tf) -> list[str]:
    problems = []
    clusters = tf.resources("aws_eks_cluster")
    if len(clusters) != 1:
        return [f"one EKS cluster expected, found {len(clusters)}"]
    path, _, c = clusters[0]
    where = tf.rel(path)
    enc = first(c, "encryption_config")
    if enc.get("resources") != ["secrets"] or not first(enc, "provider").get("key_arn"):
        problems.append(f"{where}: Secrets envelope encryption with a KMS key missing")
    logs = set(c.get("enabled_cluster_log_types") or [])
    if not {"api", "audit", "authenticator"} <= logs:
        problems.append(f"{where}: control-plane logging must include api, audit, authenticator (got {sorted(logs)})")
    vpc = first(c, "vpc_config")
    if vpc.get("endpoint_private_access") is not True:
        problems.append(f"{where}: private API endpoint off")
    if "public_access_cidrs" not in text(vpc):
        problems.append(f"{where}: public endpoint must be limited to var.public_access_cidrs")
    eks = tf.root / "modules/eks"
    if "0.0.0.0/0" not in validations(tf, eks, "public_access_cidrs"):
        problems.append("modules/eks: public_access_cidrs must refuse 0.0.0.0/0")
    if not tf.resources("aws_iam_openid_connect_provider"):
        problems.append("modules/eks: no OIDC provider (IRSA)")
    groups = [b for p, n, b in tf.resources("aws_eks_node_group")]
    if not groups:
        problems.append("modules/eks: no managed node groups")
    lt = [b for p, n, b in tf.resources("aws_launch_template") if p.parent == eks]
    meta = first(lt[0], "metadata_options") if lt else {}
    if meta.get("http_tokens") != "required" or meta.get("http_put_response_hop_limit") != 1:
        problems.append("modules/eks: nodes must require IMDSv2 with hop limit 1 (pods use IRSA, not the node role)")
    groups_of = {e: (tf.module_call(tf.root / "envs" / e, "tiketi") or {}).get("node_groups", {}) for e in ENVS}
    if len(groups_of["prod"]) <= len(groups_of["staging"]):
        problems.append("envs/prod must have more node groups than staging")
    return problems


def check_irsa(tf: Tf, repo: Path) -> list[str]:
    problems = []
    eks = tf.root / "modules/eks"
    local = tf.locals_of(eks)
    roles = sorted(local.get("signing_keys_of", {}).keys())
    if roles != sorted(ROLES):
        problems.append(f"modules/eks: workload roles {roles} != {sorted(ROLES)}")
    workloads = text(local.get("workloads", ""))
    if "namespace = var.namespace, service_account = role" not in workloads:
        problems.append("modules/eks: each Tiketi role's ServiceAccount must be <namespace>/<role>")
    pattern = r'"([a-z-]+)" = \{namespace = "([a-z-]+)", service_account = "([a-z-]+)"\}'
    extras = {k: (ns, sa) for k, ns, sa in re.findall(pattern, workloads)}
    if extras.get("keda-operator") != ("keda", "keda-operator"):
        problems.append("modules/eks: no role for keda/keda-operator")
    if "cluster-autoscaler" not in extras:
        problems.append("modules/eks: no cluster autoscaler role")
    role_res = [b for p, n, b in tf.resources("aws_iam_role") if p.parent == eks and n == "workload"]
    if not role_res or role_res[0].get("name") != "${var.name}${each.key}" or role_res[0].get("for_each") != "${local.workloads}":
        problems.append("modules/eks: workload roles must be named <prefix><key> for each of local.workloads")
    assume = [b for p, n, b in tf.resources("aws_iam_policy_document", "data") if p.parent == eks and n == "workload_assume"]
    if not assume or ":sub" not in text(assume[0]) or "system:serviceaccount:" not in text(assume[0]) or ":aud" not in text(assume[0]):
        problems.append("modules/eks: the IRSA trust policy must pin sub (namespace/service account) and aud")
    namespace = default_of(tf, eks, "${var.namespace}")
    stack = tf.root / "modules/stack"
    name_expr = tf.locals_of(stack).get("name")
    if name_expr != "tiketi-${var.environment}-":
        problems.append(f"modules/stack: name prefix must be tiketi-<environment>-, got {name_expr!r}")
    keda = [b for p, n, b in tf.resources("aws_iam_policy_document", "data") if p.parent == eks and n == "keda"]
    if not keda or text(keda[0].get("statement", [{}])[0].get("actions")) != '["sqs:GetQueueAttributes"]':
        problems.append("modules/eks: KEDA's role may only call sqs:GetQueueAttributes")
    for env in ENVS:
        call = tf.module_call(tf.root / "envs" / env, "tiketi") or {}
        environment = call.get("environment")
        if environment != env:
            problems.append(f"envs/{env}: environment = {environment!r}")
            continue
        prefix = f"tiketi-{env}-"
        overlay = repo / "k8s/overlays" / env
        irsa = overlay / "irsa.yaml"
        if not irsa.is_file():
            problems.append(f"{irsa.relative_to(repo)} missing")
            continue
        kust = (overlay / "kustomization.yaml").read_text()
        if f"TIKETI_AWS_NAME_PREFIX={prefix}" not in kust:
            problems.append(f"k8s/overlays/{env}: TIKETI_AWS_NAME_PREFIX is not {prefix} (the Terraform names)")
        found = {}
        for doc in yaml.safe_load_all(irsa.read_text()):
            if not doc or doc.get("kind") != "ServiceAccount":
                continue
            arn = (doc.get("metadata", {}).get("annotations") or {}).get("eks.amazonaws.com/role-arn", "")
            m = re.fullmatch(r"arn:aws:iam::\d{12}:role/([\w+=,.@-]+)", arn)
            if not m:
                problems.append(f"k8s/overlays/{env}/irsa.yaml: {doc['metadata'].get('name')}: malformed ARN {arn!r}")
                continue
            found[doc["metadata"]["name"]] = m.group(1)
        for role in ROLES:
            want = f"{prefix}{role}"
            if found.get(role) != want:
                problems.append(f"k8s/overlays/{env}/irsa.yaml: ServiceAccount {role} -> {found.get(role)!r}, Terraform makes {want}")
        for sa in set(found) - set(ROLES):
            problems.append(f"k8s/overlays/{env}/irsa.yaml: ServiceAccount {sa} has no Terraform role")
        if namespace != "tiketi":
            problems.append(f"modules/eks: namespace {namespace!r} != tiketi (k8s/base)")
    return problems


# --- the contract with argocd/ and k8s/overlays/<env> ----------------------------------------------

ROLE_IN_TEXT = re.compile(r"arn:aws:iam::\d{12}:role/(tiketi-[a-z]+-[a-z0-9-]+)")
SA_ANNOTATION = ("serviceAccount", "annotations", "eks.amazonaws.com/role-arn")
# Where a chart puts a role ARN that is not its own ServiceAccount annotation: values path -> how to
# find the annotated ServiceAccount's name (values path, chart default; {release} is the release name).
CHART_ROLE_PATHS = {
    ("podIdentity", "aws", "irsa", "roleArn"): (("serviceAccount", "operator", "name"), "keda-operator"),
    # cluster-autoscaler: the chart's full name with cloudProvider aws and no nameOverride.
    ("rbac", "serviceAccount", "annotations", "eks.amazonaws.com/role-arn"):
        (("rbac", "serviceAccount", "name"), "{release}-aws-cluster-autoscaler"),
}


def dig(d, *keys, default=None):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def merge_values(base, over):
    """Helm's merge of a later values file: maps merge, anything else replaces, null deletes."""
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    out = dict(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_values(out.get(k), v)
    return out


def leaf_paths(d, path=()):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from leaf_paths(v, path + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from leaf_paths(v, path + (i,))
    else:
        yield path, d


def yaml_docs(path: Path) -> list:
    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    except (yaml.YAMLError, OSError):
        return []


def nested_objects(node, kind: str):
    """Every mapping of `kind` anywhere in a document (an ExternalSecret in a chart's extraObjects too)."""
    if isinstance(node, dict):
        if node.get("kind") == kind:
            yield node
        for v in node.values():
            yield from nested_objects(v, kind)
    elif isinstance(node, list):
        for v in node:
            yield from nested_objects(v, kind)


def terraform_workloads(tf: Tf) -> dict[str, tuple[str, str]]:
    """Role key (tiketi-<env>-<key>) -> (namespace, ServiceAccount) of its trust policy."""
    eks = tf.root / "modules/eks"
    local = tf.locals_of(eks)
    workloads = text(local.get("workloads", ""))
    pattern = r'"([a-z-]+)" = \{namespace = "([a-z-]+)", service_account = "([a-z-]+)"\}'
    out = {k: (ns, sa) for k, ns, sa in re.findall(pattern, workloads)}
    if "namespace = var.namespace, service_account = role" in workloads:
        namespace = default_of(tf, eks, "${var.namespace}")
        out.update({r: (namespace, r) for r in local.get("signing_keys_of", {})})
    return out


def argocd_service_accounts(repo: Path, env: str) -> tuple[dict[str, list[tuple[str, str, str]]], list[str]]:
    """Role name -> [(namespace, ServiceAccount, where)] for every role ARN the environment's
    Argo CD Applications annotate: a chart's ServiceAccount (destination namespace; the name from
    values, else the chart's full name), a known chart path (KEDA's operator), or a ServiceAccount
    object in a Git source; and the ARNs nothing explains."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    problems: list[str] = []
    apps_dir = repo / "argocd/envs" / env / "apps"
    for f in sorted(apps_dir.glob("*.yaml")):
        for app in yaml_docs(f):
            if app.get("kind") != "Application":
                continue
            spec = app.get("spec") or {}
            srcs = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
            ns = dig(spec, "destination", "namespace")
            for src in srcs:
                if "chart" in src:
                    values: dict = {}
                    for v in dig(src, "helm", "valueFiles", default=[]) or []:
                        vp = repo / v.removeprefix("$values/")
                        docs = yaml_docs(vp) if vp.is_file() else []
                        values = merge_values(values, docs[0] if docs else {})
                    release = dig(src, "helm", "releaseName") or app["metadata"]["name"]
                    chart = src["chart"]
                    fullname = release if chart in release else f"{release}-{chart}"
                    for path, value in leaf_paths(values):
                        m = ROLE_IN_TEXT.search(str(value))
                        if not m:
                            continue
                        if path == SA_ANNOTATION:
                            sa = dig(values, "serviceAccount", "name") or fullname
                        elif path in CHART_ROLE_PATHS:
                            sa_path, default = CHART_ROLE_PATHS[path]
                            sa = dig(values, *sa_path) or default.format(release=release)
                        else:
                            problems.append(f"argocd/envs/{env}/apps/{f.name}: role {m.group(1)} at {'.'.join(map(str, path))}: "
                                            "no known ServiceAccount carries it")
                            continue
                        found.setdefault(m.group(1), []).append((ns, sa, f"argocd/envs/{env}/apps/{f.name}"))
                elif src.get("path") and "ref" not in src:
                    for mf in sorted((repo / src["path"]).rglob("*.y*ml")):
                        for obj in yaml_docs(mf):
                            arn = dig(obj, "metadata", "annotations", "eks.amazonaws.com/role-arn", default="")
                            m = ROLE_IN_TEXT.search(str(arn))
                            if obj.get("kind") == "ServiceAccount" and m:
                                found.setdefault(m.group(1), []).append(
                                    (dig(obj, "metadata", "namespace") or ns, obj["metadata"]["name"], str(mf.relative_to(repo))))
    return found, problems


def overlay_service_accounts(repo: Path, env: str) -> dict[str, list[tuple[str, str, str]]]:
    """Role name -> [(namespace, ServiceAccount, file)] of the ServiceAccounts k8s/overlays/<env>
    annotates (namespace: the object's, else the base's kustomization namespace)."""
    base = yaml_docs(repo / "k8s/base/kustomization.yaml")
    default_ns = (base[0] if base else {}).get("namespace", "default")
    found: dict[str, list[tuple[str, str, str]]] = {}
    for f in sorted((repo / "k8s/overlays" / env).rglob("*.y*ml")):
        for obj in yaml_docs(f):
            arn = dig(obj, "metadata", "annotations", "eks.amazonaws.com/role-arn", default="")
            m = ROLE_IN_TEXT.search(str(arn))
            if obj.get("kind") == "ServiceAccount" and m:
                found.setdefault(m.group(1), []).append(
                    (dig(obj, "metadata", "namespace") or default_ns, obj["metadata"]["name"], str(f.relative_to(repo))))
    return found


def secret_names(tf: Tf, env: str, resource_names: set[str] | None = None) -> set[str]:
    """The Secrets Manager secret names Terraform creates in `env` (of the named resources only)."""
    call = tf.module_call(tf.root / "envs" / env, "tiketi") or {}
    opensearch = call.get("jaeger_opensearch", default_of(tf, tf.root / "modules/stack", "${var.jaeger_opensearch}"))
    names = set()
    for path, name, body in tf.resources("aws_secretsmanager_secret"):
        if resource_names is not None and name not in resource_names:
            continue
        expr = str(body.get("name", ""))
        fe = body.get("for_each")
        if fe == "${local.opensearch}" and opensearch is False:
            continue
        keys = re.findall(r'"([a-z0-9-]+)"', text(fe)) if fe and "toset" in text(fe) else [None]
        for key in keys:
            resolved = expr.replace("${each.key}", key or "")
            m = re.fullmatch(r"\$\{var\.name\}([a-z0-9-]+)", resolved)
            if m:
                names.add(f"tiketi-{env}-{m.group(1)}")
    return names


def check_platform_contract(tf: Tf, repo: Path) -> list[str]:
    """What argocd/ and k8s/overlays/<env> expect of Terraform, for every environment: each role
    ARN names a role Terraform makes, trusting exactly the namespace/ServiceAccount that carries the
    annotation; each ExternalSecret's remote key is a secret Terraform makes and the External
    Secrets role may read, and that role reads no other; Loki's bucket and retention; the load
    balancer controller's cluster and VPC; the gateway's target group and port."""
    problems = []
    workloads = terraform_workloads(tf)
    eks = tf.root / "modules/eks"
    readable = {"platform", "jaeger_opensearch"}  # the resources whose ARNs reach external_secret_arns
    stack_eks = text(tf.module_call(tf.root / "modules/stack", "eks") or {})
    if "platform_secret_arns" not in stack_eks or "jaeger_opensearch_secret_arns" not in stack_eks:
        problems.append("modules/stack: external_secret_arns must be the platform secrets and Jaeger's")
    es_doc = [b for p, n, b in tf.resources("aws_iam_policy_document", "data") if p.parent == eks and n == "external_secrets"]
    if not es_doc or not any(st.get("resources") == "${var.external_secret_arns}" for st in statements(es_doc[0])):
        problems.append("modules/eks: the external-secrets role must read exactly var.external_secret_arns")
    for env in ENVS:
        prefix = f"tiketi-{env}-"
        annotated = argocd_service_accounts(repo, env)
        problems += annotated[1]
        carriers = dict(annotated[0])
        for role, where in overlay_service_accounts(repo, env).items():
            carriers.setdefault(role, []).extend(where)
        texts = set()
        for base in [repo / "argocd", repo / "k8s/overlays" / env]:
            for f in base.rglob("*.y*ml"):
                texts.update(r for r in ROLE_IN_TEXT.findall(f.read_text()) if r.startswith(prefix))
        for role in sorted(texts - set(carriers)):
            problems.append(f"{env}: role {role} is named in argocd/ or k8s/overlays/{env} but no ServiceAccount carries it")
        for role, uses in sorted(carriers.items()):
            if not role.startswith(prefix):
                continue  # another environment's file; that environment checks it
            key = role[len(prefix):]
            if key not in workloads:
                problems.append(f"{env}: {uses[0][2]} annotates with {role}, which Terraform does not create")
                continue
            for ns, sa, where in sorted(set(uses)):  # the tiketi app deploys the overlay: seen twice
                if (ns, sa) != workloads[key]:
                    problems.append(f"{env}: {where}: {role} is on {ns}/{sa}, but its trust policy admits "
                                    f"system:serviceaccount:{workloads[key][0]}:{workloads[key][1]}")
        # ExternalSecrets: every remote key a secret of this environment that the role may read.
        made = secret_names(tf, env)
        may_read = secret_names(tf, env, readable)
        referenced: dict[str, str] = {}
        for f in sorted((repo / "argocd").rglob("*.y*ml")):
            if env not in f.relative_to(repo / "argocd").parts:
                continue
            for doc in yaml_docs(f):
                for es in nested_objects(doc, "ExternalSecret"):
                    spec = es.get("spec") or {}
                    keys = [dig(d, "remoteRef", "key") for d in spec.get("data") or []]
                    keys += [dig(d, "extract", "key") for d in spec.get("dataFrom") or []]
                    for k in keys:
                        referenced[str(k)] = str(f.relative_to(repo))
        for k, where in sorted(referenced.items()):
            if k not in made:
                problems.append(f"{where}: ExternalSecret key {k} is not a secret Terraform creates in {env}")
            elif k not in may_read:
                problems.append(f"{where}: {k} exists but the external-secrets role may not read it")
        for k in sorted(may_read - set(referenced)):
            problems.append(f"{env}: the external-secrets role may read {k}, which no ExternalSecret references")
        problems += loki_and_edge_contract(tf, repo, env)
    return problems


def loki_and_edge_contract(tf: Tf, repo: Path, env: str) -> list[str]:
    problems = []
    obs = tf.root / "modules/observability"
    buckets = {n: b for p, n, b in tf.resources("aws_s3_bucket") if p.parent == obs}
    want = f"tiketi-{env}-loki"
    if (buckets.get("loki") or {}).get("bucket") != "${var.name}loki":
        problems.append("modules/observability: the Loki bucket must be named <prefix>loki")
    loki_env = yaml_docs(repo / f"argocd/platform/values/{env}/loki.yaml")
    names = dig(loki_env[0] if loki_env else {}, "loki", "storage", "bucketNames", default={}) or {}
    if not names or set(names.values()) != {want}:
        problems.append(f"argocd/platform/values/{env}/loki.yaml: bucketNames {names} must all be {want} (Terraform's bucket)")
    shared = yaml_docs(repo / "argocd/platform/values/loki.yaml")
    retention = str(dig(shared[0] if shared else {}, "loki", "limits_config", "retention_period", default=""))
    m = re.fullmatch(r"(\d+)h", retention)
    days = default_of(tf, obs, "${var.loki_retention_days}")
    if not m:
        problems.append(f"argocd/platform/values/loki.yaml: retention_period {retention!r} is not in hours")
    elif days != -(-int(m.group(1)) // 24):
        problems.append(f"modules/observability: loki_retention_days {days} != Loki's retention_period {retention}")
    rules = [b for p, n, b in tf.resources("aws_s3_bucket_lifecycle_configuration") if p.parent == obs and n == "loki"]
    chunk_rules = [r for r in all_of(rules[0] if rules else {}, "rule") if first(r, "expiration")]
    if len(chunk_rules) != 1 or first(chunk_rules[0], "filter").get("prefix") != "fake/" or \
            first(chunk_rules[0], "expiration").get("days") != "${var.loki_retention_days + 1}":
        problems.append("modules/observability: chunks (fake/, the single tenant) must expire one day after Loki's retention, nothing else")
    lbc = yaml_docs(repo / f"argocd/platform/values/{env}/aws-load-balancer-controller.yaml")
    lbc = lbc[0] if lbc else {}
    eks_name = tf.locals_of(tf.root / "modules/eks").get("cluster_name")
    if eks_name != "${var.name}eks" or lbc.get("clusterName") != f"tiketi-{env}-eks":
        problems.append(f"{env}: the load balancer controller's clusterName {lbc.get('clusterName')!r} is not Terraform's cluster tiketi-{env}-eks")
    vpc = [b for p, n, b in tf.resources("aws_vpc") if p.parent == tf.root / "modules/network"]
    if not vpc or "${var.name}vpc" not in text(vpc[0].get("tags")) or dig(lbc, "vpcTags", "Name") != f"tiketi-{env}-vpc":
        problems.append(f"{env}: the load balancer controller's vpcTags {lbc.get('vpcTags')} are not Terraform's VPC Name tiketi-{env}-vpc")
    edge = tf.root / "modules/edge"
    tg = [b for p, n, b in tf.resources("aws_lb_target_group") if p.parent == edge and n == "gateway"]
    port = default_of(tf, edge, (tg[0] if tg else {}).get("port"))
    if not tg or tg[0].get("name") != "${var.name}istio-gw" or tg[0].get("target_type") != "ip":
        problems.append("modules/edge: the gateway target group must be <prefix>istio-gw with IP targets")
    tgbs = [o for f in (repo / "argocd/platform/manifests/istio-gateway" / env).glob("*.y*ml")
            for o in yaml_docs(f) if o.get("kind") == "TargetGroupBinding"]
    arn = str(dig(tgbs[0] if tgbs else {}, "spec", "targetGroupARN", default=""))
    if len(tgbs) != 1 or f":targetgroup/tiketi-{env}-istio-gw/" not in arn or dig(tgbs[0], "spec", "targetType") != "ip":
        problems.append(f"argocd/platform/manifests/istio-gateway/{env}: one TargetGroupBinding (ip) to tiketi-{env}-istio-gw, got {arn!r}")
    gw_values = {}
    for v in ["argocd/platform/values/istio-gateway.yaml", f"argocd/platform/values/{env}/istio-gateway.yaml"]:
        docs = yaml_docs(repo / v)
        gw_values = merge_values(gw_values, docs[0] if docs else {})
    https = [p for p in dig(gw_values, "service", "ports", default=[]) or [] if isinstance(p, dict) and p.get("name") == "https"]
    if not https or https[0].get("targetPort") != port:
        problems.append(f"{env}: the gateway's https targetPort {https[0].get('targetPort') if https else None!r} "
                        f"is not the target group's port {port!r}")
    return problems


def statements(doc: dict) -> list[dict]:
    out = all_of(doc, "statement")
    for dyn in all_of(doc, "dynamic"):
        if "statement" in dyn:
            out.append(first(dyn["statement"], "content") or dyn["statement"].get("content", {}))
    return out


def check_iam(tf: Tf) -> list[str]:
    problems = []
    kms_module = tf.root / "modules/kms-key"
    for path, name, doc in tf.resources("aws_iam_policy_document", "data"):
        where = f"{tf.rel(path)}: {name}"
        for st in statements(doc):
            if st.get("effect", "Allow") == "Deny":
                continue
            actions = st.get("actions") or []
            if isinstance(actions, str):
                actions = [actions]
            if path.parent == kms_module:
                continue  # key policies: resource "*" is the key itself
            for a in actions:
                if a == "*" or a.endswith(":*"):
                    problems.append(f"{where}: wildcard action {a}")
            resources = st.get("resources") or []
            if resources == ["*"] and "condition" not in st:
                wide = [a for a in actions if not STAR_RESOURCE_OK.match(a)]
                if wide:
                    problems.append(f"{where}: {wide} on Resource * without a condition")
    return problems


def check_secrets_manager(tf: Tf, code: Code) -> list[str]:
    problems = []
    plat = tf.root / "modules/platform"
    secrets = [b for p, n, b in tf.resources("aws_secretsmanager_secret") if p.parent == plat and n == "tiketi"]
    if not secrets:
        return ["modules/platform: no secrets"]
    names = set(re.findall(r'"([a-z-]+)"', text(secrets[0].get("for_each"))))
    want = {f"{code.signing_key_format}{p}" for p in code.key_purposes} | set(code.other_secrets)
    if names != want:
        problems.append(f"modules/platform: secrets {sorted(names)} != the code's {sorted(want)}")
    if secrets[0].get("name") != "${var.name}${each.key}":
        problems.append("modules/platform: secrets must be named <prefix><name> (Names::secret)")
    for path, name, s in tf.resources("aws_secretsmanager_secret"):
        if not s.get("kms_key_id"):
            problems.append(f"{tf.rel(path)}: aws_secretsmanager_secret.{name} without a KMS key")
    for path, name, v in tf.resources("aws_secretsmanager_secret_version"):
        if path.parent == plat:
            problems.append(f"{tf.rel(path)}: a secret value for a binary-owned secret (signing keys, Toss key)")
    repos = tf.resources("aws_ecr_repository")
    if not repos:
        problems.append("no ECR repository")
    for path, name, r in repos:
        if r.get("image_tag_mutability") != "IMMUTABLE":
            problems.append(f"{tf.rel(path)}: ECR tags must be IMMUTABLE")
        if first(r, "image_scanning_configuration").get("scan_on_push") is not True:
            problems.append(f"{tf.rel(path)}: ECR scan_on_push off")
        if first(r, "encryption_configuration").get("encryption_type") != "KMS":
            problems.append(f"{tf.rel(path)}: ECR not KMS-encrypted")
    return problems


def check_no_secret_values(tf: Tf) -> list[str]:
    problems = []

    def walk(node, where: str):
        if isinstance(node, dict):
            for k, v in node.items():
                if SECRET_ATTRS.match(k) and isinstance(v, str) and v and "${" not in v:
                    problems.append(f"{where}: {k} is a literal")
                walk(v, where)
        elif isinstance(node, list):
            for v in node:
                walk(v, where)

    for path, doc in tf.files.items():
        walk(doc.get("resource", []), tf.rel(path))
        walk(doc.get("module", []), tf.rel(path))
        raw = path.read_text()
        for pattern, what in [
            (r"AKIA[0-9A-Z]{16}", "an AWS access key id"),
            (r"-----BEGIN [A-Z ]*PRIVATE KEY", "a private key"),
            (r"\b(live|test)_sk_\w+", "a Toss secret key"),
            (r"(postgres|postgresql|rediss?)://[^\s\"$]*:[^\s\"@$]+@", "a connection URL with a password"),
        ]:
            if re.search(pattern, raw):
                problems.append(f"{tf.rel(path)}: {what}")
    for path, entry in tf.blocks("variable"):
        for name, body in entry.items():
            if re.search(r"(password|secret|token|database_url)", name) and "default" in body:
                problems.append(f"{tf.rel(path)}: variable {name} has a default")
            if re.search(r"(password|database_url)", name) and body.get("sensitive") is not True:
                problems.append(f"{tf.rel(path)}: variable {name} not marked sensitive")
    for path in tf.root.rglob("*.tfvars"):
        problems.append(f"{tf.rel(path)}: a tfvars file in the repository (values belong to the account's records)")
    return problems


def check_encryption_and_logs(tf: Tf) -> list[str]:
    problems = []
    for path, name, key in tf.resources("aws_kms_key"):
        if key.get("enable_key_rotation") is not True:
            problems.append(f"{tf.rel(path)}: aws_kms_key.{name} without rotation")
    for path, name, group in tf.resources("aws_cloudwatch_log_group"):
        if not isinstance(group.get("retention_in_days"), (int, str)) or not group.get("kms_key_id"):
            problems.append(f"{tf.rel(path)}: log group {name} needs retention_in_days and kms_key_id")
    if not tf.resources("aws_flow_log"):
        problems.append("modules/network: no VPC flow logs")
    endpoints = [b for p, n, b in tf.resources("aws_vpc_endpoint") if b.get("vpc_endpoint_type") == "Gateway"]
    if not endpoints or not {"s3", "dynamodb"} <= set(re.findall(r'"(\w+)"', text(endpoints[0].get("for_each")))):
        problems.append("modules/network: S3 and DynamoDB gateway endpoints expected")
    return problems


def check_alarms(tf: Tf) -> list[str]:
    problems = []
    alarms = tf.resources("aws_cloudwatch_metric_alarm")
    blob = text([b for _, _, b in alarms]) + text([tf.locals_of(p.parent) for p, _, _ in alarms])
    for metric, what in [
        ("ApproximateNumberOfMessagesVisible", "dead-letter queue depth"),
        ("CPUUtilization", "RDS CPU"),
        ("FreeStorageSpace", "RDS free storage"),
        ("EngineCPUUtilization", "ElastiCache CPU"),
        ("DatabaseMemoryUsagePercentage", "ElastiCache memory"),
        ("ReplicationLag", "ElastiCache replication lag"),
        ("Errors", "Lambda errors"),
        ("Throttles", "Lambda throttles"),
    ]:
        if not re.search(rf"\b{metric}\b", blob):
            problems.append(f"no alarm on {what} ({metric})")
    msg = tf.root / "modules/messaging"
    dlq = [b for p, n, b in alarms if p.parent == msg]
    if not dlq or dlq[0].get("for_each") != "${aws_sqs_queue.dead_letters}" or dlq[0].get("threshold") != 0:
        problems.append("modules/messaging: every dead-letter queue needs an alarm at depth > 0")
    for path, name, a in alarms:
        if not a.get("alarm_actions"):
            problems.append(f"{tf.rel(path)}: alarm {name} notifies nobody")
    if not tf.resources("aws_db_event_subscription"):
        problems.append("no RDS event subscription (failovers)")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2], help="repository root")
    parser.add_argument("--only", default="", help="comma-separated check names to run (default: all)")
    args = parser.parse_args()
    repo = args.root.resolve()
    tf = Tf(repo / "infra/terraform")
    code = Code(repo)
    checks = [
        ("parse", lambda: check_parse(tf)),
        ("fmt", lambda: check_fmt(tf)),
        ("providers_pinned", lambda: check_providers(tf)),
        ("backend_locking", lambda: check_backend(tf)),
        ("three_zones", lambda: check_zones(tf)),
        ("nat_per_zone_prod", lambda: check_nat(tf)),
        ("rds", lambda: check_rds(tf)),
        ("elasticache", lambda: check_redis(tf)),
        ("sqs_dead_letters_sse", lambda: check_queues(tf, code)),
        ("sns_topic", lambda: check_topic(tf, code)),
        ("dynamodb_inbox", lambda: check_dynamodb(tf, code)),
        ("s3_buckets", lambda: check_s3(tf, code)),
        ("lambdas", lambda: check_lambdas(tf)),
        ("waf", lambda: check_waf(tf)),
        ("eks", lambda: check_eks(tf)),
        ("irsa_names", lambda: check_irsa(tf, repo)),
        ("platform_contract", lambda: check_platform_contract(tf, repo)),
        ("iam_least_privilege", lambda: check_iam(tf)),
        ("secrets_ecr", lambda: check_secrets_manager(tf, code)),
        ("no_secret_values", lambda: check_no_secret_values(tf)),
        ("kms_logs_endpoints", lambda: check_encryption_and_logs(tf)),
        ("alarms", lambda: check_alarms(tf)),
    ]
    offline = None

    def offline_run(index: int):
        nonlocal offline
        if offline is None:
            offline = check_offline_runs(tf)
        return offline[index]

    checks += [("validate", lambda: offline_run(0)), ("plan_mocked", lambda: offline_run(1))]
    only = {n for n in args.only.split(",") if n}
    unknown = only - {n for n, _ in checks}
    if unknown:
        parser.error(f"unknown checks: {sorted(unknown)}")
    checks = [(n, run) for n, run in checks if not only or n in only]
    passed = failed = 0
    for name, run in checks:
        try:
            problems = run()
        except Exception as e:  # noqa: BLE001 - a crash in one check is a failure of that check
            problems = [f"check crashed: {type(e).__name__}: {e}"]
        if problems is None:
            print(f"SKIP {name}: no provider mirror (set TF_PLUGIN_DIR to a directory holding hashicorp/aws)")
            continue
        if problems:
            failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"     {p}")
        else:
            passed += 1
            print(f"PASS {name}")
    print(f"terraform checks: {passed} passed" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
