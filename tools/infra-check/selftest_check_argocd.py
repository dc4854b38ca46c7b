#!/usr/bin/env python3
"""Proves each check of check_argocd.py can fail.

Copies argocd/, k8s/ and infra/terraform/ into a temporary directory, breaks one thing at a time, runs check_argocd.py
on the copy and expects exit 1 with the named group failing (`FAIL <where>: <group>`); the unbroken
copy must pass. Prints one line per case and `selftest: N passed, M failed`; exits 1 on any failure.

    python3 tools/infra-check/selftest_check_argocd.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CHECK = HERE / "check_argocd.py"


def docs(path: Path) -> list:
    return list(yaml.safe_load_all(path.read_text()))


def edit(rel: str, fn, index: int = 0):
    """Change the index-th document of a YAML file (comments are lost in the copy; that is fine)."""
    def apply(root: Path) -> None:
        p = root / rel
        ds = docs(p)
        fn(ds[index])
        p.write_text(yaml.safe_dump_all(ds, sort_keys=False))
    return apply


def replace(rel: str, old: str, new: str):
    def apply(root: Path) -> None:
        p = root / rel
        text = p.read_text()
        assert old in text, f"{rel}: {old!r} not found"
        p.write_text(text.replace(old, new, 1))
    return apply


def remove(rel: str):
    return lambda root: (root / rel).unlink()


def write(rel: str, text: str):
    return lambda root: (root / rel).write_text(text)


def apps(env: str, name: str) -> str:
    return f"argocd/envs/{env}/apps/{name}.yaml"


def values(name: str, env: str | None = None) -> str:
    return f"argocd/platform/values/{env + '/' if env else ''}{name}.yaml"


def set_path(*keys, value):
    def fn(d):
        for k in keys[:-1]:
            d = d.setdefault(k, {}) if isinstance(d, dict) else d[k]
        d[keys[-1]] = value
    return fn


def del_path(*keys):
    def fn(d):
        for k in keys[:-1]:
            d = d[k]
        del d[keys[-1]]
    return fn


def chart_source(fn):
    return lambda app: fn(app["spec"]["sources"][0])


def drop_option(option: str):
    return lambda app: app["spec"]["syncPolicy"]["syncOptions"].remove(option)


def wave(n: int):
    return set_path("metadata", "annotations", "argocd.argoproj.io/sync-wave", value=str(n))


def together(*mutations):
    def apply(root: Path) -> None:
        for m in mutations:
            m(root)
    return apply


HEALTH = "resource.customizations.health.argoproj.io_Application"
# The documented check without the Synced requirement.
HEALTH_ONLY = ('hs = {}\nhs.status = "Progressing"\nif obj.status ~= nil and obj.status.health ~= nil then\n'
               '  hs.status = obj.status.health.status\nend\nreturn hs\n')

# (name, where, group, mutation)
CASES = [
    ("a file that does not parse", "argocd", "yaml", write("argocd/platform/values/broken.yaml", "a: [b\n")),
    ("an Application of another API version", "argocd", "yaml",
     edit(apps("dev", "keda"), set_path("apiVersion", value="argoproj.io/v1beta1"))),
    ("a Secret in Git", "argocd", "yaml",
     write("argocd/platform/manifests/tiketi-connections/dev/secret.yaml",
           "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n  namespace: tiketi\n")),
    ("health check differs between the two bootstrap files", "argocd", "health",
     replace("argocd/bootstrap/argo-cd-values.yaml", 'hs.status = "Progressing"\n', 'hs.status = "Healthy"\n')),
    ("health check without the Synced requirement", "argocd", "health",
     together(edit("argocd/bootstrap/argocd-cm-health.yaml", set_path("data", HEALTH, value=HEALTH_ONLY)),
              edit("argocd/bootstrap/argo-cd-values.yaml", set_path("configs", "cm", HEALTH, value=HEALTH_ONLY)))),
    ("root path that does not exist", "dev", "root",
     edit("argocd/envs/dev/root.yaml", set_path("spec", "source", "path", value="argocd/envs/dev/nothing"), 1)),
    ("a child Application missing", "staging", "root", remove(apps("staging", "keda"))),
    ("something else in the apps directory", "prod", "root",
     write(apps("prod", "stray"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n  namespace: argocd\n")),
    ("an undefined project", "staging", "projects", edit(apps("staging", "jaeger"), set_path("spec", "project", value="nope"))),
    ("a destination the project does not allow", "dev", "projects",
     edit(apps("dev", "jaeger"), set_path("spec", "destination", "namespace", value="tracing"))),
    ("a project allowing every repository", "prod", "projects",
     edit(apps("prod", "projects"), set_path("spec", "sourceRepos", value=["*"]))),
    ("a chart repository the project does not list", "dev", "projects",
     edit(apps("dev", "keda"), chart_source(set_path("repoURL", value="https://example.com/charts")))),
    ("the app project accepting Secrets", "dev", "projects",
     edit(apps("dev", "projects"), del_path("spec", "namespaceResourceBlacklist"), 1)),
    ("a wildcard chart version", "dev", "helm_sources",
     edit(apps("dev", "keda"), chart_source(set_path("targetRevision", value="2.20.*")))),
    ("a caret chart version", "staging", "helm_sources",
     edit(apps("staging", "istiod"), chart_source(set_path("targetRevision", value="^1.30.3")))),
    ("a chart at latest", "prod", "helm_sources",
     edit(apps("prod", "jaeger"), chart_source(set_path("targetRevision", value="latest")))),
    ("a chart version range", "prod", "helm_sources",
     edit(apps("prod", "loki"), chart_source(set_path("targetRevision", value=">=7.0.0 <8.0.0")))),
    ("a chart without a name", "dev", "helm_sources", edit(apps("dev", "vpa"), chart_source(set_path("chart", value="")))),
    ("a Git path that does not exist", "staging", "git_sources",
     edit(apps("staging", "tiketi"), set_path("spec", "source", "path", value="k8s/overlays/stage"))),
    ("the app at another environment's overlay", "prod", "git_sources",
     edit(apps("prod", "tiketi"), set_path("spec", "source", "path", value="k8s/overlays/staging"))),
    ("a values file that does not exist", "prod", "values", remove(values("keda", "prod"))),
    ("a values file looked up in the chart", "dev", "values",
     edit(apps("dev", "istiod"), chart_source(lambda s: s["helm"]["valueFiles"].append("values-dev.yaml")))),
    ("a monitoring app with another values file", "staging", "values",
     edit(apps("staging", "grafana"), chart_source(set_path("helm", "valueFiles",
                                                             value=["$values/argocd/platform/values/staging/grafana.yaml"])))),
    ("a placeholder left in the merged values", "dev", "values", remove(values("loki", "dev"))),
    ("the app in the same wave as the gateway", "dev", "waves", edit(apps("dev", "tiketi"), wave(2))),
    ("the gateway with istiod", "staging", "waves", edit(apps("staging", "istio-gateway"), wave(1))),
    ("istiod before the Istio CRDs", "prod", "waves", edit(apps("prod", "istio-base"), wave(1))),
    ("the Secret's app with External Secrets", "dev", "waves", edit(apps("dev", "tiketi-connections"), wave(0))),
    ("a project after the apps", "prod", "waves", edit(apps("prod", "projects"), wave(5), 1)),
    ("Prometheus before its sidecar injector", "staging", "waves", edit(apps("staging", "kube-prometheus-stack"), wave(1))),
    ("the app in another namespace", "dev", "tiketi_app",
     edit(apps("dev", "tiketi"), set_path("spec", "destination", "namespace", value="default"))),
    ("the app creating its own namespace", "staging", "tiketi_app",
     edit(apps("staging", "tiketi"), lambda a: a["spec"]["syncPolicy"]["syncOptions"].__setitem__(0, "CreateNamespace=true"))),
    ("realtime's Rollout replicas not ignored", "prod", "tiketi_app",
     edit(apps("prod", "tiketi"), lambda a: a["spec"].__setitem__("ignoreDifferences", [
         i for i in a["spec"]["ignoreDifferences"] if not (i["kind"] == "Rollout" and i["name"] == "realtime")]))),
    ("payment's replicas ignored", "dev", "tiketi_app",
     edit(apps("dev", "tiketi"), lambda a: a["spec"]["ignoreDifferences"].append(
         {"group": "apps", "kind": "Deployment", "name": "payment", "jsonPointers": ["/spec/replicas"]}))),
    ("no PruneLast", "dev", "tiketi_app", edit(apps("dev", "tiketi"), drop_option("PruneLast=true"))),
    ("the Secret's app not creating the namespace", "prod", "tiketi_app",
     edit(apps("prod", "tiketi-connections"), drop_option("CreateNamespace=true"))),
    ("automated prune in prod", "prod", "sync_policy",
     edit(apps("prod", "tiketi"), set_path("spec", "syncPolicy", "automated", "prune", value=True))),
    ("the prod root pruning", "prod", "sync_policy",
     edit("argocd/envs/prod/root.yaml", set_path("spec", "syncPolicy", "automated", "prune", value=True), 1)),
    ("no self-heal in dev", "dev", "sync_policy",
     edit(apps("dev", "keda"), set_path("spec", "syncPolicy", "automated", "selfHeal", value=False))),
    ("manual sync in staging", "staging", "sync_policy", edit(apps("staging", "grafana"), del_path("spec", "syncPolicy", "automated"))),
    ("another environment's KEDA role", "dev", "irsa",
     replace(values("keda", "dev"), "role/tiketi-dev-keda-operator", "role/tiketi-prod-keda-operator")),
    ("a role ARN in a shared values file", "staging", "irsa",
     edit(values("argo-rollouts"), set_path("serviceAccount", "annotations", "eks.amazonaws.com/role-arn",
                                             value="arn:aws:iam::123456789012:role/tiketi-staging-x"))),
    ("a malformed account id", "prod", "irsa", replace(values("external-secrets", "prod"), "::123456789012:", "::12345678901:")),
    ("KEDA without IRSA", "dev", "irsa", edit(values("keda"), set_path("podIdentity", "aws", "irsa", "enabled", value=False))),
    ("tracing to the collector's HTTP port", "dev", "mesh_values",
     edit(values("istiod"), lambda v: v["meshConfig"]["extensionProviders"][0]["opentelemetry"].__setitem__("port", 4318))),
    ("no default tracing provider", "staging", "mesh_values", edit(values("istiod"), del_path("meshConfig", "defaultProviders"))),
    ("sampling unlike the overlay's", "prod", "mesh_values", edit(values("istiod", "prod"), set_path("traceSampling", value=10.0))),
    ("the gateway back on its own load balancer", "dev", "mesh_values",
     replace(values("istio-gateway"), "type: ClusterIP", "type: LoadBalancer")),
    ("Envoy on a port the target group does not use", "prod", "mesh_values",
     replace(values("istio-gateway"), "targetPort: 8443", "targetPort: 443")),
    ("instance targets in the TargetGroupBinding", "prod", "mesh_values",
     replace("argocd/platform/manifests/istio-gateway/prod/targetgroupbinding.yaml", "targetType: ip", "targetType: instance")),
    ("a TargetGroupBinding to another environment's target group", "staging", "mesh_values",
     replace("argocd/platform/manifests/istio-gateway/staging/targetgroupbinding.yaml", "targetgroup/tiketi-staging-", "targetgroup/tiketi-prod-")),
    ("the controller managing security groups", "dev", "mesh_values",
     replace("argocd/platform/manifests/istio-gateway/dev/targetgroupbinding.yaml", "  targetType: ip\n",
             "  targetType: ip\n  networking:\n    ingress: []\n")),
    ("no TargetGroupBinding", "prod", "mesh_values",
     remove("argocd/platform/manifests/istio-gateway/prod/targetgroupbinding.yaml")),
    ("the gateway under another release name", "staging", "mesh_values",
     edit(apps("staging", "istio-gateway"), chart_source(set_path("helm", "releaseName", value="istio-gateway")))),
    ("Prometheus under another release name", "dev", "mesh_values",
     edit(apps("dev", "kube-prometheus-stack"), chart_source(set_path("helm", "releaseName", value="prometheus")))),
    ("the collector exporting elsewhere", "dev", "tracing_values",
     replace(values("opentelemetry-collector"), "jaeger.observability.svc.cluster.local:4317", "jaeger:4317")),
    ("the collector without the app's OTLP/HTTP port", "staging", "tracing_values",
     replace(values("opentelemetry-collector"), "${env:MY_POD_IP}:4318", "${env:MY_POD_IP}:4319")),
    ("the collector under another name", "prod", "tracing_values", edit(values("opentelemetry-collector"), del_path("fullnameOverride"))),
    ("prod Jaeger in memory", "prod", "tracing_values", edit(values("jaeger", "prod"), del_path("userconfig"))),
    ("a literal OpenSearch password", "staging", "tracing_values",
     replace(values("jaeger", "staging"), "password: ${env:OPENSEARCH_PASSWORD}", "password: hunter2")),
    ("one KEDA operator in prod", "prod", "ha", edit(values("keda", "prod"), set_path("operator", "replicaCount", value=1))),
    ("no collector PDB in prod", "prod", "ha", edit(values("opentelemetry-collector", "prod"), del_path("podDisruptionBudget"))),
    ("one gateway in prod", "prod", "ha", edit(values("istio-gateway", "prod"), set_path("autoscaling", "minReplicas", value=1))),
    ("External Secrets replicas without leader election", "prod", "ha", edit(values("external-secrets", "prod"), del_path("leaderElect"))),
    ("the Rollouts dashboard left unstated", "dev", "addons", edit(values("argo-rollouts"), del_path("dashboard"))),
    ("no VPA recommender", "staging", "addons", edit(values("vpa"), set_path("recommender", "enabled", value=False))),
    ("a chart without server-side apply", "prod", "addons",
     edit(apps("prod", "kube-prometheus-stack"), drop_option("ServerSideApply=true"))),
    ("ignored webhook fields that self-heal would reset", "dev", "addons",
     edit(apps("dev", "istiod"), drop_option("RespectIgnoreDifferences=true"))),
    ("a Secret key the roles do not read", "dev", "connections",
     edit("argocd/platform/manifests/tiketi-connections/dev/externalsecret.yaml",
          lambda es: es["spec"]["data"].pop())),
    ("another environment's Secrets Manager secret", "staging", "connections",
     replace("argocd/platform/manifests/tiketi-connections/staging/externalsecret.yaml",
             "key: tiketi-staging-connections", "key: tiketi-prod-connections")),
    ("Alertmanager reading a key the Secret lacks", "dev", "monitoring_secrets",
     edit("argocd/platform/manifests/monitoring-secrets/dev/alertmanager-receivers.yaml", lambda es: es["spec"]["data"].pop())),
    ("the receivers' Secret in another namespace", "prod", "monitoring_secrets",
     edit("argocd/platform/manifests/monitoring-secrets/prod/alertmanager-receivers.yaml",
          set_path("metadata", "namespace", value="tiketi"))),
    ("the store in another namespace", "prod", "connections",
     edit("argocd/platform/manifests/tiketi-connections/prod/secretstore.yaml",
          set_path("metadata", "namespace", value="default"))),
    ("the autoscaler pointed at another environment's cluster", "staging", "autoscaler",
     replace(values("cluster-autoscaler", "staging"), "clusterName: tiketi-staging-eks", "clusterName: tiketi-prod-eks")),
    ("Terraform renaming the cluster the autoscaler looks for", "dev", "autoscaler",
     replace("infra/terraform/modules/eks/main.tf", 'cluster_name = "${var.name}eks"', 'cluster_name = "${var.name}k8s"')),
    ("the autoscaler under a ServiceAccount its role does not trust", "prod", "autoscaler",
     edit(values("cluster-autoscaler"), set_path("rbac", "serviceAccount", "name", value="aws-cluster-autoscaler"))),
    ("nodes with meshed pods never scaled down", "dev", "autoscaler",
     edit(values("cluster-autoscaler"), del_path("extraArgs", "skip-nodes-with-local-storage"))),
    ("nodes removed before KEDA has shed the sale's pods", "staging", "autoscaler",
     edit(values("cluster-autoscaler"), set_path("extraArgs", "scale-down-delay-after-add", value="5m"))),
    ("the priority expander without priorities", "prod", "autoscaler",
     edit(values("cluster-autoscaler", "prod"), del_path("expanderPriorities"))),
    ("another environment's autoscaler role", "prod", "irsa",
     replace(values("cluster-autoscaler", "prod"), "role/tiketi-prod-cluster-autoscaler", "role/tiketi-dev-cluster-autoscaler")),
    ("one cluster autoscaler in prod", "prod", "ha", edit(values("cluster-autoscaler", "prod"), del_path("replicaCount"))),
    ("the autoscaler's chart repository not in the project", "dev", "projects",
     edit(apps("dev", "projects"), lambda p: p["spec"]["sourceRepos"].remove("https://kubernetes.github.io/autoscaler"))),
]


def run(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), "--root", str(root)], capture_output=True, text=True)


def fresh(tmp: Path) -> Path:
    root = tmp / "repo"
    if root.exists():
        shutil.rmtree(root)
    for d in ("argocd", "k8s", "infra/terraform"):
        shutil.copytree(REPO / d, root / d, ignore=shutil.ignore_patterns(".terraform"))  # no provider binaries
    return root


def main() -> int:
    passed = failed = 0
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        base = run(fresh(tmp))
        if base.returncode != 0:
            print(base.stdout)
            print("FAIL the unbroken copy does not pass check_argocd.py")
            return 1
        print("ok   the unbroken copy passes")
        for name, where, group, mutate in CASES:
            root = fresh(tmp)
            mutate(root)
            r = run(root)
            if r.returncode == 1 and f"FAIL {where}: {group}\n" in r.stdout:
                passed += 1
                print(f"ok   {where}: {group}: {name}")
            else:
                failed += 1
                fails = [l for l in r.stdout.splitlines() if l.startswith("FAIL")]
                print(f"FAIL {where}: {group}: {name} went unnoticed (exit {r.returncode}; {fails or r.stderr[-300:]})")
    print(f"selftest: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
