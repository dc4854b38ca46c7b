#!/usr/bin/env python3
"""Offline checks of Tiketi's Kubernetes manifests (k8s/).

For each overlay (dev, staging, prod): render it with `kubectl kustomize`, validate every document
against the Kubernetes 1.32 schemas (kubernetes-validate, strict: unknown fields fail), then assert
the policies docs/operations.md ("Kubernetes") describes on the rendered output.

Prints one line per check group and overlay, then `N passed, M failed`; exits 1 on any failure.
Needs: python3, `kubectl` (v1.32, for `kubectl kustomize`), the PyPI packages kubernetes-validate
and PyYAML, and promtool (parses the AnalysisTemplates' PromQL; $PROMTOOL,
.tiketi/prometheus/usr/bin/promtool or PATH). Custom resources are validated against their CRD
schemas by check_crds.mjs.

    python3 tools/infra-check/check_k8s.py [--root DIR] [overlay ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import yaml
    import kubernetes_validate
except ImportError as e:  # say plainly what is missing rather than a traceback
    sys.exit(f"check_k8s: missing Python package ({e.name}): pip install kubernetes-validate pyyaml")

K8S_VERSION = "1.32"
OVERLAYS = ["dev", "staging", "prod"]
ROLES = ["auth", "ticket", "payment", "stats", "realtime", "worker"]
HTTP_ROLES = [r for r in ROLES if r != "worker"]
IMAGE = "ghcr.io/tiketi/tiketi"
# staging and prod pull from their own ECR repository (infra/terraform, modules/platform).
ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/tiketi-(staging|prod)/tiketi$")
NAMESPACE = "tiketi"
PORT = 8080

# Replica counts per overlay, as documented in docs/operations.md and the overlays' comments.
REPLICAS = {
    "dev": {r: 1 for r in ROLES},
    "staging": {r: 2 for r in ROLES},
    "prod": {"auth": 3, "ticket": 6, "payment": 3, "stats": 2, "realtime": 4, "worker": 3},
}

# Autoscaling (docs/operations.md, "Autoscaling"). KEDA scales these three; the others keep `replicas`.
KEDA_ROLES = ["ticket", "realtime", "worker"]
# (minReplicaCount, maxReplicaCount) per overlay; prod's floors are the fixed prod counts above.
SCALE_BOUNDS = {
    "dev": {r: (1, 2) for r in KEDA_ROLES},
    "staging": {r: (2, 4) for r in KEDA_ROLES},
    "prod": {r: (REPLICAS["prod"][r], 3 * REPLICAS["prod"][r]) for r in KEDA_ROLES},
}
PROMETHEUS = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
# role -> (query, threshold per pod). ticket: max by (event) because every ticket replica exports
# the same per-event gauge (sum over pods would multiply it by the replica count).
PROM_TRIGGERS = {
    "ticket": ('sum(max by (event) (tiketi_queue_waiting{namespace="tiketi"}))', "10000"),
    "realtime": ('sum(tiketi_realtime_connections{namespace="tiketi"})', "15000"),
}
REALTIME_MAX_CONNECTIONS = 25000  # the per-pod cap the realtime threshold stays below
WORKER_QUEUES = ["worker-events", "hold-expiry", "payment-webhooks"]  # shared/src/aws.rs Queue::suffix
WORKER_QUEUE_LENGTH = "100"
AWS_REGION = "ap-northeast-2"
# Scale-up decision latency (worst case) = metric lag + pollingInterval + HPA sync period
# + scaleUp.stabilizationWindowSeconds, which must stay within the RFP's 30 s.
HPA_SYNC_PERIOD = 15  # kube-controller-manager --horizontal-pod-autoscaler-sync-period (EKS: fixed)
METRIC_LAG = {"prometheus": 10, "aws-sqs-queue": 0}  # Prometheus scrape interval of /metrics; SQS answers live
SCALE_UP_DEADLINE = 30
SCALE_DOWN_MIN_WINDOW = 300
# validated by check_crds.mjs (npm CRD models)
CRD_GROUPS = {"keda.sh", "autoscaling.k8s.io", "networking.istio.io", "security.istio.io", "telemetry.istio.io",
              "argoproj.io", "monitoring.coreos.com"}

# Progressive delivery (docs/operations.md, "Progressive delivery"). Every other role is a Deployment.
ROLLOUT_API = "argoproj.io/v1alpha1"
CANARY_ROLES = ["ticket", "payment"]
BLUEGREEN_ROLES = ["realtime"]
WORKLOAD_KIND = {r: ("Rollout" if r in CANARY_ROLES + BLUEGREEN_ROLES else "Deployment") for r in ROLES}
WORKLOAD_API = {"Deployment": "apps/v1", "Rollout": ROLLOUT_API}
TEMPLATE_HASH_LABEL = {"Deployment": "pod-template-hash", "Rollout": "rollouts-pod-template-hash"}
HASH_SERIES_LABEL = "rollouts_pod_template_hash"  # the ServiceMonitor's relabelling of the pod label (k8s/monitoring)
# The RFP's deploy budget and the fixed parts of the argument in docs/operations.md (seconds):
# the PreSync migration Job (image pull 15 + start 5 + migrations 10), a new pod becoming ready at
# the first step (scheduling 2 + pull 15 + sidecar 3 + startup probe 10 + readiness 5), the extra
# pods of each later weight step (image cached on the node by then: 20).
DEPLOY_BUDGET = 300
MIGRATION_S, FIRST_PODS_S, MORE_PODS_S = 30, 35, 20
MAX_ERROR_RATIO = 0.01
CANARY_P95 = {"ticket": 0.2, "payment": 1.0}
# Blue/green: the old pods stay until every ingress-gateway Envoy has the new endpoints (Argo Rollouts'
# default 30 s for that) and then drain their sockets with 1012 within the shutdown grace.
BLUEGREEN_MIN_SCALE_DOWN_DELAY = 30

# KEDA fallback replicas (docs/operations.md, "Autoscaling"): the ceilings in dev and staging, twice
# the floors in prod.
FALLBACK_REPLICAS = {
    "dev": {r: 2 for r in KEDA_ROLES},
    "staging": {r: 4 for r in KEDA_ROLES},
    "prod": {r: 2 * REPLICAS["prod"][r] for r in KEDA_ROLES},
}

# Mesh authorization (docs/operations.md, "Mesh (Istio)"). The trust domain is Istio's default.
TRUST_DOMAIN = "cluster.local"
PROMETHEUS_PRINCIPAL = "cluster.local/ns/monitoring/sa/kube-prometheus-stack-prometheus"
# Who calls which role's /internal routes (TIKETI_INTERNAL_URL and TIKETI_TICKET_PAYMENT_URL users).
INTERNAL_CALLERS = {"ticket": ["payment", "realtime", "worker"], "payment": ["ticket"]}
JWKS_PATH = "/api/auth/jwks"

# Tracing (docs/operations.md, "Mesh (Istio)").
TRACING_PROVIDER = "otel-tracing"
SAMPLING_PERCENT = {"dev": 100, "staging": 10, "prod": 1}
OTEL_CONFIG = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://opentelemetry-collector.observability.svc.cluster.local:4318",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
}
COLLECTOR_NAMESPACE, COLLECTOR_PORTS = "observability", (4317, 4318)

# Istio (docs/operations.md, "Mesh (Istio)").
GATEWAY_NAMESPACE = "istio-ingress"
GATEWAY_NAME = "tiketi"
GATEWAY_SELECTOR = {"istio": "ingressgateway"}
# Public path prefixes and the role that must serve them; everything else goes to ticket (the web app).
PUBLIC_ROUTES = {
    "/api/auth": "auth",
    "/api/events": "ticket",
    "/api/reservations": "ticket",
    "/api/admin/venues": "ticket",
    "/api/admin/events": "ticket",
    "/api/payments": "payment",
    "/webhooks/toss": "payment",
    "/api/admin/stats": "stats",
    "/api/admin/reports": "stats",
    "/ws": "realtime",
}
CATCH_ALL_PATHS = ["/", "/index.html", "/events/1", "/assets/app.js", "/api/config", "/api/openapi.json", "/healthz"]
CATCH_ALL_ROLE = "ticket"
INTERNAL_PATHS = ["/internal/", "/internal/holds/1/expire", "/internal"]
WEBSOCKET_PATH = "/ws"
SAFE_RETRY_ON = {"connect-failure", "refused-stream", "unavailable"}  # the request never reached a pod
PAYMENT_MIN_TIMEOUT = 45  # a Toss confirm may take 15 s x 3 attempts
MAX_EJECTION_PERCENT = 50

# Settings the shared ConfigMap must carry, with their exact values (README "Configuration").
CONFIG_REQUIRED = {
    "TIKETI_SECRETS": "aws",
    "TIKETI_HOST": "0.0.0.0",
    "TIKETI_PORT": str(PORT),
    "TIKETI_LOG_FORMAT": "json",
    "TIKETI_STATS_BUILD_REPORTS": "false",
    "TIKETI_STATS_DAILY_SETTLEMENT": "false",
}
SECRET_VARS = {"TIKETI_DATABASE_URL", "TIKETI_REDIS_URL"}
SECRET_REF_NAME = "tiketi-connections"
# Variables the README marks as secret (🔒): never a literal in a manifest or ConfigMap.
SECRET_PATTERNS = [
    re.compile(r"^TIKETI_DATABASE_URL$"),
    re.compile(r"^TIKETI_REDIS_URL$"),
    re.compile(r"^TIKETI_TOSS_SECRET_KEY$"),
    re.compile(r"^TIKETI_ADMIN_PASSWORD$"),
    re.compile(r"^TIKETI_OIDC_.+_CLIENT_SECRET$"),
]
IRSA_KEY = "eks.amazonaws.com/role-arn"
IRSA_ARN = re.compile(r"^arn:aws:iam::\d{12}:role/[\w+=,.@/-]+$")
PLACEHOLDER = re.compile(r"placeholder|change[-_ ]?me|replace[-_ ]?me|todo|xxx", re.IGNORECASE)


class Group:
    """One check group: collects failures; passes when there are none."""

    def __init__(self, name: str):
        self.name = name
        self.failures: list[str] = []
        self.count = 0

    def check(self, ok: bool, message: str) -> bool:
        self.count += 1
        if not ok:
            self.failures.append(message)
        return ok


# ---------------------------------------------------------------------------------------------
# helpers


def render(root: Path, overlay: str) -> tuple[list[dict], str | None]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return [], "kubectl not found on PATH (needed for `kubectl kustomize`; v1.32 in the machine image)"
    proc = subprocess.run(
        [kubectl, "kustomize", str(root / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return [], f"kubectl kustomize failed: {proc.stderr.strip()}"
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return docs, None


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def name(doc: dict) -> str:
    return doc.get("metadata", {}).get("name", "?")


def labels(doc: dict) -> dict:
    return doc.get("metadata", {}).get("labels") or {}


def selector_matches(selector: dict | None, pod_labels: dict) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label set. {} selects all."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if pod_labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in pod_labels
        if op == "In" and not (present and pod_labels[key] in values):
            return False
        if op == "NotIn" and present and pod_labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def workloads(docs: list[dict]) -> list[dict]:
    """The roles' pod owners: Deployments and Argo Rollouts (same pod template shape)."""
    return [d for d in docs if d.get("kind") == "Deployment"
            or (d.get("kind") == "Rollout" and d.get("apiVersion") == ROLLOUT_API)]


def wname(workload: dict) -> str:
    return f"{workload['kind']}/{name(workload)}"


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: dict) -> dict:
    return workload["spec"]["template"].get("metadata", {}).get("labels") or {}


def role_of(deploy: dict) -> str | None:
    return labels(deploy).get("app.kubernetes.io/component")


def main_container(workload: dict) -> dict:
    return pod_spec(workload)["containers"][0]


def cpu_millis(q) -> float:
    s = str(q)
    return float(s[:-1]) if s.endswith("m") else float(s) * 1000


def mem_bytes(q) -> float:
    s = str(q)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for u, f in units.items():
        if s.endswith(u):
            return float(s[: -len(u)]) * f
    return float(s)


