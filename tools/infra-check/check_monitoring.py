#!/usr/bin/env python3
"""Offline checks of Tiketi's monitoring (k8s/monitoring, argocd/platform/values).

Renders k8s/monitoring with `kubectl kustomize`; runs `promtool check rules` and `promtool test
rules` on the PrometheusRules (extracted into plain rule files) and the unit tests in
k8s/monitoring/tests; lints the Grafana dashboards (JSON, unique uids and panel ids, datasource
uids, every Prometheus query parsed by promtool); requires every tiketi_* metric used to be
exported by the Rust code; and checks the scrape, the Helm values and the Loki label policy that
docs/operations.md ("Monitoring") describes.

Prints one line per check, then `monitoring checks: N passed` (or `N passed, M failed`); exits 1
on any failure. Needs python3 with PyYAML, `kubectl` (v1.32) and promtool (Debian's `prometheus`
package: `apt-get download prometheus && dpkg -x prometheus_*.deb .tiketi/prometheus`);
`amtool` (Debian's `prometheus-alertmanager`, extracted the same way into .tiketi/alertmanager) is
used for the Alertmanager configuration when present.

    python3 tools/infra-check/check_monitoring.py [--root DIR] [--promtool PATH] [--amtool PATH]
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
    import yaml
except ImportError:
    sys.exit("check_monitoring: missing Python package PyYAML: pip install pyyaml")

ROLES = ["auth", "ticket", "payment", "stats", "realtime", "worker"]
SELECT_LABEL = ("monitoring.tiketi.io/prometheus", "main")
NAMESPACE = "monitoring"
SCRAPE_INTERVAL = "10s"  # docs/operations.md "Autoscaling": KEDA's 30 s budget counts one scrape
PROMETHEUS_SERVICE = "kube-prometheus-stack"  # fullnameOverride -> kube-prometheus-stack-prometheus
CERT_DIR = "/etc/prom-certs"
ISTIO_OUTPUT_DIR = "/etc/istio-output-certs"
SEVERITIES = {"critical", "warning"}
RUNBOOK_BASE = "https://github.com/tiketi/tiketi/blob/main/docs/operations.md#"
# Gauges being added to the code; counted as exported even before they appear in it.
PENDING_METRICS = {
    "tiketi_outbox_unpublished",
    "tiketi_outbox_oldest_unpublished_seconds",
    "tiketi_payment_backlog",
    "tiketi_payment_captured_unsettled",
}
# Loki stream labels allowed (docs/operations.md "Logs"): bounded, low-cardinality values only.
LOKI_LABELS = {"namespace", "role", "container", "level"}
# Grafana variables replaced before promtool parses a dashboard query.
GRAFANA_DURATIONS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
RUST_DIRS = ["services", "shared", "realtime", "queue-worker", "src", "functions"]
VALUES = "argocd/platform/values"


class Result:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def report(self, name: str, problems: list[str], ok_detail: str) -> None:
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for p in problems:
                print(f"       - {p}")
        else:
            self.passed += 1
            print(f"ok   {name}: {ok_detail}")


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text())


def find_tool(explicit: str | None, env: str, local: Path, name: str) -> str | None:
    for candidate in (explicit, os.environ.get(env), str(local) if local.exists() else None, shutil.which(name)):
        if candidate:
            # Absolute: promtool runs with the rule files' temporary directory as its cwd.
            return os.path.abspath(candidate) if os.sep in candidate else candidate
    return None


def run(cmd: list[str], cwd: Path | None = None) -> tuple[int, str]:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return p.returncode, (p.stdout + p.stderr).strip()


# --- rendering --------------------------------------------------------------------------------


def render(root: Path) -> tuple[list[dict], str | None]:
    if not shutil.which("kubectl"):
        return [], "kubectl not found (apt package kubectl, v1.32: `kubectl kustomize` renders offline)"
    p = subprocess.run(["kubectl", "kustomize", str(root / "k8s/monitoring")], capture_output=True, text=True)
    if p.returncode:
        return [], p.stderr.strip()
    return [d for d in yaml.safe_load_all(p.stdout) if d], None


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind]


def labels(doc: dict) -> dict:
    return (doc.get("metadata") or {}).get("labels") or {}


def selector_matches(selector: dict | None, lbls: dict) -> bool:
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if lbls.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and lbls.get(k) not in vals:
            return False
        if op == "NotIn" and lbls.get(k) in vals:
            return False
        if op == "Exists" and k not in lbls:
            return False
        if op == "DoesNotExist" and k in lbls:
            return False
    return True


# --- rules ------------------------------------------------------------------------------------


def extract_rules(docs: list[dict], tmp: Path) -> dict[str, Path]:
    """Each PrometheusRule's spec.groups as a plain rule file named after the object."""
    files = {}
    for d in of_kind(docs, "PrometheusRule"):
        name = d["metadata"]["name"]
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"groups": d["spec"]["groups"]}, sort_keys=False))
        files[name] = path
    return files


