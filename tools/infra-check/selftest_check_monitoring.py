#!/usr/bin/env python3
"""Self-test of check_monitoring.py: breaks one thing at a time in a copy of the monitoring files
and requires the checker to fail in the named check (and to pass on the unbroken copy).

Prints one line per case, then `selftest: N passed` (or `N passed, M failed`); exits 1 on failure.
Needs what check_monitoring.py needs; runs two cases at a time.

    python3 tools/infra-check/selftest_check_monitoring.py [--promtool PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKER = Path(__file__).resolve().parent / "check_monitoring.py"
# Read by the checker, never changed by a case: linked, not copied.
LINKED = ["services", "shared", "realtime", "queue-worker", "src", "functions"]


def sub(path: str, old: str, new: str, count: int = 1):
    def apply(root: Path) -> None:
        p = root / path
        text = p.read_text()
        if old not in text:
            raise AssertionError(f"{path}: {old!r} not found")
        p.write_text(text.replace(old, new, count))

    return apply


def edit_json(path: str, fn):
    def apply(root: Path) -> None:
        p = root / path
        d = json.loads(p.read_text())
        fn(d)
        p.write_text(json.dumps(d, indent=2))

    return apply


def first_panel(d: dict) -> dict:
    return next(p for p in d["panels"] if p["type"] != "row")


def set_first_expr(expr: str):
    def fn(d: dict) -> None:
        first_panel(d)["targets"][0]["expr"] = expr

    return fn


def dup_panel_id(d: dict) -> None:
    panels = [p for p in d["panels"] if p["type"] != "row"]
    panels[1]["id"] = panels[0]["id"]


def wrong_ds(d: dict) -> None:
    p = first_panel(d)
    p["datasource"] = p["targets"][0]["datasource"] = {"type": "prometheus", "uid": "mimir"}


def loki_pod_label(d: dict) -> None:
    logs = next(p for p in d["panels"] if p["type"] == "logs")
    logs["targets"][0]["expr"] = '{namespace="tiketi", pod="ticket-abc"}'


def remove_silent_case(root: Path) -> None:
    p = root / "k8s/monitoring/tests/alerts_test.yaml"
    text = p.read_text()
    new = re.sub(r"      - \{eval_time: 30m, alertname: TiketiOutboxLagging, exp_alerts: \[\]\}\n", "", text)
    new = new.replace("      - eval_time: 7m\n        alertname: TiketiOutboxLagging\n        exp_alerts: []\n", "")
    assert new != text
    p.write_text(new)


def drop_runbook_heading(root: Path) -> None:
    p = root / "docs/operations.md"
    text = p.read_text()
    assert "#### TiketiOutboxLagging\n" in text
    p.write_text(text.replace("#### TiketiOutboxLagging\n", "#### Outbox lag\n"))


A = "k8s/monitoring/rules/alerts.yaml"
S = "k8s/monitoring/rules/slo.yaml"
SM = "k8s/monitoring/servicemonitor.yaml"
KPS = "argocd/platform/values/kube-prometheus-stack.yaml"
GV = "argocd/platform/values/grafana.yaml"
ALLOY = "argocd/platform/values/alloy.yaml"
LOKI = "argocd/platform/values/loki.yaml"
D = "k8s/monitoring/dashboards"

# (name, check expected to fail, breakage)
CASES = [
    ("typo'd metric in an alert", "metric_names",
     sub(A, "max(tiketi_payment_captured_unsettled{", "max(tiketi_payment_capture_unsettled{")),
    ("typo'd metric in a dashboard", "metric_names",
     sub(f"{D}/workers.json", "tiketi_worker_messages_total", "tiketi_worker_message_total")),
    ("alert whose test no longer fires (threshold raised)", "rules_test",
     sub(A, "tiketi_outbox_oldest_unpublished_seconds{job=\"tiketi\"}) > 30", "tiketi_outbox_oldest_unpublished_seconds{job=\"tiketi\"}) > 3000")),
    ("1 h / 5 m burn factor changed", "rules_test", sub(S, "> (14.4 * 0.001)", "> (14.4 * 0.01)", 2)),
    ("6 h / 30 m burn factor changed", "rules_test", sub(S, "> (6 * 0.001)", "> (6 * 0.01)", 2)),
    ("hold latency budget changed", "rules_test", sub(S, "> (14.4 * 0.05)", "> (14.4 * 0.06)", 2)),
    ("hold latency counted at another bucket", "rules_test", sub(S, 'le="0.2"}[5m]', 'le="0.1"}[5m]')),
    ("probes counted in the availability ratio", "rules_test",
     sub(S, 'sum by (role) (rate(tiketi_http_requests_total{job="tiketi",route!~"/healthz|/readyz|/metrics"}[1h]))',
         'sum by (role) (rate(tiketi_http_requests_total{job="tiketi"}[1h]))')),
    ("rule that does not parse", "rules_check", sub(A, "max by (queue) (tiketi_sqs_dead_letters", "max by (queue (tiketi_sqs_dead_letters")),
    ("alert without severity", "rules_metadata", sub(A, "          for: 15m\n          labels:\n            severity: warning\n", "          for: 15m\n          labels:\n            team: payments\n")),
    ("runbook anchor missing from the docs", "rules_metadata", drop_runbook_heading),
    ("alert without a silent test", "alert_tests", remove_silent_case),
    ("duplicate dashboard uid", "dashboards", edit_json(f"{D}/workers.json", lambda d: d.update(uid="tiketi-payments"))),
    ("duplicate panel id", "dashboards", edit_json(f"{D}/payments.json", dup_panel_id)),
    ("unprovisioned datasource uid", "dashboards", edit_json(f"{D}/waiting-room.json", wrong_ds)),
    ("Loki query on a non-label (pod)", "dashboards", edit_json(f"{D}/buyer-path.json", loki_pod_label)),
    ("invalid JSON", "dashboards", sub(f"{D}/datastores.json", '"uid": "tiketi-datastores"', '"uid": "tiketi-datastores",,')),
    ("dashboard query that does not parse", "dashboard_queries",
     edit_json(f"{D}/payments.json", set_first_expr("sum by (outcome (rate(tiketi_payment_confirms_total[$__rate_interval]))"))),
    ("scrape every 30 s", "scrape", sub(SM, "interval: 10s", "interval: 30s")),
    ("plaintext scrape", "scrape", sub(SM, "scheme: https", "scheme: http")),
    ("no role label", "scrape", sub(SM, "targetLabel: role", "targetLabel: component")),
    ("canary Services scraped too", "scrape", sub(SM, "ticket;ticket|", "ticket.*;ticket|")),
    ("selection by release name", "selection", sub(KPS, "serviceMonitorSelectorNilUsesHelmValues: false", "serviceMonitorSelectorNilUsesHelmValues: true")),
    ("rules not labelled for Prometheus", "selection", sub("k8s/monitoring/kustomization.yaml", "monitoring.tiketi.io/prometheus: main", "monitoring.tiketi.io/prometheus: other")),
    ("Prometheus service renamed", "selection", sub(KPS, "fullnameOverride: kube-prometheus-stack", "fullnameOverride: prom")),
    ("certificates written elsewhere", "istio_sidecar", sub(KPS, "OUTPUT_CERTS: /etc/istio-output-certs", "OUTPUT_CERTS: /etc/certs")),
    ("sidecar intercepting inbound traffic", "istio_sidecar", sub(KPS, 'traffic.sidecar.istio.io/includeInboundPorts: ""', 'traffic.sidecar.istio.io/includeInboundPorts: "*"')),
    ("Alertmanager receiver misspelt", "alertmanager", sub(KPS, "routing_key_file:", "routing_key_path:")),
    ("dashboard ConfigMaps hashed", "grafana", sub("k8s/monitoring/kustomization.yaml", "disableNameSuffixHash: true", "disableNameSuffixHash: false")),
    ("sidecar limited to its namespace", "grafana", sub(GV, "searchNamespace: ALL", "searchNamespace: monitoring")),
    ("request_id as a Loki label", "logs", sub(ALLOY, "values = { level = \"\" }", "values = { level = \"\", request_id = \"\" }")),
    ("pod kept as a Loki label", "logs", sub(ALLOY, 'values = ["pod"]', 'values = ["node"]')),
    ("S3 keys instead of IRSA", "logs", sub(LOKI, "      region: ap-northeast-2", "      region: ap-northeast-2\n      accessKeyId: AKIAEXAMPLE")),
    ("retention off", "logs", sub(LOKI, "retention_enabled: true", "retention_enabled: false")),
    ("kustomization that does not render", "render", sub("k8s/monitoring/kustomization.yaml", "  - rules/alerts.yaml", "  - rules/missing.yaml")),
]


def make_copy(tmp: Path) -> Path:
    root = tmp / "repo"
    root.mkdir()
    shutil.copytree(ROOT / "k8s", root / "k8s")
    shutil.copytree(ROOT / "argocd/platform/values", root / "argocd/platform/values")
    (root / "docs").mkdir()
    shutil.copy(ROOT / "docs/operations.md", root / "docs/operations.md")
    for d in LINKED:
        if (ROOT / d).exists():
            (root / d).symlink_to(ROOT / d)
    return root


def run_checker(root: Path, extra: list[str]) -> tuple[int, str]:
    p = subprocess.run([sys.executable, str(CHECKER), "--root", str(root), *extra], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def run_case(case, extra: list[str]) -> tuple[bool, str]:
    name, check, breakage = case
    with tempfile.TemporaryDirectory(prefix="selftest-monitoring-") as t:
        root = make_copy(Path(t))
        try:
            breakage(root)
        except AssertionError as e:
            return False, f"{name}: the breakage did not apply: {e}"
        code, out = run_checker(root, extra)
    failed = re.findall(r"^FAIL (\w+)", out, re.M)
    if code == 0:
        return False, f"{name}: the checker passed"
    if check not in failed:
        return False, f"{name}: expected {check} to fail, failed: {failed or out[-300:]}"
    return True, f"{name} -> {check}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--promtool", help="as for check_monitoring.py (default: this repository's .tiketi/prometheus, PATH)")
    ap.add_argument("--amtool", help="as for check_monitoring.py (default: this repository's .tiketi/alertmanager, PATH)")
    args = ap.parse_args()
    # The copies have no .tiketi: name the tools of this repository explicitly.
    promtool = args.promtool or next(
        (str(c) for c in [ROOT / ".tiketi/prometheus/usr/bin/promtool"] if c.exists()), shutil.which("promtool")
    )
    amtool = args.amtool or next(
        (str(c) for c in [ROOT / ".tiketi/alertmanager/usr/bin/amtool"] if c.exists()), shutil.which("amtool")
    )
    extra = (["--promtool", promtool] if promtool else []) + (["--amtool", amtool] if amtool else [])
    cases = [c for c in CASES if amtool or c[1] != "alertmanager"]
    if not amtool:
        print("skip alertmanager case: amtool not found")
    passed = failed = 0

    with tempfile.TemporaryDirectory(prefix="selftest-monitoring-") as t:
        code, out = run_checker(make_copy(Path(t)), extra)
    if code != 0:
        print("FAIL unbroken copy: the checker fails on it\n" + out)
        return 1
    print("ok   unbroken copy passes")
    passed += 1

    code, out = run_checker(ROOT, ["--promtool", "/nonexistent/promtool"])
    if code != 0 and "apt-get download prometheus" in out:
        print("ok   missing promtool: fails and says how to install it")
        passed += 1
    else:
        print(f"FAIL missing promtool: exit {code}\n{out}")
        failed += 1

    with ThreadPoolExecutor(max_workers=2) as pool:
        for ok, line in pool.map(lambda c: run_case(c, extra), cases):
            print(("ok   " if ok else "FAIL ") + line)
            passed += ok
            failed += not ok

    print(f"selftest: {passed} passed" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