def effective_security(workload: dict, container: dict) -> dict:
    """Container securityContext over the pod's (the fields both levels have)."""
    pod = pod_spec(workload).get("securityContext") or {}
    ctr = container.get("securityContext") or {}
    eff = {}
    for key in ("runAsNonRoot", "runAsUser", "seccompProfile"):
        eff[key] = ctr.get(key, pod.get(key))
    for key in ("readOnlyRootFilesystem", "allowPrivilegeEscalation", "capabilities", "privileged"):
        eff[key] = ctr.get(key)
    return eff


def check_security(g: Group, what: str, workload: dict) -> None:
    for c in pod_spec(workload).get("containers", []) + pod_spec(workload).get("initContainers", []):
        eff = effective_security(workload, c)
        w = f"{what} container {c.get('name')}"
        g.check(eff["runAsNonRoot"] is True, f"{w}: runAsNonRoot is not true")
        g.check(eff["runAsUser"] not in (None, 0), f"{w}: runAsUser unset or 0 (root)")
        g.check(eff["readOnlyRootFilesystem"] is True, f"{w}: readOnlyRootFilesystem is not true")
        g.check(eff["allowPrivilegeEscalation"] is False, f"{w}: allowPrivilegeEscalation is not false")
        g.check(eff["privileged"] in (None, False), f"{w}: privileged")
        caps = eff["capabilities"] or {}
        g.check(caps.get("drop") == ["ALL"], f"{w}: capabilities.drop is not [ALL]")
        g.check(not caps.get("add"), f"{w}: adds capabilities {caps.get('add')}")
        g.check((eff["seccompProfile"] or {}).get("type") == "RuntimeDefault", f"{w}: seccompProfile is not RuntimeDefault")
    spec = pod_spec(workload)
    g.check(not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), f"{what}: uses host namespaces")


def check_resources(g: Group, what: str, container: dict) -> None:
    res = container.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    for kind in ("cpu", "memory"):
        g.check(kind in req, f"{what}: no {kind} request")
        g.check(kind in lim, f"{what}: no {kind} limit")
    if all(k in req and k in lim for k in ("cpu", "memory")):
        g.check(cpu_millis(req["cpu"]) <= cpu_millis(lim["cpu"]), f"{what}: cpu request above limit")
        g.check(mem_bytes(req["memory"]) <= mem_bytes(lim["memory"]), f"{what}: memory request above limit")


def env_names(container: dict) -> dict:
    return {e["name"]: e for e in container.get("env") or []}


def secret_literals(container: dict) -> list[str]:
    """Secret variables given as literal values (or from a ConfigMap) in a container."""
    bad = []
    for e in container.get("env") or []:
        if any(p.match(e["name"]) for p in SECRET_PATTERNS):
            if "value" in e or "configMapKeyRef" in (e.get("valueFrom") or {}):
                bad.append(e["name"])
    return bad