def all_rules(docs: list[dict]) -> list[dict]:
    return [r for d in of_kind(docs, "PrometheusRule") for g in d["spec"]["groups"] for r in g.get("rules", [])]


def check_rule_metadata(docs: list[dict], docs_text: str) -> list[str]:
    problems = []
    anchors = monitoring_anchors(docs_text)
    if anchors is None:
        return ["docs/operations.md has no `## Monitoring` section"]
    names = [r["alert"] for r in all_rules(docs) if "alert" in r]
    for dup in {n for n in names if names.count(n) > 1}:
        problems.append(f"alert {dup} defined more than once")
    for r in all_rules(docs):
        if "alert" not in r:
            continue
        a = r["alert"]
        sev = (r.get("labels") or {}).get("severity")
        if sev not in SEVERITIES:
            problems.append(f"{a}: severity {sev!r} not one of {sorted(SEVERITIES)}")
        ann = r.get("annotations") or {}
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                problems.append(f"{a}: no {key} annotation")
        url = ann.get("runbook_url", "")
        if url and not url.startswith(RUNBOOK_BASE):
            problems.append(f"{a}: runbook_url {url} is not into docs/operations.md")
        elif url and url[len(RUNBOOK_BASE):] not in anchors:
            problems.append(f"{a}: runbook anchor #{url[len(RUNBOOK_BASE):]} is not a heading of the Monitoring section")
    return problems


