#!/usr/bin/env python3
"""Offline checks of Tiketi's Argo CD applications (argocd/).

Parses every YAML file under argocd/ and asserts, per environment (dev, staging, prod), what
docs/operations.md ("Argo CD") describes: the app-of-apps layout, projects that allow exactly what
their applications use, Helm charts pinned to exact versions with their values in Git, sync waves
that install every CRD and operator before what uses it, the Tiketi app's sync options, the sync
policy per environment, per-environment IRSA roles, and the add-on settings the app relies on
(tracing, the ingress gateway behind the ALB, HA in prod, the tiketi-connections Secret), and the
cluster autoscaler's cluster name as infra/terraform makes it (read from the .tf sources) and its
scale-down settings.

Charts cannot be fetched here: no chart is rendered, so values are checked as data (merged in
Argo CD's order), not against the charts' templates. Argo CD's own CRD schemas are validated by
check_crds.mjs --dir argocd.

Prints one line per check group and environment, then `argocd checks: N passed` (or
`N passed, M failed`); exits 1 on any failure. Needs python3 and PyYAML.

    python3 tools/infra-check/check_argocd.py [--root DIR] [env ...]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

try:
    import yaml
except ImportError as e:  # say plainly what is missing rather than a traceback
    sys.exit(f"check_argocd: missing Python package ({e.name}): pip install pyyaml")

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: the selftest runs this ~70 times
_PARSED: dict[Path, object] = {}


def load_file(p: Path):
    """One YAML document, parsed once per run."""
    if p not in _PARSED:
        _PARSED[p] = yaml.load(p.read_text(), Loader=LOADER)
    return _PARSED[p]


ENVS = ["dev", "staging", "prod"]
# The Git repository every Git source must name (an example URL until the real one exists).
REPO_URL = "https://github.com/tiketi/tiketi.git"
IN_CLUSTER = "https://kubernetes.default.svc"
API = "argoproj.io/v1alpha1"
ARGOCD_NS = "argocd"
# Exact chart versions only: no ranges, wildcards, `latest` or branch names.
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
ROLE_ARN = re.compile(r"^arn:aws:iam::\d{12}:role/[A-Za-z0-9+=,.@_-]+$")
ARN_ANYWHERE = re.compile(r"arn:aws:iam::\S*")

# The child Applications every environment must have.
APPS = {
    "istio-base", "istiod", "istio-gateway", "keda", "argo-rollouts", "kube-prometheus-stack",
    "external-secrets", "aws-load-balancer-controller", "vpa", "tiketi-connections", "monitoring-secrets",
    "opentelemetry-collector", "jaeger", "loki", "grafana", "alloy", "tiketi-monitoring", "tiketi",
    "cluster-autoscaler",
}
# Sync-wave dependencies: each app must sync in a strictly later wave than every app it needs
# (the CRDs, webhooks or Secret those provide).
DEPENDS = {
    "tiketi": ["istio-base", "istiod", "istio-gateway", "keda", "argo-rollouts", "kube-prometheus-stack",
               "external-secrets", "tiketi-connections", "vpa"],
    "istio-gateway": ["istiod", "aws-load-balancer-controller"],  # injection template; the TargetGroupBinding CRD
    "istiod": ["istio-base"],
    "tiketi-connections": ["external-secrets"],
    "monitoring-secrets": ["external-secrets"],
    # Prometheus needs its sidecar (STRICT mTLS scrapes), Alertmanager its receivers' Secret.
    "kube-prometheus-stack": ["istiod", "monitoring-secrets"],
    "jaeger": ["external-secrets"],  # its OpenSearch credentials are an ExternalSecret
    "tiketi-monitoring": ["kube-prometheus-stack"],  # ServiceMonitor and PrometheusRule CRDs
    "grafana": ["kube-prometheus-stack"],  # dashboards and datasource of the stack
}
# The monitoring values files (written with k8s/monitoring) each app must use, exactly.
MONITORING_VALUES = {
    "kube-prometheus-stack": "argocd/platform/values/kube-prometheus-stack.yaml",
    "grafana": "argocd/platform/values/grafana.yaml",
    "loki": "argocd/platform/values/loki.yaml",
    "alloy": "argocd/platform/values/alloy.yaml",
}
# IRSA roles the add-ons need, per environment: app -> (path in merged values, role name suffix).
IRSA = {
    "keda": (("podIdentity", "aws", "irsa", "roleArn"), "keda-operator"),
    "external-secrets": (("serviceAccount", "annotations", "eks.amazonaws.com/role-arn"), "external-secrets"),
    "aws-load-balancer-controller": (("serviceAccount", "annotations", "eks.amazonaws.com/role-arn"),
                                     "aws-load-balancer-controller"),
    "loki": (("serviceAccount", "annotations", "eks.amazonaws.com/role-arn"), "loki"),
    "cluster-autoscaler": (("rbac", "serviceAccount", "annotations", "eks.amazonaws.com/role-arn"), "cluster-autoscaler"),
}
# Roles KEDA scales: Argo CD must ignore their replicas, as Deployments and as Rollouts.
SCALED_ROLES = ["ticket", "realtime", "worker"]
SCALED_KINDS = [("apps", "Deployment"), ("argoproj.io", "Rollout")]
COLLECTOR = ("opentelemetry-collector", "observability", 4317, 4318)
TRACING_PROVIDER = "otel-tracing"
GATEWAY = ("istio-ingressgateway", "istio-ingress")
# The port of Terraform's target group and security-group rules (infra/terraform/modules/edge).
GATEWAY_TARGET_PORT = 8443
PROMETHEUS_RELEASE = ("kube-prometheus-stack", "monitoring")  # KEDA's triggers address its Service
HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"
# The cluster autoscaler: the ServiceAccount Terraform's role trusts (modules/eks/workload_iam.tf),
# and the least time after a scale-up before nodes may go (KEDA's 5-minute scale-down
# stabilization plus the 20 %-a-minute shedding, with room for a sale's next wave).
AUTOSCALER_SA = ("kube-system", "cluster-autoscaler")
MIN_SCALE_DOWN_DELAY_S = 20 * 60


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def __call__(self, where: str, group: str, problems: list[str]) -> None:
        if problems:
            self.failed += 1
            print(f"FAIL {where}: {group}")
            for p in problems:
                print(f"       - {p}")
        else:
            self.passed += 1
            print(f"ok   {where}: {group}")


def load_all(root: Path) -> tuple[dict[Path, list], list[str]]:
    """Every YAML file under argocd/, parsed; and the files that do not parse."""
    files, errors = {}, []
    for path in sorted((root / "argocd").rglob("*")):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        try:
            files[path] = [d for d in yaml.load_all(path.read_text(), Loader=LOADER) if d is not None]
        except yaml.YAMLError as e:
            errors.append(f"{path.relative_to(root)}: {str(e).splitlines()[0]}")
    return files, errors


def objects(docs: list) -> list[dict]:
    return [d for d in docs if isinstance(d, dict) and "kind" in d and "apiVersion" in d]


def dig(d, *keys, default=None):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def merge(base, over):
    """Helm's merge of values files: maps merge recursively, null deletes, anything else replaces."""
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    out = dict(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def strings(d):
    if isinstance(d, dict):
        for v in d.values():
            yield from strings(v)
    elif isinstance(d, list):
        for v in d:
            yield from strings(v)
    elif isinstance(d, str):
        yield d


def items(d):
    """Every (key, value) pair of nested mappings."""
    if isinstance(d, dict):
        for k, v in d.items():
            yield k, v
            yield from items(v)
    elif isinstance(d, list):
        for v in d:
            yield from items(v)


def sources(app: dict) -> list[dict]:
    spec = app.get("spec", {})
    return list(spec.get("sources") or ([spec["source"]] if spec.get("source") else []))


def wave(obj: dict) -> int | None:
    raw = dig(obj, "metadata", "annotations", "argocd.argoproj.io/sync-wave", default="0")
    try:
        return int(str(raw))
    except ValueError:
        return None


def sync_options(app: dict) -> list[str]:
    return list(dig(app, "spec", "syncPolicy", "syncOptions", default=[]) or [])


class Env:
    """One environment's root, children and projects."""

    def __init__(self, root: Path, env: str, files: dict[Path, list]) -> None:
        self.root, self.env = root, env
        self.root_file = root / "argocd" / "envs" / env / "root.yaml"
        self.root_objs = objects(files.get(self.root_file, []))
        self.root_apps = [o for o in self.root_objs if o.get("kind") == "Application"]
        self.apps_dir = None
        self.children: dict[str, dict] = {}
        self.child_files: dict[str, Path] = {}
        self.projects: dict[str, dict] = {o["metadata"]["name"]: o for o in self.root_objs
                                          if o.get("kind") == "AppProject" and dig(o, "metadata", "name")}
        self.stray: list[str] = []
        if len(self.root_apps) == 1:
            path = dig(self.root_apps[0], "spec", "source", "path")
            if path and (root / path).is_dir():
                self.apps_dir = root / path
        if self.apps_dir:
            for f, docs in files.items():
                if f.parent != self.apps_dir:
                    continue
                for o in objects(docs):
                    name = dig(o, "metadata", "name")
                    if o.get("kind") == "Application":
                        if name in self.children:
                            self.stray.append(f"{f.name}: a second Application named {name}")
                        self.children[name] = o
                        self.child_files[name] = f
                    elif o.get("kind") == "AppProject":
                        self.projects[name] = o
                    else:
                        self.stray.append(f"{f.name}: {o.get('kind')}/{name} is neither an Application nor an AppProject")

    def rel(self, p: Path) -> str:
        return str(p.relative_to(self.root))

    def values_files(self, app: dict) -> list[str]:
        out = []
        for s in sources(app):
            out += [v for v in (dig(s, "helm", "valueFiles", default=[]) or [])]
        return out

    def merged_values(self, app: dict) -> dict:
        merged: dict = {}
        for s in sources(app):
            for v in dig(s, "helm", "valueFiles", default=[]) or []:
                if v.startswith("$values/"):
                    p = self.root / v[len("$values/"):]
                    if p.is_file():
                        data = load_file(p)
                        if isinstance(data, dict):
                            merged = merge(merged, data)
            inline = dig(s, "helm", "valuesObject") or (yaml.safe_load(dig(s, "helm", "values")) if dig(s, "helm", "values") else None)
            if isinstance(inline, dict):
                merged = merge(merged, inline)
        return merged


def check_yaml(root: Path, files: dict[Path, list], errors: list[str]) -> list[str]:
    problems = list(errors)
    for f, docs in files.items():
        for o in objects(docs):
            what = f"{f.relative_to(root)}: {o.get('kind')}/{dig(o, 'metadata', 'name', default='?')}"
            if not dig(o, "metadata", "name"):
                problems.append(f"{what}: no metadata.name")
            if o["kind"] in ("Application", "AppProject"):
                if o["apiVersion"] != API:
                    problems.append(f"{what}: apiVersion {o['apiVersion']}, expected {API}")
                if dig(o, "metadata", "namespace") != ARGOCD_NS:
                    problems.append(f"{what}: not in the namespace {ARGOCD_NS}")
            if o["kind"] == "Secret":
                problems.append(f"{what}: a Secret in Git")
    return problems


def check_root(e: Env) -> list[str]:
    problems = []
    if not e.root_file.is_file():
        return [f"{e.rel(e.root_file)} missing"]
    if len(e.root_apps) != 1:
        return [f"{e.rel(e.root_file)}: {len(e.root_apps)} Applications, expected exactly one (the root)"]
    src = dig(e.root_apps[0], "spec", "source", default={})
    path = src.get("path")
    if src.get("repoURL") != REPO_URL:
        problems.append(f"root source {src.get('repoURL')}, expected {REPO_URL}")
    if path != f"argocd/envs/{e.env}/apps":
        problems.append(f"root path {path}, expected argocd/envs/{e.env}/apps")
    if e.apps_dir is None:
        problems.append(f"root path {path} is not a directory of the repository")
        return problems
    problems += e.stray
    missing, extra = APPS - set(e.children), set(e.children) - APPS
    if missing:
        problems.append(f"child Applications missing: {', '.join(sorted(missing))}")
    if extra:
        problems.append(f"unexpected child Applications (add them to APPS and DEPENDS): {', '.join(sorted(extra))}")
    dest = dig(e.root_apps[0], "spec", "destination", default={})
    if dest.get("namespace") != ARGOCD_NS:
        problems.append(f"root destination namespace {dest.get('namespace')}, expected {ARGOCD_NS}")
    return problems


def project_allows(project: dict, app: dict) -> list[str]:
    problems = []
    spec = project.get("spec", {})
    repos = spec.get("sourceRepos") or []
    if "*" in repos:
        problems.append(f"project {project['metadata']['name']} allows every source repository")
    for s in sources(app):
        if s.get("repoURL") not in repos:
            problems.append(f"source {s.get('repoURL')} not in project {project['metadata']['name']}'s sourceRepos")
    dest = dig(app, "spec", "destination", default={})
    allowed = spec.get("destinations") or []
    if any(d.get("namespace") == "*" or d.get("server") == "*" for d in allowed):
        problems.append(f"project {project['metadata']['name']} allows every destination")
    if dest.get("server") != IN_CLUSTER:
        problems.append(f"destination server {dest.get('server')}, expected the in-cluster {IN_CLUSTER}")
    if not any(d.get("server") == dest.get("server") and d.get("namespace") == dest.get("namespace") for d in allowed):
        problems.append(f"destination namespace {dest.get('namespace')} not allowed by project {project['metadata']['name']}")
    return problems


def check_projects(e: Env) -> list[str]:
    problems = []
    for name, app in sorted(list(e.children.items()) + [("root", a) for a in e.root_apps]):
        proj = dig(app, "spec", "project")
        if proj not in e.projects:
            problems.append(f"{name}: project {proj!r} is not defined in argocd/envs/{e.env}")
            continue
        problems += [f"{name}: {p}" for p in project_allows(e.projects[proj], app)]
    tiketi_proj = e.projects.get(dig(e.children.get("tiketi", {}), "spec", "project"))
    if tiketi_proj is not None:
        black = dig(tiketi_proj, "spec", "namespaceResourceBlacklist", default=[]) or []
        if not any(b.get("kind") == "Secret" and b.get("group", "") == "" for b in black):
            problems.append(f"project {tiketi_proj['metadata']['name']} does not refuse Secrets from Git")
    return problems


def check_helm_sources(e: Env) -> list[str]:
    problems = []
    for name, app in sorted(e.children.items()):
        for s in sources(app):
            if "chart" not in s and not str(s.get("repoURL", "")).endswith(".git"):
                problems.append(f"{name}: source {s.get('repoURL')} is neither a chart nor this Git repository")
            if "chart" not in s:
                continue
            if not s.get("chart"):
                problems.append(f"{name}: a Helm source without a chart name")
            if not str(s.get("repoURL", "")).startswith("https://"):
                problems.append(f"{name}: chart repoURL {s.get('repoURL')!r} is not an https URL")
            rev = str(s.get("targetRevision", ""))
            if not SEMVER.match(rev):
                problems.append(f"{name}: chart {s.get('chart')} targetRevision {rev!r} is not an exact version (x.y.z)")
            if not dig(s, "helm", "releaseName"):
                problems.append(f"{name}: chart {s.get('chart')} without an explicit helm.releaseName")
    return problems


def check_git_sources(e: Env) -> list[str]:
    problems = []
    for name, app in sorted(e.children.items()):
        for s in sources(app):
            if "chart" in s:
                continue
            if s.get("repoURL") != REPO_URL:
                problems.append(f"{name}: Git source {s.get('repoURL')}, expected {REPO_URL}")
            if not s.get("targetRevision") or str(s.get("targetRevision")).upper() == "HEAD":
                problems.append(f"{name}: Git source without a named targetRevision")
            if "ref" in s and "path" in s:
                problems.append(f"{name}: the values reference source also has a path (it would deploy it)")
            if "ref" not in s:
                path = s.get("path")
                if not path or not (e.root / path).is_dir():
                    problems.append(f"{name}: Git path {path!r} does not exist in the repository")
                elif not any((e.root / path).iterdir()):
                    problems.append(f"{name}: Git path {path} is empty")
    tiketi = e.children.get("tiketi")
    if tiketi is not None:
        paths = [s.get("path") for s in sources(tiketi)]
        if paths != [f"k8s/overlays/{e.env}"]:
            problems.append(f"tiketi: source paths {paths}, expected exactly k8s/overlays/{e.env}")
    return problems


def check_values(e: Env) -> list[str]:
    problems = []
    for name, app in sorted(e.children.items()):
        srcs = sources(app)
        refs = {s.get("ref") for s in srcs if s.get("ref")}
        files = e.values_files(app)
        for v in files:
            if not v.startswith("$values/"):
                problems.append(f"{name}: valueFile {v} is not from Git ($values/...): it would be looked up in the chart")
                continue
            if "values" not in refs:
                problems.append(f"{name}: uses $values/ without a source with ref: values")
            p = e.root / v[len("$values/"):]
            if not p.is_file():
                problems.append(f"{name}: {v}: file missing")
                continue
            try:
                data = yaml.safe_load(p.read_text())
            except yaml.YAMLError as err:
                problems.append(f"{name}: {v}: {str(err).splitlines()[0]}")
                continue
            if not isinstance(data, dict):
                problems.append(f"{name}: {v}: not a mapping of values")
        if any("chart" in s for s in srcs):
            shared = f"$values/argocd/platform/values/{name}.yaml"
            if name in MONITORING_VALUES:
                shared = "$values/" + MONITORING_VALUES[name]
            if not files or files[0] != shared:
                problems.append(f"{name}: first valueFile should be {shared}, got {files[:1]}")
            env_files = [f for f in files[1:] if f != f"$values/argocd/platform/values/{e.env}/{name}.yaml"]
            if env_files:
                problems.append(f"{name}: valueFiles other than the shared and {e.env}/{name}.yaml: {env_files}")
            merged = e.merged_values(app)
            left = sorted({s for s in strings(merged) if "PLACEHOLDER" in s})
            if left:
                problems.append(f"{name}: placeholders survive the merged values: {left}")
            for other in ENVS:
                if other != e.env and any(f"/{other}/" in f for f in files):
                    problems.append(f"{name}: {e.env} uses another environment's values: {files}")
    return problems


def check_waves(e: Env) -> list[str]:
    problems = []
    waves = {}
    for name, app in e.children.items():
        w = wave(app)
        if w is None:
            problems.append(f"{name}: sync-wave {dig(app, 'metadata', 'annotations', 'argocd.argoproj.io/sync-wave')!r} is not an integer")
        waves[name] = w
    for app, needs in DEPENDS.items():
        for dep in needs:
            if app not in e.children or dep not in e.children:
                problems.append(f"{app} needs {dep}: one of them is missing")
            elif waves[app] is None or waves[dep] is None:
                continue  # reported above
            elif not waves[dep] < waves[app]:
                problems.append(f"{app} (wave {waves[app]}) must sync strictly after {dep} (wave {waves[dep]})")
    app_waves = [w for w in waves.values() if w is not None]
    for pname, proj in e.projects.items():
        if proj in e.root_objs:
            continue
        pw = wave(proj)
        if pw is None or (app_waves and not pw < min(app_waves)):
            problems.append(f"AppProject {pname} (wave {pw}) must sync before every Application (first wave {min(app_waves)})")
    tiketi_wave = waves.get("tiketi")
    if tiketi_wave is not None and any(w is not None and w > tiketi_wave for n, w in waves.items() if n != "tiketi"):
        problems.append("the Tiketi app is not in the last wave")
    return problems


def check_tiketi_app(e: Env) -> list[str]:
    app = e.children.get("tiketi")
    if app is None:
        return ["no Application tiketi"]
    problems = []
    dest = dig(app, "spec", "destination", default={})
    if dest.get("namespace") != "tiketi":
        problems.append(f"destination namespace {dest.get('namespace')}, expected tiketi")
    opts = sync_options(app)
    ns_in_git = any(o.get("kind") == "Namespace" and dig(o, "metadata", "name") == "tiketi"
                    for o in objects(list(yaml.safe_load_all((e.root / "k8s/base/namespace.yaml").read_text())))) \
        if (e.root / "k8s/base/namespace.yaml").is_file() else False
    if ns_in_git and "CreateNamespace=false" not in opts:
        problems.append("the namespace is in the kustomization (k8s/base/namespace.yaml): CreateNamespace=false expected")
    for required in ("PruneLast=true", "RespectIgnoreDifferences=true", "ServerSideApply=true"):
        if required not in opts:
            problems.append(f"sync option {required} missing")
    ignores = dig(app, "spec", "ignoreDifferences", default=[]) or []
    for group, kind in SCALED_KINDS:
        for role in SCALED_ROLES:
            if not any(i.get("group", "") == group and i.get("kind") == kind and i.get("name") in (role, None)
                       and "/spec/replicas" in (i.get("jsonPointers") or []) for i in ignores):
                problems.append(f"ignoreDifferences lacks /spec/replicas of {kind} {role} ({group}): KEDA owns it")
    for i in ignores:
        if "/spec/replicas" in (i.get("jsonPointers") or []) and i.get("name") not in SCALED_ROLES:
            problems.append(f"replicas ignored on {i.get('kind')} {i.get('name') or '(every one)'}, which KEDA does not scale")
    # Every VirtualService a canary steers: Argo CD must leave its route weights to Argo Rollouts.
    for path in sorted((e.root / "k8s/base/roles").glob("*.yaml")):
        for o in objects(list(yaml.safe_load_all(path.read_text()))):
            if o.get("kind") != "Rollout":
                continue
            steered = dig(o, "spec", "strategy", "canary", "trafficRouting", "istio", "virtualServices", default=[]) or []
            for vs in steered:
                if not any(i.get("kind") == "VirtualService" and i.get("name") == vs.get("name")
                           and any("weight" in expr for expr in (i.get("jqPathExpressions") or []))
                           for i in ignores):
                    problems.append(f"ignoreDifferences lacks the route weights of VirtualService {vs.get('name')}, "
                                    f"which the {dig(o, 'metadata', 'name')} canary steers")
    # The namespace and the Secret must exist before the PreSync migration Job runs.
    conn = e.children.get("tiketi-connections")
    if conn is None or dig(conn, "spec", "destination", "namespace") != "tiketi" \
            or "CreateNamespace=true" not in sync_options(conn):
        problems.append("tiketi-connections must create the namespace tiketi (CreateNamespace=true) before the app")
    return problems


def check_sync_policy(e: Env) -> list[str]:
    problems = []
    for name, app in sorted(list(e.children.items()) + [("root", a) for a in e.root_apps]):
        auto = dig(app, "spec", "syncPolicy", "automated")
        if not isinstance(auto, dict):
            problems.append(f"{name}: no automated sync")
            continue
        if auto.get("selfHeal") is not True:
            problems.append(f"{name}: automated without selfHeal")
        if e.env == "prod":
            if auto.get("prune") is True:
                problems.append(f"{name}: automated prune in prod (deletions are a manual sync there)")
        elif auto.get("prune") is not True:
            problems.append(f"{name}: automated prune off in {e.env}")
    return problems


def check_irsa(e: Env) -> list[str]:
    problems, seen = [], {}
    for name, app in sorted(e.children.items()):
        for v in e.values_files(app):
            p = e.root / v[len("$values/"):] if v.startswith("$values/") else None
            if p is None or not p.is_file():
                continue
            data = load_file(p)
            arns = [m for s in strings(data) for m in ARN_ANYWHERE.findall(s)]
            shared = p.parent.name not in ENVS
            for arn in arns:
                if shared:
                    problems.append(f"{e.rel(p)}: role ARN {arn} in a file shared by every environment")
                elif not ROLE_ARN.match(arn):
                    problems.append(f"{e.rel(p)}: malformed role ARN {arn}")
                elif f":role/tiketi-{e.env}-" not in arn:
                    problems.append(f"{e.rel(p)}: role ARN {arn} is not one of {e.env}'s (tiketi-{e.env}-...)")
        if name in IRSA and name in e.children:
            path, suffix = IRSA[name]
            arn = dig(e.merged_values(app), *path)
            want = f":role/tiketi-{e.env}-{suffix}"
            if not isinstance(arn, str) or not ROLE_ARN.match(arn) or not arn.endswith(want):
                problems.append(f"{name}: {'.'.join(path)} is {arn!r}, expected an ARN ending {want}")
            elif arn in seen:
                problems.append(f"{name} and {seen[arn]} share the role {arn}")
            else:
                seen[arn] = name
    keda = e.merged_values(e.children["keda"]) if "keda" in e.children else {}
    if dig(keda, "podIdentity", "aws", "irsa", "enabled") is not True:
        problems.append("keda: podIdentity.aws.irsa.enabled is not true (the SQS trigger authenticates as KEDA)")
    return problems


def overlay_sampler_arg(root: Path, env: str) -> float | None:
    """OTEL_TRACES_SAMPLER_ARG from k8s/overlays/<env>'s configMapGenerator literals."""
    k = root / "k8s" / "overlays" / env / "kustomization.yaml"
    if not k.is_file():
        return None
    for gen in yaml.safe_load(k.read_text()).get("configMapGenerator") or []:
        for lit in gen.get("literals") or []:
            if str(lit).startswith("OTEL_TRACES_SAMPLER_ARG="):
                try:
                    return float(str(lit).split("=", 1)[1])
                except ValueError:
                    return None
    return None


def check_mesh_values(e: Env) -> list[str]:
    problems = []
    istiod = e.merged_values(e.children["istiod"]) if "istiod" in e.children else {}
    mesh = istiod.get("meshConfig") or {}
    name, ns, grpc, _ = COLLECTOR
    providers = {p.get("name"): p for p in mesh.get("extensionProviders") or []}
    otel = dig(providers.get(TRACING_PROVIDER, {}), "opentelemetry", default={})
    if otel.get("service") != f"{name}.{ns}.svc.cluster.local" or otel.get("port") != grpc:
        problems.append(f"istiod: extension provider {TRACING_PROVIDER} must be opentelemetry at "
                        f"{name}.{ns}.svc.cluster.local:{grpc}, got {otel or None}")
    if TRACING_PROVIDER not in (dig(mesh, "defaultProviders", "tracing", default=[]) or []):
        problems.append(f"istiod: {TRACING_PROVIDER} is not the default tracing provider (the gateway would not trace)")
    if dig(mesh, "outboundTrafficPolicy", "mode") not in ("ALLOW_ANY", "REGISTRY_ONLY"):
        problems.append("istiod: meshConfig.outboundTrafficPolicy.mode must be stated (ALLOW_ANY or REGISTRY_ONLY)")
    arg = overlay_sampler_arg(e.root, e.env)
    sampling = istiod.get("traceSampling")
    if arg is None:
        problems.append(f"k8s/overlays/{e.env}: no OTEL_TRACES_SAMPLER_ARG to compare istiod's traceSampling with")
    elif not isinstance(sampling, (int, float)) or abs(sampling - 100 * arg) > 1e-9:
        problems.append(f"istiod: traceSampling {sampling!r} differs from the overlay's OTEL_TRACES_SAMPLER_ARG {arg} × 100")
    gw = e.children.get("istio-gateway")
    if gw is not None:
        rel = [dig(s, "helm", "releaseName") for s in sources(gw) if "chart" in s]
        if rel != [GATEWAY[0]] or dig(gw, "spec", "destination", "namespace") != GATEWAY[1]:
            problems.append(f"istio-gateway: must be release {GATEWAY[0]} in {GATEWAY[1]} (pod label istio: "
                            f"ingressgateway, what Gateway/tiketi selects); got {rel} in {dig(gw, 'spec', 'destination', 'namespace')}")
        problems += gateway_behind_alb(e, gw)
    kps = e.children.get("kube-prometheus-stack")
    if kps is not None:
        rel = [dig(s, "helm", "releaseName") for s in sources(kps) if "chart" in s]
        if rel != [PROMETHEUS_RELEASE[0]] or dig(kps, "spec", "destination", "namespace") != PROMETHEUS_RELEASE[1]:
            problems.append(f"kube-prometheus-stack: must be release {PROMETHEUS_RELEASE[0]} in {PROMETHEUS_RELEASE[1]} "
                            "(KEDA queries kube-prometheus-stack-prometheus.monitoring.svc:9090)")
    return problems


def gateway_behind_alb(e: Env, gw: dict) -> list[str]:
    """The gateway Service is ClusterIP (Terraform's ALB is the entrance, no NLB), Envoy listens on
    the target group's port, and the gateway app deploys one TargetGroupBinding of IP targets to
    the environment's target group (the ARN's name is Terraform's, the account an example)."""
    problems = []
    svc = dig(e.merged_values(gw), "service", default={}) or {}
    if svc.get("type") != "ClusterIP":
        problems.append(f"istio-gateway: service.type {svc.get('type')!r}, expected ClusterIP (the ALB is the entrance)")
    lb_ann = [k for k in (svc.get("annotations") or {}) if k.startswith("service.beta.kubernetes.io/aws-load-balancer")]
    if lb_ann:
        problems.append(f"istio-gateway: load balancer annotations {lb_ann} on a Service without a load balancer")
    ports = {p.get("name"): p for p in svc.get("ports") or [] if isinstance(p, dict)}
    https, status = ports.get("https", {}), ports.get("status-port", {})
    if (https.get("port"), https.get("targetPort")) != (443, GATEWAY_TARGET_PORT):
        problems.append(f"istio-gateway: port https must be 443 -> {GATEWAY_TARGET_PORT} (the target group's port), "
                        f"got {https.get('port')!r} -> {https.get('targetPort')!r}")
    if status.get("targetPort") != 15021:
        problems.append("istio-gateway: status-port must reach 15021 (the target group's health check)")
    bindings = []
    for s in sources(gw):
        if "chart" in s or "ref" in s or not s.get("path"):
            continue
        for f in sorted((e.root / s["path"]).glob("*.y*ml")):
            bindings += [(f, o) for o in objects(yaml.safe_load_all(f.read_text()) or []) if o.get("kind") == "TargetGroupBinding"]
    if len(bindings) != 1:
        return problems + [f"istio-gateway: {len(bindings)} TargetGroupBindings in its Git sources, expected 1"]
    f, tgb = bindings[0]
    where = e.rel(f)
    if tgb.get("apiVersion") != "elbv2.k8s.aws/v1beta1":
        problems.append(f"{where}: apiVersion {tgb.get('apiVersion')!r}, expected elbv2.k8s.aws/v1beta1")
    if dig(tgb, "metadata", "namespace", default=GATEWAY[1]) != GATEWAY[1]:
        problems.append(f"{where}: namespace must be {GATEWAY[1]}")
    spec = tgb.get("spec") or {}
    if spec.get("targetType") != "ip":
        problems.append(f"{where}: targetType {spec.get('targetType')!r}, expected ip (the target group's type)")
    ref = spec.get("serviceRef") or {}
    if (ref.get("name"), ref.get("port")) != (GATEWAY[0], 443):
        problems.append(f"{where}: serviceRef {ref}, expected {GATEWAY[0]} port 443")
    arn = str(spec.get("targetGroupARN", ""))
    want = rf"arn:aws:elasticloadbalancing:ap-northeast-2:\d{{12}}:targetgroup/tiketi-{e.env}-istio-gw/[0-9a-f]{{16}}"
    if not re.fullmatch(want, arn):
        problems.append(f"{where}: targetGroupARN {arn!r} is not {e.env}'s target group tiketi-{e.env}-istio-gw")
    if "networking" in spec:
        problems.append(f"{where}: spec.networking would have the controller edit security groups; Terraform owns those rules")
    return problems


def check_tracing_values(e: Env) -> list[str]:
    problems = []
    name, ns, grpc, http = COLLECTOR
    col_app = e.children.get("opentelemetry-collector")
    jaeger_app = e.children.get("jaeger")
    if col_app is None or jaeger_app is None:
        return ["opentelemetry-collector or jaeger Application missing"]
    col = e.merged_values(col_app)
    if dig(col_app, "spec", "destination", "namespace") != ns or col.get("fullnameOverride") != name:
        problems.append(f"collector: must be {name} (fullnameOverride) in {ns}: the app exports to "
                        f"http://{name}.{ns}.svc.cluster.local:{http}")
    if col.get("mode") != "deployment":
        problems.append(f"collector: mode {col.get('mode')!r}, expected deployment (a gateway behind one Service)")
    otlp = dig(col, "config", "receivers", "otlp", "protocols", default={}) or {}
    for proto, port in (("grpc", grpc), ("http", http)):
        endpoint = str(dig(otlp, proto, "endpoint", default=""))
        if not endpoint.endswith(f":{port}"):
            problems.append(f"collector: OTLP {proto} receiver endpoint {endpoint!r}, expected port {port}")
    for port_name in ("otlp", "otlp-http"):
        if dig(col, "ports", port_name, "enabled") is False:
            problems.append(f"collector: port {port_name} disabled")
    traces = dig(col, "config", "service", "pipelines", "traces", default={}) or {}
    if "otlp" not in (traces.get("receivers") or []):
        problems.append("collector: the traces pipeline does not receive OTLP")
    jaeger_name = e.merged_values(jaeger_app).get("fullnameOverride") or dig(
        [s for s in sources(jaeger_app) if "chart" in s][0], "helm", "releaseName")
    jaeger_ns = dig(jaeger_app, "spec", "destination", "namespace")
    target = f"{jaeger_name}.{jaeger_ns}.svc.cluster.local:4317"
    exporters = dig(col, "config", "exporters", default={}) or {}
    to_jaeger = [x for x in traces.get("exporters") or []
                 if str(x).split("/")[0] in ("otlp", "otlp_grpc") and dig(exporters, x, "endpoint") == target]
    if not to_jaeger:
        problems.append(f"collector: the traces pipeline exports to no OTLP exporter at Jaeger's {target}")
    jaeger = e.merged_values(jaeger_app)
    user = jaeger.get("userconfig")
    if e.env == "dev":
        if user and "opensearch" not in str(user) and "elasticsearch" not in str(user) and "cassandra" not in str(user):
            problems.append("jaeger: dev runs the in-memory all-in-one or a real backend, nothing in between")
    else:
        backends = dig(user or {}, "extensions", "jaeger_storage", "backends", default={}) or {}
        kinds = {k for b in backends.values() if isinstance(b, dict) for k in b}
        if not kinds & {"opensearch", "elasticsearch", "cassandra"}:
            problems.append(f"jaeger: {e.env} needs a durable backend (OpenSearch/Elasticsearch/Cassandra), got {sorted(kinds) or 'the in-memory default'}")
        if (dig(jaeger, "jaeger", "replicas") or 1) < 2:
            problems.append(f"jaeger: {e.env} should run at least two replicas in front of its storage")
        literal = [v for k, v in items(user) if k == "password" and not str(v).startswith("${env:")]
        if literal:
            problems.append("jaeger: a literal password in its configuration (read it from the environment)")
    return problems


def check_ha(e: Env) -> list[str]:
    """Prod: controllers with at least two replicas and a PodDisruptionBudget."""
    if e.env != "prod":
        return []
    problems = []

    def at_least_two(app: str, *path: str, default: int = 1) -> None:
        v = dig(e.merged_values(e.children.get(app, {})), *path, default=default)
        if not isinstance(v, int) or v < 2:
            problems.append(f"{app}: {'.'.join(path)} is {v!r}, expected ≥ 2 in prod")

    def pdb(app: str, *path: str) -> None:
        v = dig(e.merged_values(e.children.get(app, {})), *path)
        if not v or (isinstance(v, dict) and v.get("enabled") is False):
            problems.append(f"{app}: no PodDisruptionBudget ({'.'.join(path)}) in prod")
        elif isinstance(v, dict) and v.get("maxUnavailable") == 0:
            problems.append(f"{app}: {'.'.join(path)} blocks every drain (maxUnavailable 0)")

    for comp, pdb_key in (("operator", "operator"), ("metricsServer", "metricServer"), ("webhooks", "webhooks")):
        at_least_two("keda", comp, "replicaCount")
        pdb("keda", "podDisruptionBudget", pdb_key)
    at_least_two("istiod", "autoscaleMin")
    at_least_two("istiod", "replicaCount")
    pdb("istiod", "pdb")
    at_least_two("istio-gateway", "autoscaling", "minReplicas")
    pdb("istio-gateway", "podDisruptionBudget")
    at_least_two("argo-rollouts", "controller", "replicas", default=2)
    pdb("argo-rollouts", "controller", "pdb")
    at_least_two("external-secrets", "replicaCount")
    pdb("external-secrets", "podDisruptionBudget")
    at_least_two("external-secrets", "webhook", "replicaCount")
    at_least_two("external-secrets", "certController", "replicaCount")
    if dig(e.merged_values(e.children.get("external-secrets", {})), "leaderElect") is not True:
        problems.append("external-secrets: several replicas without leaderElect")
    at_least_two("opentelemetry-collector", "replicaCount")
    pdb("opentelemetry-collector", "podDisruptionBudget")
    at_least_two("aws-load-balancer-controller", "replicaCount", default=2)  # the chart's default is 2
    pdb("aws-load-balancer-controller", "podDisruptionBudget")
    at_least_two("cluster-autoscaler", "replicaCount")
    pdb("cluster-autoscaler", "podDisruptionBudget")
    if dig(e.merged_values(e.children.get("cluster-autoscaler", {})), "extraArgs", "leader-elect") is False:
        problems.append("cluster-autoscaler: several replicas without leader election (each would resize the groups)")
    return problems


def check_addons(e: Env) -> list[str]:
    problems = []
    rollouts = e.merged_values(e.children.get("argo-rollouts", {}))
    if not isinstance(dig(rollouts, "dashboard", "enabled"), bool):
        problems.append("argo-rollouts: dashboard.enabled must be stated (true or false)")
    if rollouts.get("installCRDs") is False:
        problems.append("argo-rollouts: installCRDs is off (nothing else installs the Rollout CRD)")
    vpa = e.merged_values(e.children.get("vpa", {}))
    if dig(vpa, "recommender", "enabled") is not True:
        problems.append("vpa: the recommender is off (the roles' VPAs publish nothing)")
    for app in ("istio-base", "istiod", "keda", "external-secrets"):
        a = e.children.get(app)
        if a is not None and a.get("spec", {}).get("ignoreDifferences") and "RespectIgnoreDifferences=true" not in sync_options(a):
            problems.append(f"{app}: ignoreDifferences without RespectIgnoreDifferences=true (self-heal would fight the controller)")
    for name, app in e.children.items():
        if any("chart" in s for s in sources(app)) and "ServerSideApply=true" not in sync_options(app):
            problems.append(f"{name}: chart synced without ServerSideApply=true (large CRDs exceed client-side apply's annotation)")
    return problems


def terraform_cluster_name(root: Path, env: str) -> str | None:
    """The EKS cluster name Terraform gives `env`, read from its sources: modules/eks names the
    cluster "${var.name}<suffix>", modules/stack passes it name = local.name = "<prefix>${var.environment}-",
    envs/<env> calls the stack with environment = "<env>". None if any link is not found."""
    tf = root / "infra" / "terraform"
    try:
        eks = (tf / "modules/eks/main.tf").read_text()
        stack = (tf / "modules/stack/main.tf").read_text()
        env_main = (tf / "envs" / env / "main.tf").read_text()
    except OSError:
        return None
    suffix = re.search(r'^\s*cluster_name\s*=\s*"\$\{var\.name\}([a-z0-9-]+)"', eks, re.M)
    prefix = re.search(r'^\s*name\s*=\s*"([a-z0-9-]*)\$\{var\.environment\}([a-z0-9-]*)"', stack, re.M)
    call = re.search(r'module\s+"eks"\s*\{[^}]*?^\s*name\s*=\s*local\.name\s*$', stack, re.M | re.S)
    environment = re.search(r'^\s*environment\s*=\s*"([a-z0-9-]+)"', env_main, re.M)
    if not (suffix and prefix and call and environment):
        return None
    return f"{prefix.group(1)}{environment.group(1)}{prefix.group(2)}{suffix.group(1)}"


def duration_s(v) -> int | None:
    """A Go duration of whole hours/minutes/seconds ("30m", "1h30m", "90s") in seconds."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", str(v))
    if not m or not any(m.groups()):
        return None
    h, mi, s = (int(x or 0) for x in m.groups())
    return h * 3600 + mi * 60 + s


def check_autoscaler(e: Env) -> list[str]:
    """The cluster autoscaler finds Terraform's cluster's node groups, runs as the ServiceAccount
    its role trusts, and scales down in a way that suits a sale and a meshed cluster."""
    app = e.children.get("cluster-autoscaler")
    if app is None:
        return ["no Application cluster-autoscaler"]
    problems = []
    v = e.merged_values(app)
    want = terraform_cluster_name(e.root, e.env)
    name = dig(v, "autoDiscovery", "clusterName")
    if want is None:
        problems.append(f"cannot read {e.env}'s cluster name from infra/terraform (modules/eks, modules/stack, envs/{e.env})")
    elif name != want:
        problems.append(f"autoDiscovery.clusterName {name!r} is not Terraform's cluster {want}")
    tags = dig(v, "autoDiscovery", "tags")
    if tags is not None and not any("k8s.io/cluster-autoscaler/" in str(t) and "clusterName" in str(t) for t in tags):
        problems.append(f"autoDiscovery.tags {tags} drop k8s.io/cluster-autoscaler/<cluster> (the tag the IAM role's condition names)")
    if v.get("cloudProvider", "aws") != "aws" or v.get("awsRegion") != "ap-northeast-2":
        problems.append(f"cloudProvider {v.get('cloudProvider')!r} / awsRegion {v.get('awsRegion')!r}, expected aws in ap-northeast-2")
    if dig(app, "spec", "destination", "namespace") != AUTOSCALER_SA[0] \
            or dig(v, "rbac", "serviceAccount", "name") != AUTOSCALER_SA[1] \
            or dig(v, "rbac", "serviceAccount", "create") is False:
        problems.append(f"must create the ServiceAccount {'/'.join(AUTOSCALER_SA)} (the one its IAM role trusts), got "
                        f"{dig(app, 'spec', 'destination', 'namespace')}/{dig(v, 'rbac', 'serviceAccount', 'name')}")
    args = v.get("extraArgs") or {}
    if args.get("balance-similar-node-groups") is not True:
        problems.append("extraArgs: balance-similar-node-groups must be true (one node group per zone)")
    for flag in ("skip-nodes-with-system-pods", "skip-nodes-with-local-storage"):
        if args.get(flag) is not False:
            problems.append(f"extraArgs: {flag} must be false (otherwise nodes with kube-system or meshed pods never go)")
    expanders = str(args.get("expander", "")).split(",")
    if not args.get("expander"):
        problems.append("extraArgs: no expander stated")
    elif "priority" in expanders and not v.get("expanderPriorities"):
        problems.append("extraArgs: the priority expander without expanderPriorities (no ConfigMap to read)")
    delay = duration_s(args.get("scale-down-delay-after-add"))
    if delay is None or delay < MIN_SCALE_DOWN_DELAY_S:
        problems.append(f"extraArgs: scale-down-delay-after-add {args.get('scale-down-delay-after-add')!r}, "
                        f"expected a duration of at least {MIN_SCALE_DOWN_DELAY_S // 60}m (outlasts KEDA's scale-down)")
    if duration_s(args.get("scale-down-unneeded-time")) is None:
        problems.append("extraArgs: scale-down-unneeded-time must be stated as a duration")
    if not dig(v, "resources", "requests", "memory") or not dig(v, "resources", "requests", "cpu"):
        problems.append("resources.requests (cpu and memory) must be set")
    if dig(v, "serviceMonitor", "enabled") is True:
        problems.append("serviceMonitor enabled: its CRD comes with kube-prometheus-stack in a later wave")
    return problems


def pod_secret_keys(root: Path) -> set[str]:
    """The keys of tiketi-connections the roles read (k8s/base/pod-defaults.yaml)."""
    p = root / "k8s" / "base" / "pod-defaults.yaml"
    keys: set[str] = set()

    def walk(d):
        if isinstance(d, dict):
            ref = d.get("secretKeyRef")
            if isinstance(ref, dict) and ref.get("name") == "tiketi-connections":
                keys.add(ref.get("key"))
            for v in d.values():
                walk(v)
        elif isinstance(d, list):
            for v in d:
                walk(v)

    if p.is_file():
        for doc in yaml.safe_load_all(p.read_text()):
            walk(doc)
    return keys


def check_external_secret(e: Env, files: dict[Path, list], app_name: str, secret: str, namespace: str,
                          want_keys: set[str], keys_from: str) -> list[str]:
    """The app's directory holds one ExternalSecret making `secret` from tiketi-<env>-<secret-ish>."""
    app = e.children.get(app_name)
    if app is None:
        return [f"no Application {app_name}"]
    path = [s.get("path") for s in sources(app)][0]
    d = e.root / path if path else None
    if d is None or not d.is_dir():
        return [f"{app_name}: path {path!r} missing"]
    problems = []
    if dig(app, "spec", "destination", "namespace") != namespace:
        problems.append(f"{app_name}: destination namespace {dig(app, 'spec', 'destination', 'namespace')}, expected {namespace}")
    objs = [o for f, docs in files.items() if f.parent == d for o in objects(docs)]
    stores = {dig(o, "metadata", "name"): o for o in objs if o["kind"] == "SecretStore"}
    ext = [o for o in objs if o["kind"] == "ExternalSecret" and dig(o, "spec", "target", "name") == secret]
    if len(ext) != 1:
        return problems + [f"{path}: {len(ext)} ExternalSecrets making {secret}, expected one"]
    es = ext[0]
    if es["apiVersion"] != "external-secrets.io/v1":
        problems.append(f"ExternalSecret apiVersion {es['apiVersion']}, expected external-secrets.io/v1 (chart 2.x)")
    if dig(es, "metadata", "namespace") != namespace:
        problems.append(f"the ExternalSecret {secret} is not in the namespace {namespace}")
    ref = dig(es, "spec", "secretStoreRef", default={})
    store = stores.get(ref.get("name"))
    if ref.get("kind", "SecretStore") != "SecretStore" or store is None:
        problems.append(f"secretStoreRef {ref} does not name a SecretStore of {path}")
    elif dig(store, "spec", "provider", "aws", "service") != "SecretsManager" or dig(store, "metadata", "namespace") != namespace:
        problems.append(f"the SecretStore is not AWS Secrets Manager in the namespace {namespace}")
    data = dig(es, "spec", "data", default=[]) or []
    keys = {x.get("secretKey") for x in data}
    if not want_keys:
        problems.append(f"{keys_from} names no key of {secret} (cannot compare)")
    elif keys != want_keys:
        problems.append(f"{secret} keys {sorted(keys)}, {keys_from} reads {sorted(want_keys)}")
    remote = f"tiketi-{e.env}-{secret.removeprefix('tiketi-')}"
    for x in data:
        if dig(x, "remoteRef", "key") != remote:
            problems.append(f"{x.get('secretKey')}: remote key {dig(x, 'remoteRef', 'key')!r}, expected {remote}")
    return problems


def check_connections(e: Env, files: dict[Path, list]) -> list[str]:
    return check_external_secret(e, files, "tiketi-connections", "tiketi-connections", "tiketi",
                                 pod_secret_keys(e.root), "k8s/base/pod-defaults.yaml")


ALERTMANAGER_SECRET = "alertmanager-receivers"


def check_monitoring_secrets(e: Env, files: dict[Path, list]) -> list[str]:
    """alertmanager-receivers holds exactly the files Alertmanager's configuration reads."""
    kps = e.merged_values(e.children.get("kube-prometheus-stack", {}))
    mount = f"/etc/alertmanager/secrets/{ALERTMANAGER_SECRET}/"
    want = {s[len(mount):] for s in strings(dig(kps, "alertmanager", "config", default={})) if s.startswith(mount)}
    problems = []
    if want and ALERTMANAGER_SECRET not in (dig(kps, "alertmanager", "alertmanagerSpec", "secrets", default=[]) or []):
        problems.append(f"kube-prometheus-stack: Alertmanager reads {mount} but does not mount {ALERTMANAGER_SECRET}")
    return problems + check_external_secret(e, files, "monitoring-secrets", ALERTMANAGER_SECRET, "monitoring", want,
                                            "the Alertmanager configuration (kube-prometheus-stack.yaml)")


def check_health(root: Path, files: dict[Path, list]) -> list[str]:
    cm_file = root / "argocd" / "bootstrap" / "argocd-cm-health.yaml"
    values_file = root / "argocd" / "bootstrap" / "argo-cd-values.yaml"
    cm = next((o for o in objects(files.get(cm_file, [])) if o["kind"] == "ConfigMap"), None)
    vals = (files.get(values_file) or [None])[0]
    problems = []
    lua_cm = dig(cm or {}, "data", HEALTH_KEY)
    lua_chart = dig(vals or {}, "configs", "cm", HEALTH_KEY)
    if dig(cm or {}, "metadata", "name") != "argocd-cm" or dig(cm or {}, "metadata", "namespace") != ARGOCD_NS:
        problems.append(f"{cm_file.relative_to(root)}: not the ConfigMap argocd/argocd-cm")
    if not lua_cm or not lua_chart:
        problems.append(f"{HEALTH_KEY} missing from {'argocd-cm-health.yaml' if not lua_cm else 'argo-cd-values.yaml'}")
    elif lua_cm != lua_chart:
        problems.append("the Application health check differs between argocd-cm-health.yaml and argo-cd-values.yaml")
    elif not all(s in lua_cm for s in ("obj.status.health", "obj.status.sync", '"Synced"', "return hs")):
        problems.append("the Application health check must read the child's health and require it Synced")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2]), help="repository root")
    ap.add_argument("envs", nargs="*", default=ENVS)
    args = ap.parse_args()
    root = Path(args.root).resolve()
    report = Report()
    files, errors = load_all(root)
    report("argocd", "yaml", check_yaml(root, files, errors) if files or errors else ["no YAML under argocd/"])
    report("argocd", "health", check_health(root, files))
    for env in args.envs:
        e = Env(root, env, files)
        problems = check_root(e)
        report(env, "root", problems)
        if e.apps_dir is None:
            continue
        report(env, "projects", check_projects(e))
        report(env, "helm_sources", check_helm_sources(e))
        report(env, "git_sources", check_git_sources(e))
        report(env, "values", check_values(e))
        report(env, "waves", check_waves(e))
        report(env, "tiketi_app", check_tiketi_app(e))
        report(env, "sync_policy", check_sync_policy(e))
        report(env, "irsa", check_irsa(e))
        report(env, "mesh_values", check_mesh_values(e))
        report(env, "tracing_values", check_tracing_values(e))
        if env == "prod":
            report(env, "ha", check_ha(e))
        report(env, "addons", check_addons(e))
        report(env, "autoscaler", check_autoscaler(e))
        report(env, "connections", check_connections(e, files))
        report(env, "monitoring_secrets", check_monitoring_secrets(e, files))
    if report.failed:
        print(f"argocd checks: {report.passed} passed, {report.failed} failed")
        return 1
    print(f"argocd checks: {report.passed} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
