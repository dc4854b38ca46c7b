#!/usr/bin/env python3
"""Offline checks of Tiketi's Kubernetes manifests (k8s/).

For each overlay (dev, staging, prod): render it with `kubectl kustomize`, validate every document
against the Kubernetes 1.32 schemas (kubernetes-validate, strict: unknown fields fail), then assert
the policies docs/operations.md ("Kubernetes") describes on the rendered output.

Prints one line per check group and overlay, then `N passed, M failed`; exits 1 on any failure.
Needs: python3, `kubectl` (v1.32, for `kubectl kustomize`), and the PyPI packages
kubernetes-validate and PyYAML.

    python3 tools/infra-check/check_k8s.py [--root DIR] [overlay ...]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
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
CRD_GROUPS = {"keda.sh", "autoscaling.k8s.io", "networking.istio.io", "security.istio.io"}

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
    g.check(repo == IMAGE, f"{what}: image {image!r} is not {IMAGE}")
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
        if d["kind"] in ("Deployment", "Job", "Service", "ServiceAccount", "PodDisruptionBudget"):
            g.check("app.kubernetes.io/component" in lb, f"{what}: no app.kubernetes.io/component label")
        if d["kind"] in ("Deployment", "Job"):
            pl = pod_labels(d)
            g.check(pl.get("app.kubernetes.io/component") == lb.get("app.kubernetes.io/component")
                    and pl.get("app.kubernetes.io/part-of") == "tiketi", f"{what}: pod template lacks the labels")
    g.check(len(of_kind(docs, "Namespace")) == 1, "the Namespace object is missing")
    return g


def g_deployments(docs, overlay):
    g = Group("one per role, `tiketi serve --role <role>`, pinned image, port http 8080, probes")
    deploys = of_kind(docs, "Deployment")
    g.check(sorted(role_of(d) or "?" for d in deploys) == sorted(ROLES),
            f"Deployments' roles are {sorted(role_of(d) or '?' for d in deploys)}, expected {sorted(ROLES)}")
    for d in deploys:
        role, what = role_of(d), f"Deployment/{name(d)}"
        g.check(name(d) == role, f"{what}: named differently from its role {role}")
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
    for d in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
        for c in pod_spec(d)["containers"]:
            check_resources(g, f"{d['kind']}/{name(d)} container {c['name']}", c)
    return g


def g_security(docs, overlay):
    g = Group("non-root, read-only root, no escalation, drop ALL, seccomp RuntimeDefault")
    for d in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
        check_security(g, f"{d['kind']}/{name(d)}", d)
    return g


def g_termination(docs, overlay):
    g = Group("grace period >= preStop sleep + TIKETI_SHUTDOWN_GRACE_SECS")
    cms = {name(c): c.get("data") or {} for c in of_kind(docs, "ConfigMap")}
    for d in of_kind(docs, "Deployment"):
        what, c = f"Deployment/{name(d)}", main_container(d)
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
    g = Group("zone and hostname, maxSkew 1, selecting the role's own pods")
    for d in of_kind(docs, "Deployment"):
        what = f"Deployment/{name(d)}"
        tsc = {t.get("topologyKey"): t for t in pod_spec(d).get("topologySpreadConstraints") or []}
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname"):
            t = tsc.get(key)
            if g.check(t is not None, f"{what}: no topology spread over {key}"):
                g.check(t.get("maxSkew") == 1, f"{what}: {key} maxSkew is not 1")
                g.check(selector_matches(t.get("labelSelector"), pod_labels(d)), f"{what}: {key} spread does not select its own pods")
                g.check(t.get("labelSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") == role_of(d),
                        f"{what}: {key} spread is not limited to its role")
        if "topology.kubernetes.io/zone" in tsc:
            g.check(tsc["topology.kubernetes.io/zone"].get("whenUnsatisfiable") == "DoNotSchedule",
                    f"{what}: zone spread is not enforced (DoNotSchedule)")
    return g


def g_config(docs, overlay):
    g = Group("ConfigMap settings, in-cluster URLs, secrets only by secretKeyRef to tiketi-connections")
    cms = {name(c): c.get("data") or {} for c in of_kind(docs, "ConfigMap")}
    services = {name(s) for s in of_kind(docs, "Service")}
    for d in of_kind(docs, "Deployment"):
        what, c = f"Deployment/{name(d)}", main_container(d)
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
    for d in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
        for c in pod_spec(d)["containers"]:
            g.check(not secret_literals(c), f"{d['kind']}/{name(d)}: literal secret values {secret_literals(c)}")
    text = yaml.safe_dump_all(docs)
    g.check(not re.search(r"(postgres(ql)?|rediss?)://", text), "a postgres:// or redis:// URL appears in the manifests")
    return g


def g_serviceaccounts(docs, overlay):
    g = Group("every Deployment's exists, with its own non-placeholder IRSA role ARN")
    sas = {name(s): s for s in of_kind(docs, "ServiceAccount")}
    arns = {}
    for d in of_kind(docs, "Deployment"):
        what, sa_name = f"Deployment/{name(d)}", pod_spec(d).get("serviceAccountName")
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
    deploys = {role_of(d): d for d in of_kind(docs, "Deployment")}
    services, pdbs = of_kind(docs, "Service"), of_kind(docs, "PodDisruptionBudget")
    for role in HTTP_ROLES + ["worker"]:
        d = deploys.get(role)
        if not g.check(d is not None, f"no Deployment for {role}"):
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
    deploys = {role_of(d): d for d in of_kind(docs, "Deployment")}
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
    images = {main_container(d).get("image") for d in of_kind(docs, "Deployment")}
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
    deploys = {role_of(d): d for d in of_kind(docs, "Deployment")}
    got = {r: d["spec"].get("replicas") for r, d in deploys.items() if r not in KEDA_ROLES}
    want = {r: c for r, c in REPLICAS[overlay].items() if r not in KEDA_ROLES}
    g.check(got == want, f"replicas {got}, documented {want}")
    for r in KEDA_ROLES:
        if r in deploys:
            g.check("replicas" not in deploys[r]["spec"],
                    f"Deployment/{r}: fixed replicas {deploys[r]['spec'].get('replicas')} while KEDA scales it "
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
    g = Group("one ScaledObject per scaled role, documented triggers, bounds, scale-up within 30 s")
    deploys = {name(d): d for d in of_kind(docs, "Deployment")}
    sos = of_kind(docs, "ScaledObject")
    auths = {name(a): a for a in of_kind(docs, "TriggerAuthentication")}
    cms = {name(c): c.get("data") or {} for c in of_kind(docs, "ConfigMap")}
    prefix = next((d["TIKETI_AWS_NAME_PREFIX"] for d in cms.values() if "TIKETI_AWS_NAME_PREFIX" in d), None)
    targets: dict[str, list[str]] = {}
    for so in sos:
        ref = so["spec"].get("scaleTargetRef") or {}
        g.check(ref.get("kind", "Deployment") == "Deployment" and ref.get("apiVersion", "apps/v1") == "apps/v1",
                f"ScaledObject/{name(so)}: scaleTargetRef is not a Deployment")
        g.check(ref.get("name") in deploys, f"ScaledObject/{name(so)}: targets {ref.get('name')!r}, not a rendered Deployment")
        targets.setdefault(ref.get("name"), []).append(name(so))
    g.check(sorted(targets) == sorted(KEDA_ROLES), f"KEDA scales {sorted(targets)}, documented {sorted(KEDA_ROLES)}")
    for dep, owners in targets.items():
        g.check(len(owners) == 1, f"Deployment/{dep}: {len(owners)} ScaledObjects ({owners}); exactly one may own its HPA")
    hpas = [h for h in of_kind(docs, "HorizontalPodAutoscaler") if (h["spec"].get("scaleTargetRef") or {}).get("name") in targets]
    g.check(not hpas, f"HorizontalPodAutoscalers {[name(h) for h in hpas]} compete with KEDA's for the same Deployment")
    for so in sos:
        spec, role = so["spec"], (so["spec"].get("scaleTargetRef") or {}).get("name")
        what = f"ScaledObject/{name(so)}"
        lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        want = SCALE_BOUNDS[overlay].get(role)
        g.check((lo, hi) == want, f"{what}: replicas {lo}..{hi}, documented {want}")
        g.check(isinstance(lo, int) and lo >= 1, f"{what}: minReplicaCount {lo} (scale to zero would cold-start a sale)")
        triggers = spec.get("triggers") or []
        g.check(bool(triggers), f"{what}: no triggers")
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
                    f"Deployment/realtime: TIKETI_REALTIME_MAX_CONNECTIONS {cap!r}; the realtime threshold was argued from {REALTIME_MAX_CONNECTIONS}")
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
    deploys = {name(d): d for d in of_kind(docs, "Deployment")}
    vpas: dict[str, list[dict]] = {}
    for v in of_kind(docs, "VerticalPodAutoscaler"):
        ref = v["spec"].get("targetRef") or {}
        g.check(ref.get("kind") == "Deployment" and ref.get("apiVersion") == "apps/v1", f"VPA/{name(v)}: targetRef is not an apps/v1 Deployment")
        vpas.setdefault(ref.get("name"), []).append(v)
    g.check(sorted(vpas) == sorted(ROLES), f"VPAs target {sorted(map(str, vpas))}, expected every role {sorted(ROLES)}")
    for role, vs in vpas.items():
        if not g.check(len(vs) == 1 and role in deploys, f"{role}: {len(vs)} VPAs, or no such Deployment"):
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
    for d in of_kind(docs, "Deployment"):
        g.check(not opted_out(d), f"Deployment/{name(d)}: sidecar injection turned off (STRICT mTLS would cut it off)")
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
    for port, s in servers.items():
        g.check(s.get("hosts") == [host], f"Gateway: port {port} hosts {s.get('hosts')}, expected [{host}] (TIKETI_PUBLIC_URL)")
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


GROUPS = [g_schema, g_labels, g_deployments, g_resources, g_security, g_termination, g_topology, g_config,
          g_no_secrets, g_serviceaccounts, g_services_pdbs, g_networkpolicies, g_migration, g_replicas,
          g_autoscaling, g_vpa, g_mesh_mtls, g_destinationrules, g_gateway, g_routes]


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