def monitoring_anchors(text: str) -> set[str] | None:
    """GitHub's heading anchors within the `## Monitoring` section (to the next `## `)."""
    m = re.search(r"^## Monitoring\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not m:
        return None
    anchors = set()
    for h in re.findall(r"^#{3,6} (.+?)\s*$", m.group(1), re.M):
        slug = re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    for explicit in re.findall(r'<a id="([^"]+)"', m.group(1)):
        anchors.add(explicit)
    return anchors


def check_alert_tests(docs: list[dict], tests: list[Path]) -> list[str]:
    """Every alert: at least one test case expecting it to fire and one expecting silence."""
    fires: dict[str, int] = {}
    silent: dict[str, int] = {}
    for t in tests:
        for case in load_yaml(t).get("tests") or []:
            for art in case.get("alert_rule_test") or []:
                target = fires if art.get("exp_alerts") else silent
                target[art["alertname"]] = target.get(art["alertname"], 0) + 1
    problems = []
    alerts = [r["alert"] for r in all_rules(docs) if "alert" in r]
    for a in alerts:
        if not fires.get(a):
            problems.append(f"{a}: no test where it fires")
        if not silent.get(a):
            problems.append(f"{a}: no test where it stays silent")
    for a in set(fires) | set(silent):
        if a not in alerts:
            problems.append(f"tests name an alert that no rule defines: {a}")
    return problems


# --- metric names -----------------------------------------------------------------------------


def exported_metrics(root: Path) -> set[str]:
    names = set()
    pat = re.compile(r'(?:counter|gauge|histogram)!\(\s*"(tiketi_[a-z0-9_]+)"')
    for d in RUST_DIRS:
        for f in (root / d).rglob("*.rs"):
            if "target" in f.parts:
                continue
            names.update(pat.findall(f.read_text(errors="replace")))
    return names


METRIC_RE = re.compile(r"\b(tiketi_[a-z0-9_]+)")


def base_name(metric: str, exported: set[str]) -> str:
    if metric in exported:
        return metric
    for suffix in ("_bucket", "_sum", "_count"):
        if metric.endswith(suffix) and metric[: -len(suffix)] in exported:
            return metric[: -len(suffix)]
    return metric


def check_metric_names(exprs: list[tuple[str, str]], exported: set[str]) -> list[str]:
    known = exported | PENDING_METRICS
    problems = []
    for where, expr in exprs:
        # recording-rule names (tiketi:...) contain a colon and are not matched by METRIC_RE's \b( start
        for m in METRIC_RE.findall(re.sub(r"tiketi:[a-z0-9_:]+", "", expr)):
            if base_name(m, known) not in known:
                problems.append(f"{where}: {m} is not exported by the Rust code")
    return problems


# --- dashboards -------------------------------------------------------------------------------


def panels_of(dashboard: dict) -> list[dict]:
    out = []
    for p in dashboard.get("panels") or []:
        out.append(p)
        out.extend(p.get("panels") or [])  # collapsed rows hold their panels
    return out


def grafana_datasources(values: dict) -> dict[str, str]:
    ds = ((values.get("datasources") or {}).get("datasources.yaml") or {}).get("datasources") or []
    return {d.get("uid"): d.get("type") for d in ds}


def substitute_variables(expr: str) -> str:
    for var, dur in GRAFANA_DURATIONS.items():
        expr = expr.replace("${" + var + "}", dur).replace("$" + var, dur)
    expr = re.sub(r"\$\{(\w+)(?::\w+)?\}", "x", expr)
    return re.sub(r"\$(\w+)", "x", expr)


def loki_selector_labels(expr: str) -> set[str]:
    names = set()
    for sel in re.findall(r"\{([^}]*)\}", expr):
        names.update(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", sel))
    return names


def lint_dashboards(files: list[Path], ds_uids: dict[str, str]) -> tuple[list[str], list[tuple[str, str]], int]:
    problems: list[str] = []
    prom_exprs: list[tuple[str, str]] = []
    uids: dict[str, str] = {}
    panel_count = 0
    for f in files:
        try:
            d = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            problems.append(f"{f.name}: invalid JSON: {e}")
            continue
        uid = d.get("uid")
        if not uid:
            problems.append(f"{f.name}: no uid")
        elif uid in uids:
            problems.append(f"{f.name}: uid {uid} also used by {uids[uid]}")
        else:
            uids[uid] = f.name
        ids: list = []
        for p in panels_of(d):
            panel_count += 1
            ids.append(p.get("id"))
            what = f"{f.name} panel {p.get('id')} {p.get('title')!r}"
            if p.get("type") == "row":
                continue
            for t in p.get("targets") or []:
                ds = t.get("datasource") or p.get("datasource") or {}
                u = ds.get("uid") if isinstance(ds, dict) else None
                if u not in ds_uids:
                    problems.append(f"{what}: datasource uid {u!r} is not a provisioned one {sorted(ds_uids)}")
                    continue
                expr = t.get("expr") or ""
                if not expr:
                    problems.append(f"{what}: a target without expr")
                elif ds_uids[u] == "prometheus":
                    prom_exprs.append((what, expr))
                elif ds_uids[u] == "loki":
                    extra = loki_selector_labels(expr) - LOKI_LABELS
                    if extra:
                        problems.append(f"{what}: Loki labels {sorted(extra)} are not stream labels {sorted(LOKI_LABELS)}")
        for v in (d.get("templating") or {}).get("list") or []:
            ds = v.get("datasource") or {}
            if isinstance(ds, dict) and ds.get("uid") and ds["uid"] not in ds_uids:
                problems.append(f"{f.name} variable {v.get('name')}: datasource uid {ds['uid']!r} not provisioned")
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.match(r"label_values\((.*),\s*\w+\)$", q or "")
            if m:
                prom_exprs.append((f"{f.name} variable {v.get('name')}", m.group(1)))
        dup = {i for i in ids if ids.count(i) > 1}
        if dup or None in ids:
            problems.append(f"{f.name}: panel ids not unique or missing: {sorted(x for x in dup if x is not None)}")
    return problems, prom_exprs, panel_count


def promtool_parse(promtool: str, exprs: list[tuple[str, str]], tmp: Path) -> list[str]:
    """Parse each expression with promtool: wrapped as a recording rule, one file per expression so
    that an error names its panel."""
    rules = [{"record": f"dashboard:expr:{i}", "expr": substitute_variables(e)} for i, (_, e) in enumerate(exprs)]
    path = tmp / "dashboard-exprs.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    code, out = run([promtool, "check", "rules", str(path)])
    if code == 0:
        return []
    problems = []
    for i, (what, e) in enumerate(exprs):  # find which ones fail
        one = tmp / f"expr-{i}.yaml"
        one.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": [rules[i]]}]}))
        c, o = run([promtool, "check", "rules", str(one)])
        if c:
            problems.append(f"{what}: does not parse: {o.splitlines()[-1] if o else ''}")
    return problems or [out]


# --- scrape and values ------------------------------------------------------------------------


def check_scrape(docs: list[dict], root: Path) -> list[str]:
    problems = []
    sms = of_kind(docs, "ServiceMonitor")
    pms = of_kind(docs, "PodMonitor")
    if len(sms) != 1 or pms:
        return [f"expected exactly one ServiceMonitor and no PodMonitor, found {len(sms)} and {len(pms)}"]
    sm = sms[0]
    spec = sm["spec"]
    if (spec.get("namespaceSelector") or {}).get("matchNames") != ["tiketi"]:
        problems.append("namespaceSelector is not matchNames [tiketi]")
    # the roles' rendered Services (prod overlay) must be selected, port http
    code, out = run(["kubectl", "kustomize", str(root / "k8s/overlays/prod")])
    if code:
        problems.append(f"cannot render k8s/overlays/prod to find the roles' Services: {out[:200]}")
        services = []
    else:
        services = [d for d in yaml.safe_load_all(out) if d and d.get("kind") == "Service"]
    for role in ROLES:
        svc = [s for s in services if s["metadata"]["name"] == role]
        if not svc:
            problems.append(f"no Service {role} rendered in k8s/overlays/prod")
            continue
        if not selector_matches(spec.get("selector"), labels(svc[0])):
            problems.append(f"the ServiceMonitor's selector does not select Service {role}")
        if "http" not in [p.get("name") for p in svc[0]["spec"].get("ports", [])]:
            problems.append(f"Service {role} has no port named http")
    eps = spec.get("endpoints") or []
    if len(eps) != 1:
        return problems + [f"expected one endpoint, found {len(eps)}"]
    ep = eps[0]
    if ep.get("port") != "http" or ep.get("path", "/metrics") != "/metrics":
        problems.append("endpoint is not port http, path /metrics")
    if ep.get("interval") != SCRAPE_INTERVAL:
        problems.append(f"interval {ep.get('interval')} is not {SCRAPE_INTERVAL} (KEDA's scale-up arithmetic)")
    if ep.get("scheme") != "https":
        problems.append("scheme is not https (STRICT mTLS refuses plaintext)")
    tls = ep.get("tlsConfig") or {}
    want = {"caFile": "root-cert.pem", "certFile": "cert-chain.pem", "keyFile": "key.pem"}
    for k, f in want.items():
        if tls.get(k) != f"{CERT_DIR}/{f}":
            problems.append(f"tlsConfig.{k} is not {CERT_DIR}/{f}")
    if tls.get("insecureSkipVerify") is not True:
        # Istio certificates have only a SPIFFE URI SAN: Prometheus's hostname check cannot pass.
        problems.append("tlsConfig.insecureSkipVerify must be true: Istio workload certificates have no DNS/IP SAN")
    rel = ep.get("relabelings") or []
    targets = {r.get("targetLabel"): r for r in rel if r.get("targetLabel")}
    if (targets.get("role") or {}).get("sourceLabels") != ["__meta_kubernetes_pod_label_app_kubernetes_io_component"]:
        problems.append("no relabeling role <- pod label app.kubernetes.io/component")
    if (targets.get("rollouts_pod_template_hash") or {}).get("sourceLabels") != [
        "__meta_kubernetes_pod_label_rollouts_pod_template_hash"
    ]:
        problems.append("no relabeling rollouts_pod_template_hash <- pod label rollouts-pod-template-hash")
    if (targets.get("job") or {}).get("replacement") != "tiketi":
        problems.append("no relabeling setting job=tiketi")
    keep = [r for r in rel if r.get("action") == "keep"]
    if not keep or not all(re.fullmatch(keep[0]["regex"], f"{r};{r}") for r in ROLES) or re.fullmatch(
        keep[0]["regex"], "ticket-canary;ticket"
    ):
        problems.append("no keep rule limiting targets to the Service named after the pod's role")
    return problems


def check_selection(docs: list[dict], kps: dict) -> list[str]:
    """Prometheus selects every rendered monitor and rule by the explicit label, in this namespace."""
    problems = []
    ps = (kps.get("prometheus") or {}).get("prometheusSpec") or {}
    k, v = SELECT_LABEL
    ns_labels = {"kubernetes.io/metadata.name": NAMESPACE}
    for kind, sel, nsel, nil in [
        ("ServiceMonitor", "serviceMonitorSelector", "serviceMonitorNamespaceSelector", "serviceMonitorSelectorNilUsesHelmValues"),
        ("PodMonitor", "podMonitorSelector", "podMonitorNamespaceSelector", "podMonitorSelectorNilUsesHelmValues"),
        ("PrometheusRule", "ruleSelector", "ruleNamespaceSelector", "ruleSelectorNilUsesHelmValues"),
    ]:
        if ps.get(nil) is not False:
            problems.append(f"prometheusSpec.{nil} is not false (the chart would select by release name)")
        if (ps.get(sel) or {}).get("matchLabels") != {k: v}:
            problems.append(f"prometheusSpec.{sel} is not matchLabels {{{k}: {v}}}")
        for d in of_kind(docs, kind):
            if not selector_matches(ps.get(sel), labels(d)):
                problems.append(f"{kind} {d['metadata']['name']} is not selected by prometheusSpec.{sel}")
            if d["metadata"].get("namespace") != NAMESPACE or not selector_matches(ps.get(nsel), ns_labels):
                problems.append(f"{kind} {d['metadata']['name']}: its namespace is not selected by {nsel}")
    if (kps.get("commonLabels") or {}).get(k) != v:
        problems.append(f"commonLabels lacks {k}: {v} (the chart's own monitors and rules would go unselected)")
    if kps.get("fullnameOverride") != PROMETHEUS_SERVICE:
        problems.append(f"fullnameOverride is not {PROMETHEUS_SERVICE} (KEDA and Grafana address {PROMETHEUS_SERVICE}-prometheus)")
    return problems


def check_istio_sidecar(kps: dict) -> list[str]:
    """Istio's certificate-output pattern on the Prometheus pod, consistent with the tlsConfig."""
    problems = []
    ps = (kps.get("prometheus") or {}).get("prometheusSpec") or {}
    meta = ps.get("podMetadata") or {}
    ann = meta.get("annotations") or {}
    if (meta.get("labels") or {}).get("sidecar.istio.io/inject") != "true":
        problems.append('podMetadata.labels lacks sidecar.istio.io/inject: "true" (namespace monitoring is not injected)')
    for key in ("traffic.sidecar.istio.io/includeInboundPorts", "traffic.sidecar.istio.io/includeOutboundIPRanges"):
        if ann.get(key) != "":
            problems.append(f'annotation {key} is not "" (the sidecar must intercept nothing)')
    try:
        cfg = yaml.safe_load(ann.get("proxy.istio.io/config") or "") or {}
    except yaml.YAMLError:
        cfg = {}
    if (cfg.get("proxyMetadata") or {}).get("OUTPUT_CERTS") != ISTIO_OUTPUT_DIR:
        problems.append(f"proxy.istio.io/config lacks proxyMetadata.OUTPUT_CERTS: {ISTIO_OUTPUT_DIR}")
    try:
        mounts = json.loads(ann.get("sidecar.istio.io/userVolumeMount") or "[]")
    except json.JSONDecodeError:
        mounts = []
    sidecar_vol = {m.get("name") for m in mounts if m.get("mountPath") == ISTIO_OUTPUT_DIR}
    prom_vol = {m.get("name") for m in ps.get("volumeMounts") or [] if m.get("mountPath", "").rstrip("/") == CERT_DIR}
    vols = {v.get("name"): v for v in ps.get("volumes") or []}
    shared = sidecar_vol & prom_vol
    if not shared:
        problems.append(f"no volume mounted both at the sidecar's {ISTIO_OUTPUT_DIR} and Prometheus's {CERT_DIR}")
    for name in shared:
        if (vols.get(name) or {}).get("emptyDir", {}).get("medium") != "Memory":
            problems.append(f"volume {name} is not an in-memory emptyDir (the private key would touch the node's disk)")
    return problems


def check_grafana(docs: list[dict], gv: dict, kps: dict, root: Path) -> tuple[list[str], set[str]]:
    problems = []
    sc = ((gv.get("sidecar") or {}).get("dashboards")) or {}
    if not sc.get("enabled") or sc.get("label") != "grafana_dashboard" or str(sc.get("labelValue")) != "1":
        problems.append("sidecar.dashboards is not enabled for label grafana_dashboard=1")
    if sc.get("searchNamespace") != "ALL":
        problems.append("sidecar.dashboards.searchNamespace is not ALL")
    ds = grafana_datasources(gv)
    if ds.get("prometheus") != "prometheus" or ds.get("loki") != "loki":
        problems.append(f"datasources with uid prometheus (type prometheus) and loki (type loki) expected, found {ds}")
    urls = {d.get("uid"): d.get("url") for d in gv["datasources"]["datasources.yaml"]["datasources"]}
    if urls.get("prometheus") != f"http://{PROMETHEUS_SERVICE}-prometheus.monitoring.svc:9090":
        problems.append(f"Prometheus datasource url {urls.get('prometheus')} is not the kube-prometheus-stack Service")
    if ((kps.get("grafana") or {}).get("enabled")) is not False:
        problems.append("kube-prometheus-stack's own Grafana is not disabled (Grafana is its own release)")
    kustomization = load_yaml(root / "k8s/monitoring/kustomization.yaml")
    generated = {g["name"] for g in kustomization.get("configMapGenerator") or []}
    cms = of_kind(docs, "ConfigMap")
    files = set()
    for cm in cms:
        n = cm["metadata"]["name"]
        if labels(cm).get("grafana_dashboard") != "1":
            problems.append(f"ConfigMap {n} lacks label grafana_dashboard=1")
        if n not in generated:
            problems.append(f"ConfigMap {n} is not named as its configMapGenerator entry (a name hash: the sidecar would delete the file when the old one is pruned)")
        keys = list((cm.get("data") or {}).keys())
        if len(keys) != 1 or not keys[0].endswith(".json"):
            problems.append(f"ConfigMap {n} does not hold exactly one .json dashboard")
        files.update(keys)
    return problems, files


def alloy_labels(content: str) -> tuple[set[str], set[str]]:
    """Labels a stream can carry when it reaches loki.write: relabel targets (minus dropped ones)
    and stage.labels / stage.static_labels keys."""
    relabeled = set(re.findall(r'target_label\s*=\s*"([A-Za-z_][A-Za-z0-9_]*)"', content))
    staged = set()
    for block in re.findall(r"stage\.(?:labels|static_labels)\s*\{\s*values\s*=\s*\{([^}]*)\}", content):
        staged.update(re.findall(r"(\w+)\s*=", block))
    dropped = set()
    for block in re.findall(r"stage\.label_drop\s*\{\s*values\s*=\s*\[([^\]]*)\]", content):
        dropped.update(re.findall(r'"(\w+)"', block))
    labels_out = {l for l in relabeled | staged if not l.startswith("__")} - dropped
    return labels_out, dropped


def check_logs(loki: dict, alloy: dict) -> list[str]:
    problems = []
    lk = loki.get("loki") or {}
    if loki.get("deploymentMode") not in ("SimpleScalable", "SingleBinary"):
        problems.append(f"deploymentMode {loki.get('deploymentMode')!r}")
    st = lk.get("storage") or {}
    if st.get("type") != "s3":
        problems.append("storage type is not s3")
    s3 = st.get("s3") or {}
    for secret in ("accessKeyId", "secretAccessKey"):
        if s3.get(secret):
            problems.append(f"storage.s3.{secret} set: S3 access goes through IRSA, no keys")
    role = ((loki.get("serviceAccount") or {}).get("annotations") or {}).get("eks.amazonaws.com/role-arn", "")
    if not role:
        problems.append("serviceAccount has no IRSA role annotation")
    if not (lk.get("compactor") or {}).get("retention_enabled"):
        problems.append("compactor.retention_enabled is not true (retention_period would not delete anything)")
    if not (lk.get("limits_config") or {}).get("retention_period"):
        problems.append("limits_config.retention_period unset")
    content = (((alloy.get("alloy") or {}).get("configMap")) or {}).get("content") or ""
    if "loki.write" not in content or "loki-gateway.monitoring.svc" not in content:
        problems.append("the Alloy pipeline does not write to loki-gateway.monitoring.svc")
    out, _ = alloy_labels(content)
    extra = out - LOKI_LABELS
    if extra:
        problems.append(f"Alloy promotes labels outside the low-cardinality set {sorted(LOKI_LABELS)}: {sorted(extra)}")
    if "level" not in out or "role" not in out:
        problems.append("Alloy does not set the role and level labels the dashboards query")
    return problems


# --- main -------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2], help="the repository")
    ap.add_argument("--promtool", help="promtool binary (default: $PROMTOOL, .tiketi/prometheus/usr/bin/promtool, PATH)")
    ap.add_argument("--amtool", help="amtool binary (default: $AMTOOL, .tiketi/alertmanager/usr/bin/amtool, PATH)")
    args = ap.parse_args()
    root: Path = args.root
    res = Result()

    promtool = find_tool(args.promtool, "PROMTOOL", root / ".tiketi/prometheus/usr/bin/promtool", "promtool")
    if not promtool or not Path(promtool).exists() and not shutil.which(promtool):
        print(
            "FAIL promtool: not found. Install it from Debian without starting a server:\n"
            "       cd /tmp && apt-get download prometheus && dpkg -x prometheus_*.deb "
            f"{root}/.tiketi/prometheus   (or pass --promtool PATH)"
        )
        print("monitoring checks: 0 passed, 1 failed")
        return 1

    docs, err = render(root)
    if err:
        res.report("render", [f"kubectl kustomize k8s/monitoring: {err}"], "")
        print(f"monitoring checks: {res.passed} passed, {res.failed} failed")
        return 1
    kinds = sorted({d["kind"] for d in docs})
    res.report("render", [], f"{len(docs)} objects ({', '.join(kinds)}) from k8s/monitoring")

    values = root / VALUES
    kps = load_yaml(values / "kube-prometheus-stack.yaml")
    gv = load_yaml(values / "grafana.yaml")
    loki = load_yaml(values / "loki.yaml")
    alloy = load_yaml(values / "alloy.yaml")

    crds = root / "tools/infra-check/check_crds.mjs"
    if shutil.which("node") and (root / "tools/infra-check/node_modules/@kubernetes-models/prometheus-operator").exists():
        code, out = run(["node", str(crds), "--kustomize", str(root / "k8s/monitoring")], cwd=crds.parent)
        res.report("crd_schema", [out] if code else [], "ServiceMonitor and PrometheusRules valid against the Prometheus Operator CRD schemas (check_crds.mjs)")
    else:
        print("skip crd_schema: needs node and `npm ci` in tools/infra-check (@kubernetes-models/prometheus-operator)")

    res.report("scrape", check_scrape(docs, root), f"one ServiceMonitor, {SCRAPE_INTERVAL}, https with the Istio certificates, role/rollouts/job labels")
    res.report("selection", check_selection(docs, kps), f"Prometheus selects every monitor and rule by {SELECT_LABEL[0]}={SELECT_LABEL[1]}")
    res.report("istio_sidecar", check_istio_sidecar(kps), "certificate-output sidecar on Prometheus, shared in-memory volume")

    am = (kps.get("alertmanager") or {}).get("config")
    amtool = find_tool(args.amtool, "AMTOOL", root / ".tiketi/alertmanager/usr/bin/amtool", "amtool")
    with tempfile.TemporaryDirectory(prefix="check-monitoring-") as t:
        tmp = Path(t)
        if amtool and am:
            (tmp / "alertmanager.yaml").write_text(yaml.safe_dump(am))
            code, out = run([amtool, "check-config", str(tmp / "alertmanager.yaml")])
            res.report("alertmanager", [out] if code else [], "amtool check-config accepts the routing and receivers")
        elif not am:
            res.report("alertmanager", ["kube-prometheus-stack.yaml has no alertmanager.config"], "")
        else:
            print("skip alertmanager: amtool not found (apt-get download prometheus-alertmanager; dpkg -x into .tiketi/alertmanager)")

        rule_files = extract_rules(docs, tmp)
        code, out = run([promtool, "check", "rules", *map(str, rule_files.values())])
        n_rules = len(all_rules(docs))
        res.report("rules_check", [out] if code else [], f"promtool check rules: {n_rules} rules in {len(rule_files)} PrometheusRules")

        docs_text = (root / "docs/operations.md").read_text()
        res.report("rules_metadata", check_rule_metadata(docs, docs_text), "every alert has severity, summary, description and a runbook anchor that exists")

        tests = sorted((root / "k8s/monitoring/tests").glob("*.yaml"))
        problems = [] if tests else ["no tests in k8s/monitoring/tests"]
        for tf in tests:
            shutil.copy(tf, tmp / tf.name)
        if tests:
            code, out = run([promtool, "test", "rules", *[t.name for t in tests]], cwd=tmp)
            if code:
                problems.append(out)
        res.report("rules_test", problems, f"promtool test rules: {len(tests)} files")
        res.report("alert_tests", check_alert_tests(docs, tests), "every alert has a test where it fires and one where it stays silent")

        ds_uids = grafana_datasources(gv)
        gproblems, cm_files = check_grafana(docs, gv, kps, root)
        dash_files = sorted((root / "k8s/monitoring/dashboards").glob("*.json"))
        missing = {f.name for f in dash_files} - cm_files
        if missing:
            gproblems.append(f"dashboards not in a ConfigMap: {sorted(missing)}")
        res.report("grafana", gproblems, f"sidecar by label across namespaces, datasource uids {sorted(ds_uids)}, {len(cm_files)} dashboard ConfigMaps")

        lproblems, prom_exprs, npanels = lint_dashboards(dash_files, ds_uids)
        res.report("dashboards", lproblems, f"{len(dash_files)} dashboards, {npanels} panels: JSON, uids, panel ids, datasources, Loki labels")
        res.report("dashboard_queries", promtool_parse(promtool, prom_exprs, tmp), f"{len(prom_exprs)} Prometheus queries parse")

        exported = exported_metrics(root)
        exprs = [(f"rule {r.get('alert') or r.get('record')}", r["expr"]) for r in all_rules(docs)] + prom_exprs
        pending = sorted(PENDING_METRICS - exported)
        res.report(
            "metric_names",
            check_metric_names(exprs, exported),
            f"every tiketi_* metric used is exported by the code ({len(exported)} found"
            + (f"; allowed while being added: {', '.join(pending)})" if pending else ")"),
        )

    res.report("logs", check_logs(loki, alloy), f"Loki on S3 via IRSA with retention; stream labels within {sorted(LOKI_LABELS)}")

    if res.failed:
        print(f"monitoring checks: {res.passed} passed, {res.failed} failed")
        return 1
    print(f"monitoring checks: {res.passed} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