def check_secret_refs(g: Group, what: str, container: dict) -> None:
    env = env_names(container)
    for var in sorted(SECRET_VARS):
        ref = (env.get(var, {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        g.check(ref.get("name") == SECRET_REF_NAME, f"{what}: {var} is not a secretKeyRef to Secret {SECRET_REF_NAME}")
    g.check(not secret_literals(container), f"{what}: literal secret values for {secret_literals(container)}")


def check_image(g: Group, what: str, container: dict) -> None:
    image = container.get("image", "")
    repo, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    g.check(repo == IMAGE or bool(ECR_IMAGE.match(repo)), f"{what}: image {image!r} is neither {IMAGE} nor an ECR repo")
    g.check(tag not in ("", "latest"), f"{what}: image {image!r} has no pinned tag (set by the overlay's images:)")


# NetworkPolicy evaluation (ingress only): is a connection from (namespace labels, pod labels) to
# a pod with `target` labels on `port` allowed by the policies of our namespace?
def ingress_allowed(policies: list[dict], target: dict, src_ns: str, src_pod: dict, port: int) -> bool:
    selecting = [
        p for p in policies
        if "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])
        and selector_matches(p["spec"].get("podSelector", {}), target)
    ]
    if not selecting:
        return True  # not isolated
    ns_labels = {"kubernetes.io/metadata.name": src_ns}
    for p in selecting:
        for rule in p["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(pp.get("port") in (port, "http") and pp.get("protocol", "TCP") == "TCP" for pp in ports):
                continue
            peers = rule.get("from")
            if not peers:
                return True  # from anywhere
            for peer in peers:
                if "ipBlock" in peer:
                    continue
                ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
                ns_ok = selector_matches(ns_sel, ns_labels) if ns_sel is not None else src_ns == NAMESPACE
                pod_ok = selector_matches(pod_sel, src_pod) if pod_sel is not None else True
                if ns_ok and pod_ok:
                    return True
    return False


# ---------------------------------------------------------------------------------------------
# check groups; each takes the rendered documents and the overlay name


def g_schema(docs, overlay):
    g = Group("every document valid against Kubernetes %s (strict)" % K8S_VERSION)
    for d in docs:
        if str(d.get("apiVersion", "")).split("/")[0] in CRD_GROUPS and "/" in str(d.get("apiVersion", "")):
            continue  # custom resources: check_crds.mjs validates them against their CRD schemas
        try:
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
            g.check(True, "")
        except kubernetes_validate.ValidationError as e:
            g.check(False, f"{d.get('kind')}/{name(d)}: {e.message} at {'/'.join(map(str, e.path))}")
        except Exception as e:  # SchemaNotFoundError and friends: a kind the core schemas lack
            g.check(False, f"{d.get('kind')}/{name(d)}: {type(e).__name__}: {e}")
    return g


def g_labels(docs, overlay):
    g = Group("common labels on every object, component on every workload, namespace tiketi")
    for d in docs:
        what = f"{d['kind']}/{name(d)}"
        lb = labels(d)
        g.check(lb.get("app.kubernetes.io/name") == "tiketi", f"{what}: app.kubernetes.io/name is not tiketi")
        g.check(lb.get("app.kubernetes.io/part-of") == "tiketi", f"{what}: app.kubernetes.io/part-of is not tiketi")
        if d["kind"] == "Namespace":
            g.check(name(d) == NAMESPACE, f"{what}: unexpected namespace")
        elif d["kind"] == "Gateway" and d.get("apiVersion", "").startswith("networking.istio.io/"):
            g.check(d["metadata"].get("namespace") == GATEWAY_NAMESPACE, f"{what}: not in namespace {GATEWAY_NAMESPACE}")
        else:
            g.check(d["metadata"].get("namespace") == NAMESPACE, f"{what}: not in namespace {NAMESPACE}")
        if d["kind"] in ("Deployment", "Rollout", "Job", "Service", "ServiceAccount", "PodDisruptionBudget"):
            g.check("app.kubernetes.io/component" in lb, f"{what}: no app.kubernetes.io/component label")
        if d["kind"] in ("Deployment", "Rollout", "Job"):
            pl = pod_labels(d)
            g.check(pl.get("app.kubernetes.io/component") == lb.get("app.kubernetes.io/component")
                    and pl.get("app.kubernetes.io/part-of") == "tiketi", f"{what}: pod template lacks the labels")
            if d["kind"] != "Job":
                sel = (d["spec"].get("selector") or {}).get("matchLabels") or {}
                g.check(sel.get("app.kubernetes.io/part-of") == "tiketi", f"{what}: selector lacks the common labels")
    g.check(len(of_kind(docs, "Namespace")) == 1, "the Namespace object is missing")
    return g


def g_deployments(docs, overlay):
    g = Group("one Deployment or Rollout per role, `tiketi serve --role <role>`, pinned image, port http 8080, probes")
    deploys = workloads(docs)
    g.check(sorted(role_of(d) or "?" for d in deploys) == sorted(ROLES),
            f"workloads' roles are {sorted(role_of(d) or '?' for d in deploys)}, expected {sorted(ROLES)}")
    for d in deploys:
        role, what = role_of(d), wname(d)
        g.check(name(d) == role, f"{what}: named differently from its role {role}")
        g.check(d["kind"] == WORKLOAD_KIND.get(role), f"{what}: a {d['kind']}, documented as a {WORKLOAD_KIND.get(role)}")
        g.check(selector_matches(d["spec"]["selector"], pod_labels(d)), f"{what}: selector does not match its pods")
        containers = pod_spec(d)["containers"]
        g.check(len(containers) == 1, f"{what}: expected one container")
        c = containers[0]
        argv = (c.get("command") or []) + (c.get("args") or [])
        g.check(argv == ["tiketi", "serve", "--role", role], f"{what}: runs {argv}, not tiketi serve --role {role}")
        check_image(g, what, c)
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        g.check(ports.get("http") == PORT, f"{what}: no container port {PORT} named http")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", None)):
            p = c.get(probe) or {}
            hg = p.get("httpGet") or {}
            if g.check(bool(p), f"{what}: no {probe}") and path:
                g.check(hg.get("path") == path and hg.get("port") in ("http", PORT), f"{what}: {probe} is not GET {path} on http")
        live = (c.get("livenessProbe") or {}).get("httpGet", {}).get("path")
        g.check(live != "/readyz", f"{what}: liveness on /readyz would restart pods when a dependency blips")
        g.check(pod_spec(d).get("automountServiceAccountToken") is False, f"{what}: mounts a Kubernetes API token")
    return g


def g_resources(docs, overlay):
    g = Group("cpu and memory requests and limits on every container, request <= limit")
    for d in workloads(docs) + of_kind(docs, "Job"):
        for c in pod_spec(d)["containers"]:
            check_resources(g, f"{d['kind']}/{name(d)} container {c['name']}", c)
    return g


def g_security(docs, overlay):
    g = Group("non-root, read-only root, no escalation, drop ALL, seccomp RuntimeDefault")
    for d in workloads(docs) + of_kind(docs, "Job"):
        check_security(g, f"{d['kind']}/{name(d)}", d)
    return g


def g_termination(docs, overlay):
    g = Group("grace period >= preStop sleep + TIKETI_SHUTDOWN_GRACE_SECS")
    cms = {name(c): c.get("data") or {} for c in of_kind(docs, "ConfigMap")}
    for d in workloads(docs):
        what, c = wname(d), main_container(d)
        data = {}
        for ef in c.get("envFrom") or []:
            data.update(cms.get((ef.get("configMapRef") or {}).get("name"), {}))
        env = env_names(c)
        shutdown = env.get("TIKETI_SHUTDOWN_GRACE_SECS", {}).get("value", data.get("TIKETI_SHUTDOWN_GRACE_SECS", "20"))
        g.check(shutdown.isdigit(), f"{what}: TIKETI_SHUTDOWN_GRACE_SECS {shutdown!r} is not a number")
        pre = ((c.get("lifecycle") or {}).get("preStop") or {})
        g.check(bool(pre), f"{what}: no preStop hook (endpoints must be removed before SIGTERM)")
        sleep = int((pre.get("sleep") or {}).get("seconds", 0))
        g.check(sleep >= 5, f"{what}: preStop sleeps {sleep}s, less than the 5 s endpoint removal needs")
        grace = pod_spec(d).get("terminationGracePeriodSeconds", 30)
        if shutdown.isdigit():
            g.check(grace >= sleep + int(shutdown),
                    f"{what}: terminationGracePeriodSeconds {grace} < preStop {sleep} + shutdown grace {shutdown}")
    return g


def g_topology(docs, overlay):
    g = Group("zone and hostname, maxSkew 1, selecting the role's own pods and revision")
    for d in workloads(docs):
        what = wname(d)
        tsc = {t.get("topologyKey"): t for t in pod_spec(d).get("topologySpreadConstraints") or []}
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname"):
            t = tsc.get(key)
            if g.check(t is not None, f"{what}: no topology spread over {key}"):
                g.check(t.get("maxSkew") == 1, f"{what}: {key} maxSkew is not 1")
                g.check(selector_matches(t.get("labelSelector"), pod_labels(d)), f"{what}: {key} spread does not select its own pods")
                g.check(t.get("labelSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") == role_of(d),
                        f"{what}: {key} spread is not limited to its role")
                # Rollouts label their pods rollouts-pod-template-hash, Deployments pod-template-hash; a key
                # the pods lack is ignored, and the spread would count every revision together.
                want = [TEMPLATE_HASH_LABEL[d["kind"]]]
                g.check(t.get("matchLabelKeys") == want,
                        f"{what}: {key} matchLabelKeys {t.get('matchLabelKeys')}, expected {want} (the label its pods carry)")
        if "topology.kubernetes.io/zone" in tsc:
            g.check(tsc["topology.kubernetes.io/zone"].get("whenUnsatisfiable") == "DoNotSchedule",
                    f"{what}: zone spread is not enforced (DoNotSchedule)")
    return g


def g_config(docs, overlay):
    g = Group("ConfigMap settings, in-cluster URLs, secrets only by secretKeyRef to tiketi-connections")
    cms = {name(c): c.get("data") or {} for c in of_kind(docs, "ConfigMap")}
    services = {name(s) for s in of_kind(docs, "Service")}
    for d in workloads(docs):
        what, c = wname(d), main_container(d)
        refs = [(ef.get("configMapRef") or {}).get("name") for ef in c.get("envFrom") or []]
        g.check(bool(refs) and all(r in cms for r in refs), f"{what}: envFrom ConfigMaps {refs} not all in the render")
        data = {}
        for r in refs:
            data.update(cms.get(r, {}))
        for key, value in CONFIG_REQUIRED.items():
            g.check(data.get(key) == value, f"{what}: {key} is {data.get(key)!r}, expected {value!r}")
        for key, svc, path in (
            ("TIKETI_INTERNAL_URL", "ticket", "/"),
            ("TIKETI_TICKET_PAYMENT_URL", "payment", "/"),
            ("TIKETI_JWKS_URL", "auth", "/api/auth/jwks"),
        ):
            m = re.match(r"^http://([a-z0-9-]+)(\.%s(\.svc(\.cluster\.local)?)?)?:(\d+)(/.*)$" % NAMESPACE, data.get(key, ""))
            ok = bool(m) and m.group(1) == svc and m.group(1) in services and m.group(5) == str(PORT) and m.group(6) == path
            g.check(ok, f"{what}: {key}={data.get(key)!r} does not point at the {svc} Service ({path})")
        check_secret_refs(g, what, c)
    for cm, data in cms.items():
        bad = [k for k in data if any(p.match(k) for p in SECRET_PATTERNS)]
        g.check(not bad, f"ConfigMap/{cm}: holds secret variables {bad}")
        bad = [k for k, v in data.items() if PLACEHOLDER.search(str(v))]
        g.check(not bad, f"ConfigMap/{cm}: placeholder values in {bad}")
    return g


def g_no_secrets(docs, overlay):
    g = Group("no Secret objects, no literal database/Redis URLs anywhere")
    secrets = [name(d) for d in docs if d.get("kind") == "Secret"]
    g.check(not secrets, f"Secret objects rendered: {secrets}")
    for d in workloads(docs) + of_kind(docs, "Job"):
        for c in pod_spec(d)["containers"]:
            g.check(not secret_literals(c), f"{d['kind']}/{name(d)}: literal secret values {secret_literals(c)}")
    text = yaml.safe_dump_all(docs)
    g.check(not re.search(r"(postgres(ql)?|rediss?)://", text), "a postgres:// or redis:// URL appears in the manifests")
    return g


def g_serviceaccounts(docs, overlay):
    g = Group("every workload's exists, with its own non-placeholder IRSA role ARN")
    sas = {name(s): s for s in of_kind(docs, "ServiceAccount")}
    arns = {}
    for d in workloads(docs):
        what, sa_name = wname(d), pod_spec(d).get("serviceAccountName")
        if not g.check(sa_name in sas, f"{what}: serviceAccountName {sa_name!r} is not rendered"):
            continue
        arn = (sas[sa_name]["metadata"].get("annotations") or {}).get(IRSA_KEY, "")
        g.check(bool(IRSA_ARN.match(arn)), f"ServiceAccount/{sa_name}: {IRSA_KEY} {arn!r} is not an IAM role ARN")
        g.check(not PLACEHOLDER.search(arn), f"ServiceAccount/{sa_name}: {IRSA_KEY} is still a placeholder ({arn!r})")
        arns.setdefault(arn, []).append(sa_name)
    shared = {a: n for a, n in arns.items() if len(n) > 1}
    g.check(not shared, f"roles share an IAM role (least privilege wants one each): {shared}")
    for s in sas.values():
        arn = (s["metadata"].get("annotations") or {}).get(IRSA_KEY, "")
        g.check(not PLACEHOLDER.search(arn), f"ServiceAccount/{name(s)}: placeholder IRSA annotation")
    return g


def g_services_pdbs(docs, overlay):
    g = Group("a Service per HTTP role (and the worker's metrics), a non-blocking PDB per role")
    deploys = {role_of(d): d for d in workloads(docs)}
    services, pdbs = of_kind(docs, "Service"), of_kind(docs, "PodDisruptionBudget")
    for role in HTTP_ROLES + ["worker"]:
        d = deploys.get(role)
        if not g.check(d is not None, f"no Deployment or Rollout for {role}"):
            continue
        pl = pod_labels(d)
        mine = [s for s in services if s["spec"].get("selector") and selector_matches({"matchLabels": s["spec"]["selector"]}, pl)]
        if g.check(len(mine) >= 1, f"{role}: no Service selects its pods"):
            for s in mine:
                g.check(any(p.get("port") == PORT and p.get("targetPort") in ("http", PORT) for p in s["spec"].get("ports") or []),
                        f"Service/{name(s)}: does not serve port {PORT} to the pods' http port")
                others = [r for r, od in deploys.items() if r != role and selector_matches({"matchLabels": s["spec"]["selector"]}, pod_labels(od))]
                g.check(not others, f"Service/{name(s)}: also selects {others}")
        if role in HTTP_ROLES:
            g.check(any(name(s) == role and s["spec"].get("clusterIP") != "None" for s in mine),
                    f"{role}: no load-balanced Service named {role} (TIKETI_INTERNAL_URL/JWKS address roles by it)")
        mypdbs = [p for p in pdbs if selector_matches(p["spec"].get("selector"), pl)]
        if g.check(len(mypdbs) == 1, f"{role}: {len(mypdbs)} PodDisruptionBudgets select its pods, expected 1"):
            spec, replicas = mypdbs[0]["spec"], d["spec"].get("replicas", 1)
            if "maxUnavailable" in spec:
                g.check(str(spec["maxUnavailable"]) not in ("0", "0%"), f"PDB/{name(mypdbs[0])}: maxUnavailable 0 blocks every drain")
            else:
                mina = spec.get("minAvailable")
                g.check(isinstance(mina, int) and mina < replicas,
                        f"PDB/{name(mypdbs[0])}: minAvailable {mina} with {replicas} replicas blocks node drains")
    return g


def g_networkpolicies(docs, overlay):
    g = Group("default deny; 8080 from istio-ingress (HTTP roles), between roles, from monitoring")
    pols = of_kind(docs, "NetworkPolicy")
    g.check(any(p["spec"].get("podSelector") == {} and p["spec"].get("policyTypes") == ["Ingress"] and not p["spec"].get("ingress")
                for p in pols), "no default-deny-ingress policy (podSelector {}, Ingress, no rules)")
    deploys = {role_of(d): d for d in workloads(docs)}
    stranger = {"app": "something-else"}
    for role, d in deploys.items():
        pl = pod_labels(d)
        http = role in HTTP_ROLES
        g.check(ingress_allowed(pols, pl, "istio-ingress", {"app": "istio-ingressgateway"}, PORT) == http,
                f"{role}: ingress from istio-ingress on {PORT} is {'denied' if http else 'allowed'}")
        g.check(ingress_allowed(pols, pl, "monitoring", {"app.kubernetes.io/name": "prometheus"}, PORT),
                f"{role}: Prometheus (monitoring) cannot scrape {PORT}")
        g.check(not ingress_allowed(pols, pl, "default", stranger, PORT), f"{role}: reachable from any namespace")
        g.check(not ingress_allowed(pols, pl, NAMESPACE, stranger, PORT), f"{role}: reachable from non-Tiketi pods in {NAMESPACE}")
        for src_ns, src_pod in (("istio-ingress", {}), ("monitoring", {}), (NAMESPACE, pl)):
            g.check(not ingress_allowed(pols, pl, src_ns, src_pod, 22), f"{role}: a port other than {PORT} is open to {src_ns}")
        for caller, cd in deploys.items():
            if caller != role:
                g.check(ingress_allowed(pols, pl, NAMESPACE, pod_labels(cd), PORT) == http,
                        f"{caller} -> {role} on {PORT} is {'denied' if http else 'allowed'}")
    return g


def g_migration(docs, overlay):
    g = Group("`tiketi migrate` as an Argo CD PreSync hook, bounded, needing nothing the sync creates")
    jobs = of_kind(docs, "Job")
    if not g.check(len(jobs) == 1, f"{len(jobs)} Jobs rendered, expected the migration Job"):
        return g
    j = jobs[0]
    ann = j["metadata"].get("annotations") or {}
    g.check(ann.get("argocd.argoproj.io/hook") == "PreSync", "migration Job is not an argocd.argoproj.io/hook: PreSync")
    g.check(ann.get("argocd.argoproj.io/hook-delete-policy") == "BeforeHookCreation", "migration Job's hook-delete-policy is not BeforeHookCreation")
    g.check(isinstance(j["spec"].get("backoffLimit"), int) and j["spec"]["backoffLimit"] <= 5, "migration Job: backoffLimit unset or above 5")
    g.check(isinstance(j["spec"].get("activeDeadlineSeconds"), int), "migration Job: no activeDeadlineSeconds")
    spec, c = pod_spec(j), main_container(j)
    g.check(spec.get("restartPolicy") in ("Never", "OnFailure"), "migration Job: restartPolicy must be Never or OnFailure")
    argv = (c.get("command") or []) + (c.get("args") or [])
    g.check(argv == ["tiketi", "migrate"], f"migration Job runs {argv}, not tiketi migrate")
    check_image(g, "Job/migrate", c)
    images = {main_container(d).get("image") for d in workloads(docs)}
    g.check(images == {c.get("image")}, f"migration Job image {c.get('image')} differs from the roles' {images}")
    check_secret_refs(g, "Job/migrate", c)
    # A PreSync hook runs before the sync creates this app's objects: it must not need them.
    generated = {name(x) for x in docs if x["kind"] in ("ConfigMap", "ServiceAccount")}
    refs = [(ef.get("configMapRef") or {}).get("name") for ef in c.get("envFrom") or []]
    refs += [((e.get("valueFrom") or {}).get("configMapKeyRef") or {}).get("name") for e in c.get("env") or []]
    refs += [(v.get("configMap") or {}).get("name") for v in spec.get("volumes") or []]
    g.check(not [r for r in refs if r in generated], f"migration Job uses ConfigMaps {refs} created only in the Sync phase")
    g.check(spec.get("serviceAccountName", "default") not in generated,
            f"migration Job runs as ServiceAccount {spec.get('serviceAccountName')} created only in the Sync phase")
    return g


def g_replicas(docs, overlay):
    g = Group(f"as documented for {overlay}; KEDA-scaled roles carry none (floor = minReplicaCount)")
    deploys = {role_of(d): d for d in workloads(docs)}
    got = {r: d["spec"].get("replicas") for r, d in deploys.items() if r not in KEDA_ROLES}
    want = {r: c for r, c in REPLICAS[overlay].items() if r not in KEDA_ROLES}
    g.check(got == want, f"replicas {got}, documented {want}")
    for r in KEDA_ROLES:
        if r in deploys:
            g.check("replicas" not in deploys[r]["spec"],
                    f"{wname(deploys[r])}: fixed replicas {deploys[r]['spec'].get('replicas')} while KEDA scales it "
                    "(every Argo CD sync would reset the HPA's count)")
    floors = {name(s): s["spec"].get("minReplicaCount") for s in of_kind(docs, "ScaledObject")}
    g.check(all(floors.get(r) == REPLICAS[overlay][r] for r in KEDA_ROLES if overlay == "prod"),
            f"prod floors (minReplicaCount) {floors}, documented {({r: REPLICAS['prod'][r] for r in KEDA_ROLES})}")
    return g


def scale_up_latency(so: dict, trigger_type: str) -> int | None:
    """Worst-case seconds from load arriving to the HPA's scale-up decision, from rendered fields."""
    up = ((((so["spec"].get("advanced") or {}).get("horizontalPodAutoscalerConfig") or {}).get("behavior") or {})
          .get("scaleUp") or {})
    window = up.get("stabilizationWindowSeconds", 0)  # the HPA's default for scale-up is 0
    polling = so["spec"].get("pollingInterval", 30)  # KEDA's default
    if not isinstance(window, int) or not isinstance(polling, int) or trigger_type not in METRIC_LAG:
        return None
    return METRIC_LAG[trigger_type] + polling + HPA_SYNC_PERIOD + window


def g_autoscaling(docs, overlay):
    g = Group("one ScaledObject per scaled role, documented triggers, bounds, fallback, scale-up within 30 s")
    deploys = {name(d): d for d in workloads(docs)}
    sos = of_kind(docs, "ScaledObject")
    auths = {name(a): a for a in of_kind(docs, "TriggerAuthentication")}
    cms = {name(c): c.get("data") or {} for c in of_kind(docs, "ConfigMap")}
    prefix = next((d["TIKETI_AWS_NAME_PREFIX"] for d in cms.values() if "TIKETI_AWS_NAME_PREFIX" in d), None)
    targets: dict[str, list[str]] = {}
    for so in sos:
        ref = so["spec"].get("scaleTargetRef") or {}
        target = deploys.get(ref.get("name"))
        if g.check(target is not None, f"ScaledObject/{name(so)}: targets {ref.get('name')!r}, not a rendered Deployment or Rollout"):
            # KEDA defaults to apps/v1 Deployment: a Rollout must be named with its kind and API version.
            kind, api = ref.get("kind", "Deployment"), ref.get("apiVersion", "apps/v1")
            g.check((kind, api) == (target["kind"], target["apiVersion"]),
                    f"ScaledObject/{name(so)}: scaleTargetRef {api} {kind}, but {ref.get('name')} is a "
                    f"{target['apiVersion']} {target['kind']}")
        targets.setdefault(ref.get("name"), []).append(name(so))
    g.check(sorted(targets) == sorted(KEDA_ROLES), f"KEDA scales {sorted(targets)}, documented {sorted(KEDA_ROLES)}")
    for dep, owners in targets.items():
        g.check(len(owners) == 1, f"Deployment/{dep}: {len(owners)} ScaledObjects ({owners}); exactly one may own its HPA")
    hpas = [h for h in of_kind(docs, "HorizontalPodAutoscaler") if (h["spec"].get("scaleTargetRef") or {}).get("name") in targets]
    g.check(not hpas, f"HorizontalPodAutoscalers {[name(h) for h in hpas]} compete with KEDA's for the same workload")
    for so in sos:
        spec, role = so["spec"], (so["spec"].get("scaleTargetRef") or {}).get("name")
        what = f"ScaledObject/{name(so)}"
        lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        want = SCALE_BOUNDS[overlay].get(role)
        g.check((lo, hi) == want, f"{what}: replicas {lo}..{hi}, documented {want}")
        g.check(isinstance(lo, int) and lo >= 1, f"{what}: minReplicaCount {lo} (scale to zero would cold-start a sale)")
        triggers = spec.get("triggers") or []
        g.check(bool(triggers), f"{what}: no triggers")
        # Fallback: replicas to hold when a trigger's source fails. KEDA applies it only to AverageValue
        # triggers (not cpu/memory, not Value) and silently ignores it otherwise, hence every trigger
        # must say AverageValue explicitly.
        fb = spec.get("fallback") or {}
        if g.check(bool(fb), f"{what}: no fallback (a Prometheus or SQS outage would freeze the replica count)"):
            thr, reps = fb.get("failureThreshold"), fb.get("replicas")
            g.check(isinstance(thr, int) and 1 <= thr <= 5, f"{what}: fallback.failureThreshold {thr!r}, expected 1..5 polls")
            want_fb = FALLBACK_REPLICAS[overlay].get(role)
            g.check(reps == want_fb, f"{what}: fallback.replicas {reps!r}, documented {want_fb}")
            g.check(isinstance(reps, int) and isinstance(lo, int) and isinstance(hi, int) and lo <= reps <= hi,
                    f"{what}: fallback.replicas {reps!r} outside {lo}..{hi}")
            g.check(fb.get("behavior") == "currentReplicasIfHigher",
                    f"{what}: fallback.behavior {fb.get('behavior')!r}: only currentReplicasIfHigher never scales a running sale down")
            for tr in triggers:
                g.check(tr.get("type") not in ("cpu", "memory") and tr.get("metricType") == "AverageValue",
                        f"{what} trigger {tr.get('name') or tr.get('type')}: metricType {tr.get('metricType')!r}; "
                        "KEDA's fallback needs an explicit AverageValue")
        for tr in triggers:
            md, tw = tr.get("metadata") or {}, f"{what} trigger {tr.get('name') or tr.get('type')}"
            # scale-up arithmetic, per trigger (its metric lag)
            lat = scale_up_latency(so, tr.get("type"))
            g.check(lat is not None and lat <= SCALE_UP_DEADLINE,
                    f"{tw}: scale-up decision after up to {lat} s (lag + pollingInterval + {HPA_SYNC_PERIOD} s sync + "
                    f"window), over {SCALE_UP_DEADLINE} s")
            if role in PROM_TRIGGERS:
                query, threshold = PROM_TRIGGERS[role]
                g.check(tr.get("type") == "prometheus", f"{tw}: type {tr.get('type')}, documented prometheus")
                g.check(md.get("serverAddress") == PROMETHEUS, f"{tw}: serverAddress {md.get('serverAddress')!r}")
                g.check(re.sub(r"\s+", "", str(md.get("query"))) == re.sub(r"\s+", "", query),
                        f"{tw}: query {md.get('query')!r}, documented {query!r}")
                g.check(md.get("threshold") == threshold, f"{tw}: threshold {md.get('threshold')!r}, documented {threshold!r}")
                g.check(md.get("metricType", "AverageValue") == "AverageValue", f"{tw}: not a per-pod (AverageValue) target")
            elif role == "worker":
                g.check(tr.get("type") == "aws-sqs-queue", f"{tw}: type {tr.get('type')}, documented aws-sqs-queue")
                g.check(isinstance(md.get("queueLength"), str), f"{tw}: queueLength {md.get('queueLength')!r} is not a string")
                g.check(md.get("queueLength") == WORKER_QUEUE_LENGTH, f"{tw}: queueLength {md.get('queueLength')!r}, documented {WORKER_QUEUE_LENGTH!r}")
                g.check(md.get("awsRegion") == AWS_REGION, f"{tw}: awsRegion {md.get('awsRegion')!r}, not {AWS_REGION}")
                g.check("identityOwner" not in md or md["identityOwner"] == "operator", f"{tw}: identityOwner {md.get('identityOwner')!r}")
                auth = auths.get((tr.get("authenticationRef") or {}).get("name"))
                pid = ((auth or {}).get("spec") or {}).get("podIdentity") or {}
                g.check(auth is not None and pid.get("provider") == "aws" and pid.get("identityOwner", "keda") == "keda",
                        f"{tw}: not authenticated with KEDA's own IRSA identity (TriggerAuthentication podIdentity aws, identityOwner keda)")
            for k, v in md.items():
                g.check(isinstance(v, str), f"{tw}: metadata.{k} is {type(v).__name__}, KEDA takes strings only")
                g.check(not PLACEHOLDER.search(str(v)), f"{tw}: metadata.{k} is still a placeholder ({v!r})")
        if role == "worker":
            queues = sorted(str((t.get("metadata") or {}).get("queueURL")) for t in triggers)
            want_q = sorted(f"{prefix}{q}" for q in WORKER_QUEUES)
            g.check(queues == want_q, f"{what}: queues {queues}, expected {want_q} (TIKETI_AWS_NAME_PREFIX + shared/src/aws.rs)")
        if role == "realtime":
            g.check(int(PROM_TRIGGERS["realtime"][1]) < REALTIME_MAX_CONNECTIONS, "realtime target not below the per-pod cap")
            env = env_names(main_container(deploys[role])) if role in deploys else {}
            cap = env.get("TIKETI_REALTIME_MAX_CONNECTIONS", {}).get("value")
            g.check(cap == str(REALTIME_MAX_CONNECTIONS),
                    f"realtime: TIKETI_REALTIME_MAX_CONNECTIONS {cap!r}; the realtime threshold was argued from {REALTIME_MAX_CONNECTIONS}")
        beh = ((spec.get("advanced") or {}).get("horizontalPodAutoscalerConfig") or {}).get("behavior") or {}
        up, down = beh.get("scaleUp") or {}, beh.get("scaleDown") or {}
        g.check(up.get("selectPolicy", "Max") == "Max", f"{what}: scaleUp selectPolicy {up.get('selectPolicy')} (Max takes the fastest policy)")
        pols = up.get("policies") or []
        g.check(bool(pols) and all(p.get("periodSeconds", 99) <= HPA_SYNC_PERIOD for p in pols),
                f"{what}: a scaleUp policy period is longer than one HPA sync ({HPA_SYNC_PERIOD} s)")
        g.check(any((p.get("type") == "Percent" and p.get("value", 0) >= 100) or (p.get("type") == "Pods" and p.get("value", 0) >= 4) for p in pols),
                f"{what}: no scaleUp policy allows +100 % or +4 pods per period")
        g.check(isinstance(down.get("stabilizationWindowSeconds"), int) and down["stabilizationWindowSeconds"] >= SCALE_DOWN_MIN_WINDOW,
                f"{what}: scaleDown stabilization {down.get('stabilizationWindowSeconds')} s, below {SCALE_DOWN_MIN_WINDOW} s")
    return g


def g_vpa(docs, overlay):
    g = Group('one per role, updateMode "Off", bounds around the requests and limits')
    deploys = {name(d): d for d in workloads(docs)}
    vpas: dict[str, list[dict]] = {}
    for v in of_kind(docs, "VerticalPodAutoscaler"):
        ref = v["spec"].get("targetRef") or {}
        target = deploys.get(ref.get("name"))
        g.check(target is not None and (ref.get("kind"), ref.get("apiVersion")) == (target["kind"], target["apiVersion"]),
                f"VPA/{name(v)}: targetRef {ref.get('apiVersion')} {ref.get('kind')}/{ref.get('name')} is not the rendered workload")
        vpas.setdefault(ref.get("name"), []).append(v)
    g.check(sorted(vpas) == sorted(ROLES), f"VPAs target {sorted(map(str, vpas))}, expected every role {sorted(ROLES)}")
    for role, vs in vpas.items():
        if not g.check(len(vs) == 1 and role in deploys, f"{role}: {len(vs)} VPAs, or no such workload"):
            continue
        v, what = vs[0], f"VPA/{name(vs[0])}"
        g.check((v["spec"].get("updatePolicy") or {}).get("updateMode") == "Off",
                f"{what}: updateMode {(v['spec'].get('updatePolicy') or {}).get('updateMode')!r}, must be \"Off\" (recommendations only)")
        res = main_container(deploys[role]).get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        pols = {p.get("containerName"): p for p in ((v["spec"].get("resourcePolicy") or {}).get("containerPolicies") or [])}
        p = pols.get(main_container(deploys[role])["name"])
        if not g.check(p is not None, f"{what}: no containerPolicy for the container {main_container(deploys[role])['name']}"):
            continue
        for kind, conv in (("cpu", cpu_millis), ("memory", mem_bytes)):
            lo, hi = (p.get("minAllowed") or {}).get(kind), (p.get("maxAllowed") or {}).get(kind)
            if not g.check(lo is not None and hi is not None, f"{what}: no minAllowed/maxAllowed {kind}"):
                continue
            g.check(conv(hi) >= conv(lim.get(kind, 0)), f"{what}: maxAllowed {kind} {hi} below the limit {lim.get(kind)}")
            # dev lowers every request to 50m/128Mi for an idle cluster; the bounds are the base's
            floor_of = lim.get(kind, 0) if overlay == "dev" else req.get(kind, 0)
            g.check(conv(lo) <= conv(floor_of), f"{what}: minAllowed {kind} {lo} above the {'limit' if overlay == 'dev' else 'request'} {floor_of}")
    return g


# ---------------------------------------------------------------------------------------------
# Istio


def duration_s(v) -> float | None:
    """An Istio duration ("10s", "1.5s", "500ms", "1m", "1h") in seconds; None if malformed."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(v))
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def service_of(host: str, services: set[str]) -> str | None:
    """The Service in our namespace a mesh host name resolves to (short, namespaced or FQDN)."""
    m = re.fullmatch(r"([a-z0-9-]+)(\.%s(\.svc(\.cluster\.local)?)?)?" % NAMESPACE, str(host))
    return m.group(1) if m and m.group(1) in services else None


def string_match(sm: dict | None, value: str, ignore_case: bool = False) -> bool:
    """An Istio StringMatch (exact | prefix | regex, RE2 full match) against a value."""
    if sm is None:
        return True
    if ignore_case:
        value = value.lower()
    if "exact" in sm:
        return value == (sm["exact"].lower() if ignore_case else sm["exact"])
    if "prefix" in sm:
        return value.startswith(sm["prefix"].lower() if ignore_case else sm["prefix"])
    if "regex" in sm:
        return re.fullmatch(sm["regex"], value) is not None
    return True


MATCH_KEYS = {"name", "uri", "method", "ignoreUriCase"}


def route_matches(route: dict, method: str, path: str, conservative: bool = False) -> bool:
    """Whether an HTTP route's match (entries OR'd, conditions AND'd; none = all) takes the request.
    Conditions this evaluator does not model (headers, queryParams, ...) make an entry match only
    when `conservative` (used where "could it match?" is the question)."""
    matches = route.get("match")
    if not matches:
        return True
    for m in matches:
        if set(m) - MATCH_KEYS and not conservative:
            continue
        if string_match(m.get("uri"), path, m.get("ignoreUriCase", False)) and string_match(m.get("method"), method):
            return True
    return False


def first_route(routes: list[dict], method: str, path: str) -> dict | None:
    return next((r for r in routes if route_matches(r, method, path)), None)


def route_services(route: dict, services: set[str]) -> list[str | None]:
    return [service_of((d.get("destination") or {}).get("host"), services) for d in route.get("route") or []]


def get_only(route: dict) -> bool:
    """Every match entry of the route requires method GET (exactly): its requests are idempotent."""
    matches = route.get("match") or []
    return bool(matches) and all((m.get("method") or {}).get("exact") == "GET" for m in matches)


def gateway_routes(docs) -> tuple[list[dict], list[dict]]:
    ref = f"{GATEWAY_NAMESPACE}/{GATEWAY_NAME}"
    vss = [v for v in of_kind(docs, "VirtualService") if ref in (v["spec"].get("gateways") or [])
           or (GATEWAY_NAME in (v["spec"].get("gateways") or []) and v["metadata"].get("namespace") == GATEWAY_NAMESPACE)]
    return vss, [r for v in vss for r in v["spec"].get("http") or []]


def g_mesh_mtls(docs, overlay):
    g = Group("namespace-wide STRICT mTLS, sidecars injected into the roles, none into the migration Job")
    pas = of_kind(docs, "PeerAuthentication")
    wide = [p for p in pas if not (p["spec"].get("selector") or {}).get("matchLabels")]
    g.check(len(wide) == 1 and name(wide[0]) == "default",
            f"{len(wide)} namespace-wide PeerAuthentications ({[name(p) for p in wide]}), expected one named default")
    for p in pas:
        mode = (p["spec"].get("mtls") or {}).get("mode")
        g.check(mode == "STRICT", f"PeerAuthentication/{name(p)}: mtls.mode {mode!r}, must be STRICT")
        lower = {k: v.get("mode") for k, v in (p["spec"].get("portLevelMtls") or {}).items() if (v or {}).get("mode") != "STRICT"}
        g.check(not lower, f"PeerAuthentication/{name(p)}: ports {lower} below STRICT")
    ns = next((n for n in of_kind(docs, "Namespace") if name(n) == NAMESPACE), None)
    nl = labels(ns) if ns else {}
    g.check(nl.get("istio-injection") == "enabled" or ("istio.io/rev" in nl and "istio-injection" not in nl),
            f"Namespace/{NAMESPACE}: neither istio-injection: enabled nor an istio.io/rev label (labels {nl})")

    def opted_out(w):
        meta = w["spec"]["template"].get("metadata") or {}
        return "false" in (str((meta.get("labels") or {}).get("sidecar.istio.io/inject")),
                           str((meta.get("annotations") or {}).get("sidecar.istio.io/inject")))
    for d in workloads(docs):
        g.check(not opted_out(d), f"{wname(d)}: sidecar injection turned off (STRICT mTLS would cut it off)")
    for j in of_kind(docs, "Job"):
        g.check(opted_out(j), f"Job/{name(j)}: gets a sidecar, which never exits: the Job would never complete "
                              "(sidecar.istio.io/inject: \"false\" on its pod template)")
    return g


def g_destinationrules(docs, overlay):
    g = Group("per HTTP role: ISTIO_MUTUAL, connection pool, outlier detection (maxEjectionPercent <= 50)")
    services = {name(s) for s in of_kind(docs, "Service")}
    drs: dict[str, list[dict]] = {}
    for dr in of_kind(docs, "DestinationRule"):
        svc = service_of(dr["spec"].get("host"), services)
        g.check(svc is not None, f"DestinationRule/{name(dr)}: host {dr['spec'].get('host')!r} is no Service in the render")
        drs.setdefault(svc, []).append(dr)
    for role in HTTP_ROLES:
        mine = drs.get(role, [])
        if not g.check(len(mine) == 1, f"{role}: {len(mine)} DestinationRules, expected one"):
            continue
        dr, what = mine[0], f"DestinationRule/{name(mine[0])}"
        top = dr["spec"].get("trafficPolicy") or {}
        policies = [("", top)] + [(f" subset {s.get('name')}", s.get("trafficPolicy") or {}) for s in dr["spec"].get("subsets") or []]
        for where, tp in policies:
            for pl in [tp] + list(tp.get("portLevelSettings") or []):
                mode = (pl.get("tls") or {}).get("mode")
                if pl is tp and not where:
                    g.check(mode == "ISTIO_MUTUAL", f"{what}: tls mode {mode!r}, must be ISTIO_MUTUAL")
                else:
                    g.check(mode in (None, "ISTIO_MUTUAL"), f"{what}{where}: tls mode {mode!r} overrides ISTIO_MUTUAL")
        pool = top.get("connectionPool") or {}
        tcp, http = pool.get("tcp") or {}, pool.get("http") or {}
        for key, val in (("tcp.maxConnections", tcp.get("maxConnections")),
                         ("http.http1MaxPendingRequests", http.get("http1MaxPendingRequests")),
                         ("http.http2MaxRequests", http.get("http2MaxRequests"))):
            g.check(isinstance(val, int) and val > 0, f"{what}: connectionPool {key} {val!r} unset (no circuit breaking)")
        mrpc = http.get("maxRequestsPerConnection")
        if role == "realtime":
            g.check(mrpc in (None, 0), f"{what}: maxRequestsPerConnection {mrpc} would close connections carrying WebSockets")
        od = top.get("outlierDetection") or {}
        errs = od.get("consecutive5xxErrors", od.get("consecutiveGatewayErrors"))
        g.check(isinstance(errs, int) and errs > 0, f"{what}: outlierDetection without consecutive5xxErrors")
        for key in ("interval", "baseEjectionTime"):
            g.check(duration_s(od.get(key)) is not None, f"{what}: outlierDetection.{key} {od.get(key)!r} unset or malformed")
        mep = od.get("maxEjectionPercent")
        g.check(isinstance(mep, int) and 0 < mep <= MAX_EJECTION_PERCENT,
                f"{what}: outlierDetection.maxEjectionPercent {mep!r}, must be set and <= {MAX_EJECTION_PERCENT} "
                "(a bad rollout must not eject every pod)")
    return g


def g_gateway(docs, overlay):
    g = Group("ingress Gateway: HTTPS 443 from a TLS Secret name, 80 redirects, the overlay's public host")
    cms = {name(c): c.get("data") or {} for c in of_kind(docs, "ConfigMap")}
    url = next((d["TIKETI_PUBLIC_URL"] for d in cms.values() if "TIKETI_PUBLIC_URL" in d), "")
    host = re.sub(r"^https://([^/:]+).*$", r"\1", url) if url.startswith("https://") else None
    g.check(host is not None, f"TIKETI_PUBLIC_URL {url!r} is not an https:// URL")
    gws = [x for x in of_kind(docs, "Gateway") if name(x) == GATEWAY_NAME and x["metadata"].get("namespace") == GATEWAY_NAMESPACE]
    if not g.check(len(gws) == 1, f"no Gateway {GATEWAY_NAMESPACE}/{GATEWAY_NAME} rendered"):
        return g
    gw = gws[0]
    g.check(gw["spec"].get("selector") == GATEWAY_SELECTOR, f"Gateway: selector {gw['spec'].get('selector')}, expected {GATEWAY_SELECTOR}")
    servers = {(s.get("port") or {}).get("number"): s for s in gw["spec"].get("servers") or []}
    g.check(sorted(servers) == [80, 443], f"Gateway: ports {sorted(servers)}, expected 80 and 443")
    https, http = servers.get(443) or {}, servers.get(80) or {}
    tls = https.get("tls") or {}
    g.check((https.get("port") or {}).get("protocol") == "HTTPS" and tls.get("mode") == "SIMPLE",
            "Gateway: 443 is not HTTPS with tls mode SIMPLE")
    g.check(bool(tls.get("credentialName")) and not PLACEHOLDER.search(str(tls.get("credentialName"))),
            f"Gateway: 443 has no credentialName (the TLS Secret's name) or a placeholder ({tls.get('credentialName')!r})")
    inline = [k for k in ("privateKey", "serverCertificate", "caCertificates") if k in tls]
    g.check(not inline, f"Gateway: certificate files {inline} instead of a Secret by credentialName")
    g.check((http.get("tls") or {}).get("httpsRedirect") is True, "Gateway: port 80 does not redirect to HTTPS")
    # 443 answers any SNI: the ALB in front connects without one (docs/operations.md, "Mesh (Istio)").
    g.check(https.get("hosts") == ["*"], f"Gateway: port 443 hosts {https.get('hosts')}, expected ['*'] (the ALB sends no SNI)")
    g.check(http.get("hosts") == [host], f"Gateway: port 80 hosts {http.get('hosts')}, expected [{host}] (TIKETI_PUBLIC_URL)")
    vss, _ = gateway_routes(docs)
    for v in vss:
        g.check(v["spec"].get("hosts") == [host], f"VirtualService/{name(v)}: hosts {v['spec'].get('hosts')}, expected [{host}]")
    return g


def g_routes(docs, overlay):
    g = Group("public paths to the right role, no /internal/, timeouts, retries only on GET-only routes")
    services = {name(s) for s in of_kind(docs, "Service")}
    vss, routes = gateway_routes(docs)
    if not g.check(len(vss) == 1, f"{len(vss)} VirtualServices bound to {GATEWAY_NAMESPACE}/{GATEWAY_NAME}, expected one"):
        return g
    g.check(not vss[0]["spec"].get("tcp") and not vss[0]["spec"].get("tls"), "VirtualService: tcp/tls routes bypass the HTTP rules")

    def served_by(method, path):
        r = first_route(routes, method, path)
        if r is None:
            return None, None
        svcs = route_services(r, services)
        return r, (svcs[0] if len(set(svcs)) == 1 else svcs or "direct")
    cases = [(p, role) for p, role in PUBLIC_ROUTES.items()]
    cases += [(p + "/1", role) for p, role in PUBLIC_ROUTES.items() if p != WEBSOCKET_PATH]
    cases += [(p, CATCH_ALL_ROLE) for p in CATCH_ALL_PATHS]
    for path, role in cases:
        for method in ("GET", "POST"):
            if path == WEBSOCKET_PATH and method == "POST":
                continue
            r, svc = served_by(method, path)
            g.check(svc == role and role in services,
                    f"{method} {path}: routed to {svc!r} (route {(r or {}).get('name')!r}), expected the {role} Service")
    for path in INTERNAL_PATHS:
        for method in ("GET", "POST"):
            r = first_route(routes, method, path)
            forwards = r is not None and bool(r.get("route") or r.get("redirect") or r.get("delegate"))
            g.check(not forwards, f"{method} {path}: reachable from the gateway (route {(r or {}).get('name')!r})")
            # and no route that could match under any unmodelled condition forwards it either
            idx = next((i for i, x in enumerate(routes) if x is r), len(routes))
            could = [x.get("name") for x in routes[:idx] if route_matches(x, method, path, conservative=True)
                     and (x.get("route") or x.get("delegate"))]
            g.check(not could, f"{method} {path}: conditional routes {could} could forward it")
    ws_route = first_route(routes, "GET", WEBSOCKET_PATH)
    for i, r in enumerate(routes):
        what = f"route {r.get('name') or i}"
        if not r.get("route"):
            continue
        svcs = route_services(r, services)
        g.check(all(svcs), f"{what}: destination(s) {[(d.get('destination') or {}).get('host') for d in r['route']]} not all Services in the render")
        for d in r["route"]:
            port = ((d.get("destination") or {}).get("port") or {}).get("number")
            g.check(port in (None, PORT), f"{what}: destination port {port}, the Services listen on {PORT}")
        ws, t = r is ws_route, r.get("timeout")
        if ws:
            g.check(t is None or duration_s(t) == 0 or (duration_s(t) or 0) >= 3600,
                    f"{what}: timeout {t} would cut WebSockets (none, 0s or >= 1h)")
        else:
            g.check(duration_s(t) not in (None, 0), f"{what}: no timeout (Istio's default is none)")
            if "payment" in svcs and duration_s(t):
                g.check(duration_s(t) >= PAYMENT_MIN_TIMEOUT, f"{what}: timeout {t} shorter than a Toss confirm's {PAYMENT_MIN_TIMEOUT} s")
        retries = r.get("retries")
        if get_only(r):
            on = set(filter(None, str((retries or {}).get("retryOn", "")).split(",")))
            g.check(retries is None or retries.get("attempts", 0) == 0 or (bool(on) and on <= SAFE_RETRY_ON),
                    f"{what}: GET retries on {sorted(on) or 'Istio defaults'}, allowed {sorted(SAFE_RETRY_ON)}")
        else:
            g.check(isinstance(retries, dict) and retries.get("attempts") == 0,
                    f"{what}: takes non-GET requests (POSTs) but retries is {retries!r}, must be attempts: 0 "
                    "(Istio retries by default; a POST must never be sent twice)")
    return g


# ---------------------------------------------------------------------------------------------
# Progressive delivery (Argo Rollouts)


def templates_by_name(docs) -> dict[str, dict]:
    return {name(a): a for a in of_kind(docs, "AnalysisTemplate") + of_kind(docs, "ClusterAnalysisTemplate")}


def metric_seconds(template: dict) -> float | None:
    """How long a finite AnalysisRun of this template takes: the slowest metric's initialDelay +
    (count - 1) x interval. None when a metric never ends (no count) or a duration is malformed."""
    worst = 0.0
    for m in template["spec"].get("metrics") or []:
        count = m.get("count")
        if not isinstance(count, int) or count < 1:
            return None
        delay = duration_s(m.get("initialDelay", "0s"))
        interval = duration_s(m.get("interval", "0s")) if count > 1 else 0
        if delay is None or interval is None:
            return None
        worst = max(worst, delay + (count - 1) * interval)
    return worst


def check_analysis_refs(g: Group, what: str, ref: dict, templates: dict, hash_arg: str, role: str,
                        finite: bool) -> float | None:
    """An analysis reference (a step, background or pre-promotion): its templates exist, every argument
    they declare is given, the revision hash comes from the new pods, the role is this one."""
    names = [t.get("templateName") for t in ref.get("templates") or []]
    if not g.check(bool(names), f"{what}: no analysis templates"):
        return None
    args = {a.get("name"): a for a in ref.get("args") or []}
    seconds = 0.0
    for n in names:
        t = templates.get(n)
        if not g.check(t is not None, f"{what}: AnalysisTemplate {n!r} is not rendered"):
            return None
        missing = [a["name"] for a in t["spec"].get("args") or [] if "value" not in a and a["name"] not in args]
        g.check(not missing, f"{what}: arguments {missing} of {n} not given")
        if finite:
            s = metric_seconds(t)
            if g.check(s is not None, f"{what}: {n} has a metric without count: the step would never end"):
                seconds = max(seconds, s)
        else:
            counted = [m.get("name") for m in t["spec"].get("metrics") or [] if "count" in m]
            g.check(not counted, f"{what}: background template {n} stops after `count` ({counted}), long before the update ends")
    g.check(((args.get(hash_arg) or {}).get("valueFrom") or {}).get("podTemplateHashValue") == "Latest",
            f"{what}: argument {hash_arg} is not valueFrom.podTemplateHashValue: Latest (the new revision's pods)")
    g.check((args.get("role") or {}).get("value") == role, f"{what}: argument role is {(args.get('role') or {}).get('value')!r}, not {role}")
    return seconds


def g_rollouts(docs, overlay):
    g = Group("canaries through Istio subsets with analysis, blue/green realtime, a deploy within 5 minutes")
    rollouts = {name(r): r for r in of_kind(docs, "Rollout")}
    services = {name(s): s for s in of_kind(docs, "Service")}
    vss = {name(v): v for v in of_kind(docs, "VirtualService")}
    drs = {name(d): d for d in of_kind(docs, "DestinationRule")}
    templates = templates_by_name(docs)
    g.check(sorted(rollouts) == sorted(CANARY_ROLES + BLUEGREEN_ROLES),
            f"Rollouts {sorted(rollouts)}, documented {sorted(CANARY_ROLES + BLUEGREEN_ROLES)}")
    g.check(all(r["apiVersion"] == ROLLOUT_API for r in rollouts.values()), f"a Rollout not in {ROLLOUT_API}")
    for role in CANARY_ROLES + BLUEGREEN_ROLES:
        r = rollouts.get(role)
        if r is None:
            continue
        what, spec = f"Rollout/{role}", r["spec"]
        g.check(spec.get("progressDeadlineAbort") is True and isinstance(spec.get("progressDeadlineSeconds"), int),
                f"{what}: no progressDeadlineSeconds with progressDeadlineAbort (stuck new pods would never abort)")
        strategy = spec.get("strategy") or {}
        want = "canary" if role in CANARY_ROLES else "blueGreen"
        if not g.check(list(strategy) == [want], f"{what}: strategy {list(strategy)}, documented {want}"):
            continue
        if want == "canary":
            check_canary(g, what, role, strategy["canary"], r, services, vss, drs, templates)
        else:
            check_bluegreen(g, what, role, strategy["blueGreen"], r, services, docs, templates)
    return g


def check_canary(g, what, role, canary, rollout, services, vss, drs, templates):
    steps = canary.get("steps") or []
    weights = [(i, s["setWeight"]) for i, s in enumerate(steps) if "setWeight" in s]
    ws = [w for _, w in weights]
    if not g.check(len(ws) >= 2 and ws[0] <= 10 and ws == sorted(set(ws)) and ws[-1] == 100,
                   f"{what}: weights {ws}, expected a first step of at most 10 % rising to 100"):
        return
    first, second = weights[0][0], weights[1][0]
    gate = [i for i in range(first + 1, second) if "analysis" in steps[i]]
    g.check(bool(gate), f"{what}: no analysis step between setWeight {ws[0]} and {ws[1]}")
    # deploy time: the fixed parts, then every step as rendered
    seconds = MIGRATION_S + FIRST_PODS_S
    for i, s in enumerate(steps):
        if "setWeight" in s and i != first:
            seconds += MORE_PODS_S
        elif "pause" in s:
            d = duration_s((s["pause"] or {}).get("duration"))
            if g.check(d is not None, f"{what}: step {i} pauses without a duration (waits for a person)"):
                seconds += d
        elif "analysis" in s:
            secs = check_analysis_refs(g, f"{what} step {i}", s["analysis"], templates, "canary-hash", role, finite=True)
            seconds += secs or 0
    g.check(seconds <= DEPLOY_BUDGET, f"{what}: a passing update takes ~{seconds:.0f} s, over the {DEPLOY_BUDGET} s budget")
    bg = canary.get("analysis")
    if g.check(bool(bg), f"{what}: no background analysis"):
        check_analysis_refs(g, f"{what} background analysis", bg, templates, "canary-hash", role, finite=False)
        start = bg.get("startingStep", 0)
        g.check(isinstance(start, int) and start <= second, f"{what}: background analysis starts at step {start}, after the canary grew")
        p95 = next((a.get("value") for a in bg.get("args") or [] if a.get("name") == "max-p95-seconds"), None)
        g.check(p95 is not None and float(p95) == CANARY_P95[role], f"{what}: max-p95-seconds {p95!r}, documented {CANARY_P95[role]}")
    # traffic routing: the DestinationRule subsets and every route to this role's Service
    istio = ((canary.get("trafficRouting") or {}).get("istio")) or {}
    dr_ref = istio.get("destinationRule") or {}
    dr = drs.get(dr_ref.get("name"))
    stable, canary_subset = dr_ref.get("stableSubsetName"), dr_ref.get("canarySubsetName")
    if not g.check(dr is not None and service_of(dr["spec"].get("host"), set(services)) == role,
                   f"{what}: destinationRule {dr_ref.get('name')!r} is not the rendered DestinationRule of the {role} Service"):
        return
    subsets = {s.get("name"): s for s in dr["spec"].get("subsets") or []}
    for sub in (stable, canary_subset):
        s = subsets.get(sub)
        if g.check(s is not None, f"{what}: subset {sub!r} not in DestinationRule/{name(dr)}"):
            g.check(selector_matches({"matchLabels": s.get("labels") or {}}, pod_labels(rollout)) and bool(s.get("labels")),
                    f"DestinationRule/{name(dr)} subset {sub}: labels {s.get('labels')} do not select {role}'s pods")
    g.check(stable != canary_subset, f"{what}: stable and canary are the same subset")
    listed: dict[str, set] = {}
    refs = istio.get("virtualServices") or ([istio["virtualService"]] if istio.get("virtualService") else [])
    for ref in refs:
        vs = vss.get(ref.get("name"))
        if not g.check(vs is not None, f"{what}: VirtualService {ref.get('name')!r} is not rendered"):
            continue
        routes = {rt.get("name"): rt for rt in vs["spec"].get("http") or []}
        for rn in ref.get("routes") or []:
            rt = routes.get(rn)
            if not g.check(rt is not None, f"{what}: route {rn!r} not in VirtualService/{name(vs)}"):
                continue
            listed.setdefault(name(vs), set()).add(rn)
            dests = sorted((service_of((d.get("destination") or {}).get("host"), set(services)),
                            (d.get("destination") or {}).get("subset"), d.get("weight")) for d in rt.get("route") or [])
            want = sorted([(role, stable, 100), (role, canary_subset, 0)])
            g.check(dests == want, f"VirtualService/{name(vs)} route {rn}: destinations {dests}, expected {want} "
                                   "(the two subsets, all traffic to stable outside an update)")
    # A route to this Service that the Rollout does not manage splits by pod count, not by weight.
    mesh_hosts = False
    for vs in vss.values():
        for rt in vs["spec"].get("http") or []:
            if role in [service_of((d.get("destination") or {}).get("host"), set(services)) for d in rt.get("route") or []]:
                g.check(rt.get("name") in listed.get(name(vs), set()),
                        f"VirtualService/{name(vs)} route {rt.get('name')!r} goes to {role} but the Rollout does not shift it")
        gws = vs["spec"].get("gateways") or ["mesh"]
        if "mesh" in gws and role in [service_of(h, set(services)) for h in vs["spec"].get("hosts") or []]:
            mesh_hosts = name(vs) in listed
            for rt in vs["spec"].get("http") or []:
                g.check(isinstance(rt.get("retries"), dict) and rt["retries"].get("attempts") == 0,
                        f"VirtualService/{name(vs)} route {rt.get('name')!r}: calls between roles are POSTs; retries must be attempts: 0")
                g.check(duration_s(rt.get("timeout")) not in (None, 0), f"VirtualService/{name(vs)} route {rt.get('name')!r}: no timeout")
    g.check(mesh_hosts, f"{what}: no mesh VirtualService for the {role} Service in the Rollout: calls from other roles "
                        "would reach the canary by pod count")


def check_bluegreen(g, what, role, bg, rollout, services, docs, templates):
    active, preview = services.get(bg.get("activeService")), services.get(bg.get("previewService"))
    for label, svc in (("activeService", active), ("previewService", preview)):
        if g.check(svc is not None, f"{what}: {label} {bg.get(label)!r} is not a rendered Service"):
            sel = svc["spec"].get("selector") or {}
            g.check(bool(sel) and selector_matches({"matchLabels": sel}, pod_labels(rollout)),
                    f"Service/{name(svc)}: does not select {role}'s pods")
    g.check(bg.get("activeService") != bg.get("previewService"), f"{what}: active and preview are one Service")
    _, routes = gateway_routes(docs)
    ws = first_route(routes, "GET", WEBSOCKET_PATH)
    ws_svc = route_services(ws, set(services)) if ws else []
    g.check(ws_svc == [bg.get("activeService")], f"{what}: the gateway's {WEBSOCKET_PATH} route goes to {ws_svc}, not the active Service")
    g.check(bg.get("autoPromotionEnabled", True) is True, f"{what}: autoPromotionEnabled false waits for a person")
    pre = bg.get("prePromotionAnalysis")
    seconds = MIGRATION_S + FIRST_PODS_S
    if g.check(bool(pre), f"{what}: no prePromotionAnalysis"):
        seconds += check_analysis_refs(g, f"{what} prePromotionAnalysis", pre, templates, "preview-hash", role, finite=True) or 0
    g.check(seconds <= DEPLOY_BUDGET, f"{what}: a passing update takes ~{seconds:.0f} s, over the {DEPLOY_BUDGET} s budget")
    delay = bg.get("scaleDownDelaySeconds", 30)
    g.check(isinstance(delay, int) and delay >= BLUEGREEN_MIN_SCALE_DOWN_DELAY,
            f"{what}: scaleDownDelaySeconds {delay!r}: old pods would close sockets before every gateway has switched "
            f"(at least {BLUEGREEN_MIN_SCALE_DOWN_DELAY} s)")


def expr_eval(cond: str, result: list, args: dict) -> bool | None:
    """An Argo Rollouts condition (expr language) over `result`, for the subset used here:
    len(), isNaN(), comparisons, &&, ||, !. None if it raises (Argo: a measurement Error)."""
    src = re.sub(r"\{\{\s*args\.([\w-]+)\s*\}\}", lambda m: str(args.get(m.group(1), "1")), cond)
    src = src.replace("&&", " and ").replace("||", " or ")
    src = re.sub(r"!(?!=)", " not ", src)
    if re.search(r"[^\w\s\[\]().<>=!+*/-]", src.replace(" and ", " ").replace(" or ", " ").replace(" not ", " ")):
        return None
    try:
        return bool(eval(src, {"__builtins__": {}}, {"result": result, "len": len, "isNaN": lambda x: x != x}))
    except Exception:
        return None


def find_promtool() -> str | None:
    """promtool (Debian's `prometheus` package): $PROMTOOL, the repository's .tiketi/prometheus copy, PATH."""
    for cand in (os.environ.get("PROMTOOL"), str(Path(__file__).resolve().parents[2] / ".tiketi/prometheus/usr/bin/promtool")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return shutil.which("promtool")


def promql_problems(queries: list[tuple[str, str]]) -> list[str]:
    """Parse each query with `promtool check rules` (wrapped as a recording rule, its arguments filled
    in); the messages of the ones that do not parse."""
    promtool = find_promtool()
    if promtool is None:
        return ["promtool not found ($PROMTOOL, .tiketi/prometheus/usr/bin/promtool or PATH; Debian package prometheus)"]
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (what, q) in enumerate(queries):
            expr = re.sub(r"\{\{\s*args\.([\w-]+)\s*\}\}", lambda m: "ticket" if m.group(1) == "role" else "0a1b2c3d4e", q)
            f = Path(tmp) / f"q{i}.yaml"
            f.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": [{"record": "analysis:q", "expr": expr}]}]}))
            proc = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True, text=True)
            if proc.returncode != 0:
                lines = (proc.stdout + proc.stderr).strip().splitlines()
                problems.append(f"{what}: PromQL does not parse: {lines[-1] if lines else ''}")
    return problems


def g_analysis(docs, overlay):
    g = Group("Prometheus checks by revision hash; canary 5xx share and p95; no data is neither pass nor fail")
    templates = templates_by_name(docs)
    rollouts = of_kind(docs, "Rollout")
    # which templates the canaries use (they must measure errors and latency)
    canary_templates, args_of = set(), {}
    for r in rollouts:
        c = (r["spec"].get("strategy") or {}).get("canary") or {}
        refs = [s["analysis"] for s in c.get("steps") or [] if "analysis" in s] + ([c["analysis"]] if c.get("analysis") else [])
        for ref in refs:
            for t in ref.get("templates") or []:
                canary_templates.add(t.get("templateName"))
                args_of.setdefault(t.get("templateName"), {a.get("name"): a.get("value") for a in ref.get("args") or []})
    g.check(bool(templates), "no AnalysisTemplates rendered")
    queries = [(f"AnalysisTemplate/{tn} metric {m.get('name')}", str(((m.get("provider") or {}).get("prometheus") or {}).get("query", "")))
               for tn, t in templates.items() for m in t["spec"].get("metrics") or [] if (m.get("provider") or {}).get("prometheus")]
    for problem in promql_problems(queries):
        g.check(False, problem)
    g.count += len(queries)
    nan = float("nan")
    for tname, t in templates.items():
        declared = {a.get("name") for a in t["spec"].get("args") or []}
        metrics = t["spec"].get("metrics") or []
        for m in metrics:
            what = f"AnalysisTemplate/{tname} metric {m.get('name')}"
            prom = (m.get("provider") or {}).get("prometheus") or {}
            if not g.check(bool(prom), f"{what}: not a Prometheus metric"):
                continue
            g.check(prom.get("address") == PROMETHEUS, f"{what}: address {prom.get('address')!r}, expected {PROMETHEUS}")
            q = str(prom.get("query", ""))
            used = set(re.findall(r"\{\{\s*args\.([\w-]+)\s*\}\}", q + str(m.get("successCondition")) + str(m.get("failureCondition"))))
            g.check(used <= declared, f"{what}: uses undeclared arguments {sorted(used - declared)}")
            g.check(re.search(r'%s="\{\{args\.[\w-]+\}\}"' % HASH_SERIES_LABEL, q) is not None
                    or re.search(r'pod=~"\{\{args\.role\}\}-\{\{args\.[\w-]+-hash\}\}-', q) is not None,
                    f"{what}: the query does not select the new revision by {HASH_SERIES_LABEL}")
            g.check('namespace="tiketi"' in q, f"{what}: the query is not limited to namespace tiketi")
            # every selector of the application's HTTP series: this role, this revision, no probes
            for sel in re.findall(r"tiketi_http_\w+\{((?:[^{}]|\{\{[^{}]*\}\})*)\}", q):
                g.check('role="{{args.role}}"' in sel and HASH_SERIES_LABEL in sel,
                        f"{what}: a selector not limited to the role and the revision ({{{sel}}})")
                excl = re.search(r'route!~"([^"]*)"', sel)
                g.check(excl is not None and {"/healthz", "/readyz", "/metrics"} <= set(excl.group(1).split("|")),
                        f"{what}: a selector counting probe and scrape requests ({{{sel}}}): an idle revision would look healthy")
            if 'status=~"5..' in q:
                g.check("or vector(0)" in q, f"{what}: without `or vector(0)` a revision with no 5xx at all has no data")
            # no data (empty or NaN) must be Inconclusive: neither condition true
            sc, fc = m.get("successCondition"), m.get("failureCondition")
            if not g.check(bool(sc) and bool(fc), f"{what}: needs both successCondition and failureCondition "
                                                   "(with one only, anything not matching it, no data included, decides)"):
                continue
            args = args_of.get(tname, {})
            for empty in ([], [nan]):
                s, f = expr_eval(sc, empty, args), expr_eval(fc, empty, args)
                g.check(s is False and f is False,
                        f"{what}: result {empty} gives success={s} failure={f}; no data must be Inconclusive (both false, no error)")
            for v in (0.0, 0.005, 0.01, 0.5, 1.0, 2.0, 1e6):
                s, f = expr_eval(sc, [v], args), expr_eval(fc, [v], args)
                g.check(s is not None and f is not None and s != f,
                        f"{what}: result [{v}] gives success={s} failure={f}; with data exactly one must hold")
            if "count" in m:
                lim = m.get("inconclusiveLimit", 0)
                g.check(isinstance(lim, int) and 2 * lim < m["count"],
                        f"{what}: inconclusiveLimit {lim} of {m['count']} measurements lets a run pass on mostly no data")
            else:
                g.check(isinstance(m.get("failureLimit"), int) and m["failureLimit"] <= 2,
                        f"{what}: background metric without a failureLimit <= 2")
                g.check(isinstance(m.get("inconclusiveLimit"), int), f"{what}: background metric without an inconclusiveLimit")
        if tname in canary_templates:
            qs = {m.get("name"): str(((m.get("provider") or {}).get("prometheus") or {}).get("query", "")) for m in metrics}
            err = [n for n, q in qs.items() if "tiketi_http_requests_total" in q and 'status=~"5..' in q]
            lat = [n for n, q in qs.items() if re.search(r"histogram_quantile\(\s*0\.95\s*,", q)
                   and "tiketi_http_request_duration_seconds_bucket" in q]
            g.check(bool(err), f"AnalysisTemplate/{tname}: no 5xx share of tiketi_http_requests_total")
            g.check(bool(lat), f"AnalysisTemplate/{tname}: no p95 of tiketi_http_request_duration_seconds_bucket")
            for n in err:
                m = next(x for x in metrics if x.get("name") == n)
                args = args_of.get(tname, {})
                g.check(expr_eval(m.get("failureCondition", ""), [MAX_ERROR_RATIO * 1.5], args) is True
                        and expr_eval(m.get("successCondition", ""), [MAX_ERROR_RATIO], args) is True,
                        f"AnalysisTemplate/{tname} metric {n}: does not fail above a {MAX_ERROR_RATIO:.0%} 5xx share")
    return g


# ---------------------------------------------------------------------------------------------
# Istio authorization and tracing


def istio_match(pattern: str, value: str) -> bool:
    """Istio's string match in AuthorizationPolicy: exact, "prefix*", "*suffix", or "*"."""
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


SOURCE_KEYS = {"principals"}
OPERATION_KEYS = {"paths", "notPaths", "methods"}


def rule_allows(rule: dict, principal: str, method: str, path: str) -> bool:
    sources = rule.get("from")
    if sources is not None and not any(all(k in SOURCE_KEYS for k in s.get("source") or {}) and
                                       any(istio_match(p, principal) for p in (s.get("source") or {}).get("principals") or [])
                                       for s in sources):
        return False
    ops = rule.get("to")
    if ops is None:
        return True
    for o in ops:
        op = o.get("operation") or {}
        if set(op) - OPERATION_KEYS:
            continue
        if "paths" in op and not any(istio_match(p, path) for p in op["paths"]):
            continue
        if any(istio_match(p, path) for p in op.get("notPaths") or []):
            continue
        if "methods" in op and method not in op["methods"]:
            continue
        return True
    return False


def authz_allows(policies: list[dict], target: dict, principal: str, method: str, path: str) -> bool:
    """Istio's evaluation for ALLOW policies: if any selects the workload, the request needs a rule of
    one of them that matches; none selecting it allows everything."""
    selecting = [p for p in policies if p["spec"].get("selector") is None
                 or selector_matches(p["spec"]["selector"], target)]
    if not selecting:
        return True
    return any(rule_allows(r, principal, method, path) for p in selecting for r in p["spec"].get("rules") or [])


def gateway_principal(docs) -> str | None:
    """The ingress gateway pods' identity: the istio/gateway chart names the ServiceAccount after the
    release, `istio-<value of the istio label>`, in the Gateway's namespace."""
    gw = next((x for x in of_kind(docs, "Gateway") if name(x) == GATEWAY_NAME), None)
    if not gw or "istio" not in (gw["spec"].get("selector") or {}):
        return None
    return f"{TRUST_DOMAIN}/ns/{gw['metadata'].get('namespace')}/sa/istio-{gw['spec']['selector']['istio']}"


def g_authz(docs, overlay):
    g = Group("deny by default; each role's paths allowed only to its callers' identities")
    pols = of_kind(docs, "AuthorizationPolicy")
    sas = {name(s) for s in of_kind(docs, "ServiceAccount")}
    wl = {role_of(d): d for d in workloads(docs)}
    gw = gateway_principal(docs)
    if not g.check(gw is not None, "no Gateway to derive the ingress gateway's identity from"):
        return g
    g.check(any(p["spec"].get("selector") is None and not p["spec"].get("rules") and p["spec"].get("action", "ALLOW") == "ALLOW"
                for p in pols), "no namespace-wide allow-nothing policy (spec: {}): requests no policy names would pass")
    for p in pols:
        what = f"AuthorizationPolicy/{name(p)}"
        g.check(p["spec"].get("action", "ALLOW") == "ALLOW", f"{what}: action {p['spec'].get('action')} (only ALLOW is modelled here)")
        g.check(not p["spec"].get("targetRef") and not p["spec"].get("targetRefs"), f"{what}: targetRef is not modelled here")
        for i, r in enumerate(p["spec"].get("rules") or []):
            g.check(set(r) <= {"from", "to"}, f"{what} rule {i}: conditions {sorted(set(r) - {'from', 'to'})} not modelled")
            srcs = r.get("from") or []
            g.check(bool(srcs) and all(set(s.get("source") or {}) == {"principals"} and s["source"]["principals"] for s in srcs),
                    f"{what} rule {i}: must name its callers by principals (and nothing else)")
            for s in srcs:
                for pr in (s.get("source") or {}).get("principals") or []:
                    m = re.fullmatch(r"%s/ns/([a-z0-9-]+)/sa/([a-z0-9-]+)" % re.escape(TRUST_DOMAIN), pr)
                    if g.check(m is not None, f"{what} rule {i}: principal {pr!r} is not {TRUST_DOMAIN}/ns/<ns>/sa/<sa> (no wildcards)"):
                        if m.group(1) == NAMESPACE:
                            g.check(m.group(2) in sas, f"{what} rule {i}: ServiceAccount {m.group(2)} is not rendered")
                        # the NetworkPolicies must let that caller through at all (else the rule is dead or they disagree)
                        src_ns = m.group(1)
                        src_pod = pod_labels(wl[m.group(2)]) if src_ns == NAMESPACE and m.group(2) in wl else {}
                        for d in wl.values():
                            if p["spec"].get("selector") and selector_matches(p["spec"]["selector"], pod_labels(d)):
                                g.check(ingress_allowed(of_kind(docs, "NetworkPolicy"), pod_labels(d), src_ns, src_pod, PORT),
                                        f"{what}: allows {pr} but the NetworkPolicies block {src_ns} -> {role_of(d)} on {PORT}")
            for o in r.get("to") or []:
                g.check(set(o.get("operation") or {}) <= OPERATION_KEYS, f"{what} rule {i}: operation fields not modelled")
    for role, d in wl.items():
        own = [p for p in pols if p["spec"].get("selector") and selector_matches(p["spec"]["selector"], pod_labels(d))]
        g.check(len(own) == 1, f"{role}: {len(own)} AuthorizationPolicies of its own, expected one")
    role_sa = {r: pod_spec(d).get("serviceAccountName") for r, d in wl.items()}
    principal = lambda r: f"{TRUST_DOMAIN}/ns/{NAMESPACE}/sa/{role_sa.get(r)}"
    stranger = f"{TRUST_DOMAIN}/ns/default/sa/default"

    def expect(role, who, method, path, allowed):
        if role not in wl:
            return
        got = authz_allows(pols, pod_labels(wl[role]), who, method, path)
        g.check(got == allowed, f"{method} {path} from {who} to {role}: {'allowed' if got else 'denied'}, "
                                f"expected {'allowed' if allowed else 'denied'}")
    # the gateway: the public paths of each role, nothing internal, no metrics
    for p, role in PUBLIC_ROUTES.items():
        for path in ([p] if p == WEBSOCKET_PATH else [p, p + "/1"]):
            for method in (["GET"] if p == WEBSOCKET_PATH else ["GET", "POST"]):
                expect(role, gw, method, path, True)
                expect(role, stranger, method, path, False)
    for path in CATCH_ALL_PATHS:
        expect(CATCH_ALL_ROLE, gw, "GET", path, True)
    for role in ROLES:
        for path in INTERNAL_PATHS + [f"/internal/{role}/x", "/metrics"]:
            expect(role, gw, "POST" if path != "/metrics" else "GET", path, False)
        expect(role, PROMETHEUS_PRINCIPAL, "GET", "/metrics", True)
        expect(role, PROMETHEUS_PRINCIPAL, "GET", "/api/events", False)
        for other in ROLES:
            if other != role:
                expect(role, principal(other), "GET", "/metrics", False)
    expect("worker", gw, "GET", "/", False)
    # internal routes: exactly their callers
    for callee, callers in INTERNAL_CALLERS.items():
        for caller in ROLES:
            if caller != callee:
                expect(callee, principal(caller), "POST", f"/internal/{callee}/reservations/1/x", caller in callers)
    for caller in ROLES:
        expect("auth", principal(caller), "GET", "/internal/auth/users/1", False)
        if caller != "auth":
            expect("auth", principal(caller), "GET", JWKS_PATH, True)
            expect("auth", principal(caller), "POST", "/api/auth/login", False)
    return g


def egress_allowed(policies: list[dict], source: dict, dst_ns: str, port: int) -> bool:
    selecting = [p for p in policies if "Egress" in (p["spec"].get("policyTypes") or [])
                 and selector_matches(p["spec"].get("podSelector", {}), source)]
    if not selecting:
        return True  # egress not restricted
    for p in selecting:
        for rule in p["spec"].get("egress") or []:
            ports = rule.get("ports")
            if ports and not any(pp.get("port") == port for pp in ports):
                continue
            peers = rule.get("to")
            if not peers:
                return True
            for peer in peers:
                ns_sel = peer.get("namespaceSelector")
                if ns_sel is not None and selector_matches(ns_sel, {"kubernetes.io/metadata.name": dst_ns}):
                    return True
    return False


def g_tracing(docs, overlay):
    g = Group("mesh tracing to otel-tracing, the application's OTLP exporter and sampler, egress to the collector")
    tel = [t for t in of_kind(docs, "Telemetry") if t["metadata"].get("namespace") == NAMESPACE]
    wide = [t for t in tel if not t["spec"].get("selector") and not t["spec"].get("targetRefs")]
    if g.check(len(wide) == 1, f"{len(wide)} namespace-wide Telemetry resources in {NAMESPACE}, expected one"):
        tracing = wide[0]["spec"].get("tracing") or []
        providers = [p.get("name") for t in tracing for p in t.get("providers") or []]
        g.check(providers == [TRACING_PROVIDER], f"Telemetry/{name(wide[0])}: providers {providers}, expected [{TRACING_PROVIDER}]")
        pct = [t.get("randomSamplingPercentage") for t in tracing]
        g.check(pct == [SAMPLING_PERCENT[overlay]], f"Telemetry/{name(wide[0])}: sampling {pct}, documented {SAMPLING_PERCENT[overlay]} % for {overlay}")
        g.check(not any(t.get("disableSpanReporting") for t in tracing), f"Telemetry/{name(wide[0])}: span reporting disabled")
    cms = {name(c): c.get("data") or {} for c in of_kind(docs, "ConfigMap")}
    pols = of_kind(docs, "NetworkPolicy")
    for d in workloads(docs):
        c = main_container(d)
        data = {}
        for ef in c.get("envFrom") or []:
            data.update(cms.get((ef.get("configMapRef") or {}).get("name"), {}))
        for key, value in OTEL_CONFIG.items():
            g.check(data.get(key) == value, f"{wname(d)}: {key} {data.get(key)!r}, expected {value!r}")
        arg = data.get("OTEL_TRACES_SAMPLER_ARG")
        try:
            ok = abs(float(arg) - SAMPLING_PERCENT[overlay] / 100) < 1e-9
        except (TypeError, ValueError):
            ok = False
        g.check(ok, f"{wname(d)}: OTEL_TRACES_SAMPLER_ARG {arg!r}, expected the mesh's {SAMPLING_PERCENT[overlay] / 100}")
        # the binary names its service tiketi-<role>; one value for every role would merge them in Jaeger
        g.check("OTEL_SERVICE_NAME" not in data and "OTEL_SERVICE_NAME" not in env_names(c) or role_of(d) in
                str(env_names(c).get("OTEL_SERVICE_NAME", {}).get("value", "")),
                f"{wname(d)}: OTEL_SERVICE_NAME overridden without its role")
        for port in COLLECTOR_PORTS:
            g.check(egress_allowed(pols, pod_labels(d), COLLECTOR_NAMESPACE, port),
                    f"{wname(d)}: egress to the collector ({COLLECTOR_NAMESPACE}:{port}) is blocked by a NetworkPolicy")
    return g


GROUPS = [g_schema, g_labels, g_deployments, g_resources, g_security, g_termination, g_topology, g_config,
          g_no_secrets, g_serviceaccounts, g_services_pdbs, g_networkpolicies, g_migration, g_replicas,
          g_autoscaling, g_vpa, g_mesh_mtls, g_destinationrules, g_gateway, g_routes, g_rollouts, g_analysis,
          g_authz, g_tracing]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2], help="the repository")
    ap.add_argument("overlays", nargs="*", default=OVERLAYS)
    args = ap.parse_args()
    passed = failed = 0
    for overlay in args.overlays:
        docs, err = render(args.root, overlay)
        if err:
            print(f"FAIL {overlay}: render: {err}")
            failed += 1
            continue
        print(f"ok   {overlay}: render: {len(docs)} objects from k8s/overlays/{overlay}")
        passed += 1
        for fn in GROUPS:
            try:
                g = fn(docs, overlay)
            except Exception as e:  # a malformed manifest must fail the group, not crash the run
                print(f"FAIL {overlay}: {fn.__name__[2:]}: crashed on the manifests: {type(e).__name__}: {e}")
                failed += 1
                continue
            gid = fn.__name__[2:]
            if g.failures:
                print(f"FAIL {overlay}: {gid}: {g.name}")
                for f in g.failures:
                    print(f"       - {f}")
                failed += 1
            else:
                print(f"ok   {overlay}: {gid}: {g.name} ({g.count} assertions)")
                passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
