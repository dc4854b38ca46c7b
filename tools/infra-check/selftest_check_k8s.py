#!/usr/bin/env python3
"""Proves check_k8s.py can fail: each case copies k8s/ to a temporary directory, breaks one thing
there (never in the repository), runs the check on one overlay and expects the named group to fail.

    python3 tools/infra-check/selftest_check_k8s.py [WORD ...]

With WORDs, only the cases whose group or description contains one of them (the unbroken copies
always run).

Prints one line per case and `N passed, M failed`; exits 1 if any broken manifest went unnoticed
or the unbroken copy does not pass.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHECK = HERE / "check_k8s.py"


def sub(path: str, old: str, new: str, count: int = 1):
    """A mutation: replace `old` (a regex) by `new` in k8s/<path>; it must match."""

    def apply(k8s: Path):
        f = k8s / path
        text, n = re.subn(old, new, f.read_text(), count=count, flags=re.MULTILINE)
        if n == 0:
            raise AssertionError(f"mutation does not apply: {old!r} not in {path}")
        f.write_text(text)

    return apply


def append(path: str, text: str):
    def apply(k8s: Path):
        f = k8s / path
        f.write_text(f.read_text() + text)

    return apply


SECRET = """---
apiVersion: v1
kind: Secret
metadata:
  name: tiketi-connections
stringData:
  TIKETI_DATABASE_URL: postgres://u:p@db/tiketi
"""

PA_PORT_PERMISSIVE = """---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: payment-port
spec:
  selector:
    matchLabels:
      app.kubernetes.io/component: payment
  mtls:
    mode: STRICT
  portLevelMtls:
    "8080":
      mode: PERMISSIVE
"""

NP_EGRESS_DNS_ONLY = """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: egress-dns-only
spec:
  podSelector: {}
  policyTypes: ["Egress"]
  egress:
    - ports:
        - port: 53
          protocol: UDP
"""

VS_SECOND = """---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: extra
spec:
  hosts: ["*"]
  gateways: ["istio-ingress/tiketi"]
  http:
    - route:
        - destination:
            host: ticket
"""

# (overlay, group expected to fail, what is broken, mutation)
CASES = [
    ("prod", "schema", "an unknown field in the pod spec", sub("base/pod-defaults.yaml", r"^      enableServiceLinks: false", "      enableServiceLinks: false\n      hostNetworkx: true")),
    ("prod", "schema", "a string where an integer belongs", sub("base/roles/auth.yaml", r"terminationGracePeriodSeconds: 35", 'terminationGracePeriodSeconds: "soon"')),
    ("prod", "labels", "the common labels removed", sub("base/kustomization.yaml", r"app.kubernetes.io/part-of: tiketi", "app.kubernetes.io/version: x")),
    ("prod", "deployments", "a role running another role", sub("base/roles/stats.yaml", r'"--role", "stats"', '"--role", "ticket"')),
    ("prod", "deployments", "liveness on /readyz", sub("base/pod-defaults.yaml", r"path: /healthz\n(\s+port: http\n\s+periodSeconds: 10)", r"path: /readyz\n\1")),
    ("prod", "deployments", "no startupProbe", sub("base/pod-defaults.yaml", r"^          startupProbe:\n(.*\n){5}", "")),
    ("dev", "deployments", "image tag latest", sub("overlays/dev/kustomization.yaml", r"newTag: main", "newTag: latest")),
    ("prod", "deployments", "the container port renamed", sub("base/pod-defaults.yaml", r"- name: http\n", "- name: web\n")),
    ("prod", "resources", "no limits on the worker", sub("base/roles/worker.yaml", r"^            limits:\n(.*\n){2}", "")),
    ("prod", "resources", "a request above its limit", sub("base/roles/ticket.yaml", r'cpu: "1"', 'cpu: "3"')),
    ("prod", "security", "a writable root filesystem", sub("base/pod-defaults.yaml", r"readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")),
    ("prod", "security", "privilege escalation allowed in the Job", sub("base/migrate-job.yaml", r"allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true")),
    ("prod", "security", "capabilities not dropped", sub("base/pod-defaults.yaml", r'drop: \["ALL"\]', 'drop: ["NET_RAW"]')),
    ("prod", "security", "seccomp Unconfined", sub("base/pod-defaults.yaml", r"type: RuntimeDefault", "type: Unconfined", count=0)),
    ("prod", "security", "runAsNonRoot dropped", sub("base/pod-defaults.yaml", r"runAsNonRoot: true", "runAsNonRoot: false", count=0)),
    ("prod", "termination", "grace shorter than preStop + shutdown grace", sub("base/roles/payment.yaml", r"terminationGracePeriodSeconds: 75", "terminationGracePeriodSeconds: 25")),
    ("prod", "termination", "shutdown grace raised past the pods' grace", sub("base/config.env", r"TIKETI_SHUTDOWN_GRACE_SECS=20", "TIKETI_SHUTDOWN_GRACE_SECS=40")),
    ("prod", "termination", "no preStop", sub("base/pod-defaults.yaml", r"^            preStop:\n(.*\n){2}", "")),
    ("prod", "topology", "maxSkew 2 over zones", sub("base/roles/realtime.yaml", r"maxSkew: 1", "maxSkew: 2")),
    ("prod", "topology", "no hostname spread", sub("base/roles/auth.yaml", r"topologyKey: kubernetes.io/hostname", "topologyKey: kubernetes.io/os")),
    ("prod", "config", "TIKETI_SECRETS=local", sub("base/config.env", r"TIKETI_SECRETS=aws", "TIKETI_SECRETS=local")),
    ("prod", "config", "internal URL not at a Service", sub("base/config.env", r"TIKETI_INTERNAL_URL=.*", "TIKETI_INTERNAL_URL=http://127.0.0.1:8080/")),
    ("prod", "config", "JWKS at the wrong role", sub("base/config.env", r"http://auth\.", "http://ticket.")),
    ("prod", "config", "stats builds reports in the cloud", sub("base/config.env", r"TIKETI_STATS_BUILD_REPORTS=false", "TIKETI_STATS_BUILD_REPORTS=true")),
    ("prod", "config", "a secret in the ConfigMap", append("base/config.env", "TIKETI_TOSS_SECRET_KEY=live_sk_x\n")),
    ("prod", "config", "database URL not from the Secret", sub("base/pod-defaults.yaml", r"name: tiketi-connections\n(\s+key: TIKETI_DATABASE_URL)", r"name: other-secret\n\1")),
    ("prod", "no_secrets", "a Secret object in Git", append("base/migrate-job.yaml", SECRET)),
    ("prod", "no_secrets", "a literal Redis URL", sub("base/roles/worker.yaml", r'(args: \["serve", "--role", "worker"\]\n)', r'\1          env:\n            - name: TIKETI_REDIS_URL\n              value: redis://cache:6379\n')),
    ("prod", "serviceaccounts", "the IRSA placeholder survives", sub("overlays/prod/kustomization.yaml", r"^  - path: irsa.yaml\n", "")),
    ("staging", "serviceaccounts", "one role's ARN left as the placeholder", sub("overlays/staging/irsa.yaml", r"arn:aws:iam::123456789012:role/tiketi-staging-stats", "PLACEHOLDER")),
    ("prod", "serviceaccounts", "two roles sharing an IAM role", sub("overlays/prod/irsa.yaml", r"tiketi-prod-worker", "tiketi-prod-payment")),
    ("prod", "serviceaccounts", "serviceAccountName not rendered", sub("base/roles/ticket.yaml", r"serviceAccountName: ticket", "serviceAccountName: tickets")),
    ("prod", "services_pdbs", "no Service for stats", sub("base/roles/stats.yaml", r"^---\n# Operators'.*\n(.*\n){15}", "")),
    ("dev", "services_pdbs", "minAvailable 1 at one replica", sub("base/roles/auth.yaml", r"maxUnavailable: 1\n  selector", "minAvailable: 1\n  selector")),
    ("prod", "services_pdbs", "no PDB for the worker", sub("base/roles/worker.yaml", r"^---\n# at most one worker(.*\n)+", "")),
    ("prod", "networkpolicies", "no default deny", sub("base/networkpolicies.yaml", r"podSelector: \{\}", "podSelector: {matchLabels: {x: y}}")),
    ("prod", "networkpolicies", "the gateway namespace wrong", sub("base/networkpolicies.yaml", r"name: istio-ingress", "name: istio-system")),
    ("prod", "networkpolicies", "Prometheus cannot scrape the worker", sub("base/networkpolicies.yaml", r"(name: allow-prometheus-scrape\nspec:\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/)part-of", r"\1component: auth\n      x")),
    ("prod", "networkpolicies", "any port open between roles", sub("base/networkpolicies.yaml", r"(matchLabels:\n              app.kubernetes.io/part-of: tiketi\n)      ports:\n        - port: 8080\n          protocol: TCP\n", r"\1")),
    ("prod", "migration", "not a PreSync hook", sub("base/migrate-job.yaml", r"hook: PreSync", "hook: Sync")),
    ("prod", "migration", "another delete policy", sub("base/migrate-job.yaml", r"hook-delete-policy: BeforeHookCreation", "hook-delete-policy: HookSucceeded")),
    ("prod", "migration", "no deadline", sub("base/migrate-job.yaml", r"^  activeDeadlineSeconds: 600\n", "")),
    ("prod", "migration", "the Job needs the generated ConfigMap", sub("base/migrate-job.yaml", r"(          args: \[\"migrate\"\]\n)", r"\1          envFrom:\n            - configMapRef:\n                name: tiketi-config\n")),
    ("prod", "migration", "the Job runs serve", sub("base/migrate-job.yaml", r'args: \["migrate"\]', 'args: ["serve"]')),
    ("prod", "replicas", "prod auth at 2", sub("overlays/prod/kustomization.yaml", r"name: auth\n    count: 3", "name: auth\n    count: 2")),
    # autoscaling (KEDA) and VPA
    ("prod", "replicas", "a KEDA-scaled Deployment given fixed replicas again", sub("overlays/prod/kustomization.yaml", r"^replicas:\n", "replicas:\n  - name: ticket\n    count: 6\n")),
    ("prod", "replicas", "the prod ticket floor below the fixed count", sub("base/autoscaling/overlays/prod/kustomization.yaml", r"value: 6\n", "value: 5\n")),
    ("prod", "autoscaling", "a second ScaledObject on the worker", sub("base/autoscaling/keda.yaml", r"apiVersion: argoproj.io/v1alpha1\n    kind: Rollout\n    name: realtime", "apiVersion: apps/v1\n    kind: Deployment\n    name: worker")),
    ("prod", "autoscaling", "no ScaledObject for realtime", sub("base/autoscaling/keda.yaml", r"^---\n# realtime: open WebSockets(.*\n)+", "")),
    ("prod", "autoscaling", "a ScaledObject targeting a missing workload", sub("base/autoscaling/keda.yaml", r"kind: Rollout\n    name: ticket", "kind: Rollout\n    name: tickets")),
    ("prod", "autoscaling", "queueLength an integer", sub("base/autoscaling/keda.yaml", r'queueLength: "100"', "queueLength: 100")),
    ("prod", "autoscaling", "another queueLength", sub("base/autoscaling/keda.yaml", r'queueLength: "100"', 'queueLength: "500"')),
    ("staging", "autoscaling", "a queue name left as the placeholder", sub("base/autoscaling/overlays/staging/kustomization.yaml", r"^      - op: replace\n        path: /spec/triggers/1/metadata/queueURL\n.*\n", "")),
    ("prod", "autoscaling", "the worker reading another environment's queue", sub("base/autoscaling/overlays/prod/kustomization.yaml", r"tiketi-prod-worker-events", "tiketi-staging-worker-events")),
    ("prod", "autoscaling", "the SQS trigger in another region", sub("base/autoscaling/keda.yaml", r"awsRegion: ap-northeast-2", "awsRegion: us-east-1")),
    ("prod", "autoscaling", "KEDA assuming the worker's own role", sub("base/autoscaling/keda.yaml", r"identityOwner: keda", "identityOwner: workload")),
    ("prod", "autoscaling", "ticket on sum() over pods (counts each waiter once per replica)", sub("base/autoscaling/keda.yaml", r"query: sum\(max by \(event\) \((.*)\)\)$", r"query: sum(\1)")),
    ("prod", "autoscaling", "a realtime threshold other than documented", sub("base/autoscaling/keda.yaml", r'threshold: "15000"', 'threshold: "30000"')),
    ("prod", "autoscaling", "the realtime cap changed under the argued threshold", sub("base/roles/realtime.yaml", r'value: "25000"', 'value: "12000"')),
    ("prod", "autoscaling", "prod ceiling changed", sub("base/autoscaling/overlays/prod/kustomization.yaml", r"value: 18\n", "value: 30\n")),
    ("prod", "autoscaling", "pollingInterval 30 s (decision after 55 s)", sub("base/autoscaling/keda.yaml", r"pollingInterval: 5", "pollingInterval: 30")),
    ("prod", "autoscaling", "a 60 s scale-up stabilization window", sub("base/autoscaling/keda.yaml", r"stabilizationWindowSeconds: 0", "stabilizationWindowSeconds: 60", count=0)),
    ("prod", "autoscaling", "scale-up selectPolicy Min", sub("base/autoscaling/keda.yaml", r"selectPolicy: Max", "selectPolicy: Min")),
    ("prod", "autoscaling", "scale-up policies only +1 pod per 60 s", sub("base/autoscaling/keda.yaml", r"- type: Percent\n              value: 100\n              periodSeconds: 15\n            - type: Pods\n              value: 4\n              periodSeconds: 15", "- type: Pods\n              value: 1\n              periodSeconds: 60")),
    ("prod", "autoscaling", "scale-down stabilization 60 s", sub("base/autoscaling/keda.yaml", r"stabilizationWindowSeconds: 300", "stabilizationWindowSeconds: 60")),
    ("prod", "vpa", "updateMode Auto", sub("base/autoscaling/vpa.yaml", r'updateMode: "Off"', 'updateMode: "Auto"')),
    ("prod", "vpa", "updateMode misspelt (no mode: the default is Auto)", sub("base/autoscaling/vpa.yaml", r'updateMode: "Off"', 'updateMod: "Off"')),
    ("prod", "vpa", "no VPA for stats", sub("base/autoscaling/vpa.yaml", r"^---\napiVersion: autoscaling.k8s.io/v1\nkind: VerticalPodAutoscaler\nmetadata:\n  name: stats\n(.*\n)*?(?=---)", "")),
    ("prod", "vpa", "maxAllowed below the limit", sub("base/autoscaling/vpa.yaml", r'maxAllowed:\n          cpu: "4"', 'maxAllowed:\n          cpu: "1"')),
    ("staging", "vpa", "minAllowed above the request", sub("base/autoscaling/vpa.yaml", r"minAllowed:\n          cpu: 125m", "minAllowed:\n          cpu: 500m")),
    # Istio (k8s/base/mesh)
    ("prod", "mesh_mtls", "mTLS PERMISSIVE", sub("base/mesh/peerauthentication.yaml", r"mode: STRICT", "mode: PERMISSIVE")),
    ("prod", "mesh_mtls", "no PeerAuthentication", sub("base/mesh/kustomization.yaml", r"^  - peerauthentication.yaml\n", "")),
    ("prod", "mesh_mtls", "port 8080 of payment PERMISSIVE", append("base/mesh/peerauthentication.yaml", PA_PORT_PERMISSIVE)),
    ("prod", "mesh_mtls", "injection not enabled on the namespace", sub("base/mesh/kustomization.yaml", r"istio-injection: enabled", "istio-injection: disabled")),
    ("prod", "mesh_mtls", "the migration Job injected", sub("base/mesh/kustomization.yaml", r'sidecar.istio.io/inject: "false"', 'sidecar.istio.io/inject: "true"', count=0)),
    ("prod", "mesh_mtls", "a role opting out of its sidecar", sub("base/roles/payment.yaml", r"(  template:\n    metadata:\n      labels:\n)", r'\1        sidecar.istio.io/inject: "false"\n')),
    ("prod", "destinationrules", "ticket's TLS mode DISABLE", sub("base/mesh/destinationrules.yaml", r"(name: ticket\n(?:.*\n)*?      mode: )ISTIO_MUTUAL", r"\1DISABLE")),
    ("prod", "destinationrules", "maxEjectionPercent 100", sub("base/mesh/destinationrules.yaml", r"maxEjectionPercent: 50", "maxEjectionPercent: 100")),
    ("prod", "destinationrules", "maxEjectionPercent misspelt (the CRD schema accepts it; the API server would drop it)", sub("base/mesh/destinationrules.yaml", r"maxEjectionPercent: 50", "maxEjectPercent: 50")),
    ("prod", "destinationrules", "no outlier detection on stats", sub("base/mesh/destinationrules.yaml", r"(name: stats\n(?:.*\n)*?)    outlierDetection:\n(?:.*\n){4}", r"\1")),
    ("prod", "destinationrules", "no connection pool on payment", sub("base/mesh/destinationrules.yaml", r"(name: payment\n(?:.*\n)*?)    connectionPool:\n(?:.*\n){7}", r"\1")),
    ("prod", "destinationrules", "maxRequestsPerConnection on realtime", sub("base/mesh/destinationrules.yaml", r"(        http2MaxRequests: 100000\n)", r"\1        maxRequestsPerConnection: 1\n")),
    ("prod", "destinationrules", "a DestinationRule for a Service that does not exist", sub("base/mesh/destinationrules.yaml", r"host: stats\.", "host: statistics.")),
    ("prod", "gateway", "port 80 not redirecting", sub("base/mesh/gateway/gateway.yaml", r"httpsRedirect: true", "httpsRedirect: false")),
    ("prod", "gateway", "no credentialName on 443", sub("base/mesh/gateway/gateway.yaml", r"^        credentialName: .*\n", "")),
    ("prod", "gateway", "a certificate file instead of a Secret", sub("base/mesh/gateway/gateway.yaml", r"credentialName: .*\n", "serverCertificate: /etc/certs/tls.crt\n        privateKey: /etc/certs/tls.key\n")),
    ("staging", "gateway", "staging serving prod's host", sub("base/mesh/overlays/staging/kustomization.yaml", r"staging\.tiketi\.example", "tiketi.example", count=0)),
    ("prod", "gateway", "443 limited to the public host (the ALB sends no SNI)", sub("base/mesh/gateway/gateway.yaml", r'hosts:\n        - "\*"', "hosts:\n        - tiketi.example")),
    ("prod", "gateway", "the Gateway in the wrong namespace", sub("base/mesh/gateway/gateway.yaml", r"namespace: istio-ingress", "namespace: istio-system")),
    ("prod", "routes", "the /internal/ 404 route removed (the catch-all would forward it)", sub("base/mesh/virtualservice.yaml", r"^  - name: internal-not-public\n(?:    .*\n)+", "")),
    ("prod", "routes", "/internal/ forwarded to ticket", sub("base/mesh/virtualservice.yaml", r"    directResponse:\n      status: 404\n", "    route:\n    - destination:\n        host: ticket\n")),
    ("prod", "routes", "a POST route without retries (Istio's default retries it)", sub("base/mesh/virtualservice.yaml", r"(  - name: payment\n(?:    .*\n)*?)    retries:\n      attempts: 0\n", r"\1")),
    ("prod", "routes", "a POST route retried", sub("base/mesh/virtualservice.yaml", r"(  - name: ticket\n(?:    .*\n)*?    retries:\n      attempts: )0", r"\g<1>2")),
    ("prod", "routes", "GETs retried on 5xx", sub("base/mesh/virtualservice.yaml", r"retryOn: connect-failure,refused-stream,unavailable", "retryOn: 5xx,connect-failure")),
    ("prod", "routes", "the method match dropped from a retried route", sub("base/mesh/virtualservice.yaml", r"      method:\n        exact: GET\n", "")),
    ("prod", "routes", "payments routed to ticket", sub("base/mesh/virtualservice.yaml", r"(  - name: payment-get\n(?:    .*\n)*?        host: )payment", r"\1ticket")),
    ("prod", "routes", "/api/admin/reports not routed to stats", sub("base/mesh/virtualservice.yaml", r"prefix: /api/admin/reports", "prefix: /api/admin/report-files", count=0)),
    ("prod", "routes", "no route for /ws", sub("base/mesh/virtualservice.yaml", r"^  - name: realtime-ws\n(?:    .*\n)+", "")),
    ("prod", "routes", "a 10 s timeout on /ws", sub("base/mesh/virtualservice.yaml", r"(  - name: realtime-ws\n(?:    .*\n)*?)(    retries:)", r"\1    timeout: 10s\n\2")),
    ("prod", "routes", "a route without a timeout", sub("base/mesh/virtualservice.yaml", r"^    timeout: 10s\n", "")),
    ("prod", "routes", "payments timing out before a Toss confirm can finish", sub("base/mesh/virtualservice.yaml", r"timeout: 50s", "timeout: 10s", count=0)),
    ("prod", "routes", "the web app routed to a Service that does not exist", sub("base/mesh/virtualservice.yaml", r"(  - name: web\n(?:    .*\n)*?        host: )ticket", r"\1web")),
    ("prod", "routes", "a second VirtualService on the gateway", append("base/mesh/virtualservice.yaml", VS_SECOND)),
    # Argo Rollouts: the Kustomize plumbing, the strategies, the analysis
    ("prod", "deployments", "ticket back to a plain Deployment", sub("base/roles/ticket.yaml", r"apiVersion: argoproj.io/v1alpha1\nkind: Rollout", "apiVersion: apps/v1\nkind: Deployment")),
    ("prod", "deployments", "no merge keys for pod templates (the patch's containers replace the roles')", sub("base/kustomization.yaml", r"^openapi:\n  path: kustomize/openapi.json\n", "")),
    ("prod", "labels", "Rollouts left out of the common-labels transformer", sub("base/kustomize/rollouts.yaml", r"^commonLabels:\n(?:  .*\n)+", "")),
    ("prod", "config", "the ConfigMap's hashed name not written into Rollouts", sub("base/kustomize/rollouts.yaml", r"^  - kind: ConfigMap\n(?:    .*\n)+", "")),
    ("prod", "topology", "a Rollout spreading by pod-template-hash (its pods carry rollouts-pod-template-hash)", sub("base/roles/ticket.yaml", r'matchLabelKeys: \["rollouts-pod-template-hash"\]', 'matchLabelKeys: ["pod-template-hash"]')),
    ("prod", "rollouts", "no analysis step after the first shift", sub("base/roles/ticket.yaml", r"^        - analysis:\n(?:          .*\n)+", "")),
    ("prod", "rollouts", "a pause without a duration (waits for a person)", sub("base/roles/payment.yaml", r"pause:\n            duration: 30s", "pause: {}")),
    ("prod", "rollouts", "pauses that break the 5-minute budget", sub("base/roles/ticket.yaml", r"duration: 30s", "duration: 3m", count=0)),
    ("prod", "rollouts", "the steps never reaching 100 %", sub("base/roles/ticket.yaml", r"^        - setWeight: 100\n", "")),
    ("prod", "rollouts", "a public route to ticket the Rollout does not shift", sub("base/roles/ticket.yaml", r"^                - web\n", "")),
    ("prod", "rollouts", "a canary route name that does not exist", sub("base/roles/ticket.yaml", r"- ticket-admin-get\n", "- ticket-admin-gets\n")),
    ("prod", "rollouts", "a canary subset the DestinationRule lacks", sub("base/roles/payment.yaml", r"canarySubsetName: canary", "canarySubsetName: preview")),
    ("prod", "rollouts", "calls from other roles not shifted (no mesh VirtualService in the Rollout)", sub("base/roles/payment.yaml", r"^            - name: payment-mesh\n              routes:\n                - primary\n", "")),
    ("prod", "rollouts", "a mesh route retrying POSTs", sub("base/mesh/virtualservices-mesh.yaml", r"attempts: 0", "attempts: 2")),
    ("prod", "rollouts", "the canary subset given traffic in Git", sub("base/mesh/virtualservice.yaml", r"weight: 0", "weight: 100")),
    ("prod", "rollouts", "a background template that is not rendered", sub("base/roles/ticket.yaml", r"templateName: canary-background", "templateName: canary-bg")),
    ("prod", "rollouts", "a background template that stops after a few measurements", sub("base/analysistemplates.yaml", r"(name: canary-background\n(?:.*\n)*?      interval: 30s\n)", r"\1      count: 3\n")),
    ("prod", "rollouts", "the analysis measuring the stable revision", sub("base/roles/ticket.yaml", r"podTemplateHashValue: Latest", "podTemplateHashValue: Stable")),
    ("prod", "rollouts", "stuck new pods never abort", sub("base/roles/payment.yaml", r"progressDeadlineAbort: true", "progressDeadlineAbort: false")),
    ("prod", "rollouts", "no preview Service for realtime", sub("base/roles/realtime.yaml", r"^---\n# The new revision's pods before promotion(.*\n)+?(?=---)", "")),
    ("prod", "rollouts", "/ws routed to the preview Service", sub("base/mesh/virtualservice.yaml", r"host: realtime\.", "host: realtime-preview.")),
    ("prod", "rollouts", "realtime promoted by hand only", sub("base/roles/realtime.yaml", r"autoPromotionEnabled: true", "autoPromotionEnabled: false")),
    ("prod", "rollouts", "realtime without prePromotionAnalysis", sub("base/roles/realtime.yaml", r"^      prePromotionAnalysis:\n(?:        .*\n)+", "")),
    ("prod", "rollouts", "old realtime pods cut sockets 5 s after the switch", sub("base/roles/realtime.yaml", r"scaleDownDelaySeconds: 60", "scaleDownDelaySeconds: 5")),
    ("prod", "analysis", "an empty result passing as success", sub("base/analysistemplates.yaml", r"successCondition: len\(result\) > 0 && !isNaN\(result\[0\]\) && result\[0\] <= 0.01", "successCondition: len(result) == 0 || result[0] <= 0.01")),
    ("prod", "analysis", "no failureCondition (no data fails the canary)", sub("base/analysistemplates.yaml", r"^      failureCondition: .*\n", "")),
    ("prod", "analysis", "a revision without 5xx reads as no data (no `or vector(0)`)", sub("base/analysistemplates.yaml", r" or vector\(0\)\)", ")")),
    ("prod", "analysis", "probe and scrape requests counted", sub("base/analysistemplates.yaml", r'route!~"/healthz\|/readyz\|/metrics", ', "", count=0)),
    ("prod", "analysis", "the query not selecting the new revision", sub("base/analysistemplates.yaml", r', rollouts_pod_template_hash="\{\{args.canary-hash\}\}"', "", count=0)),
    ("prod", "analysis", "a 5 % error share tolerated", sub("base/analysistemplates.yaml", r"0\.01", "0.05", count=0)),
    ("prod", "analysis", "a gate passing on one measurement of three", sub("base/analysistemplates.yaml", r"inconclusiveLimit: 1", "inconclusiveLimit: 2")),
    ("prod", "analysis", "no p95 in the gate", sub("base/analysistemplates.yaml", r"(name: canary-gate\n(?:.*\n)*?)    - name: p95-latency\n(?:      .*\n)+?(?=---)", r"\1")),
    ("prod", "analysis", "a query that does not parse (promtool)", sub("base/analysistemplates.yaml", r"histogram_quantile\(0.95, sum by \(le\)", "histogram_quantile(0.95, sum by (le")),
    ("prod", "analysis", "an undeclared argument", sub("base/analysistemplates.yaml", r'role="\{\{args.role\}\}"', 'role="{{args.rol}}"')),
    # KEDA fallback and Rollout targets
    ("prod", "autoscaling", "no fallback on the worker", sub("base/autoscaling/overlays/prod/kustomization.yaml", r"      - op: replace\n        path: /spec/fallback/replicas\n        value: 6\n", "      - op: remove\n        path: /spec/fallback\n")),
    ("prod", "autoscaling", "a trigger without an explicit AverageValue (fallback ignored)", sub("base/autoscaling/keda.yaml", r"^      metricType: AverageValue\n", "")),
    ("prod", "autoscaling", "a static fallback (scales a running sale down)", sub("base/autoscaling/keda.yaml", r"behavior: currentReplicasIfHigher", "behavior: static")),
    ("prod", "autoscaling", "prod fallback replicas other than documented", sub("base/autoscaling/overlays/prod/kustomization.yaml", r"value: 12\n", "value: 30\n")),
    ("prod", "autoscaling", "ticket's ScaledObject targeting a Deployment (KEDA's default kind)", sub("base/autoscaling/keda.yaml", r"    apiVersion: argoproj.io/v1alpha1\n    kind: Rollout\n    name: ticket", "    name: ticket")),
    ("prod", "vpa", "a VPA targeting ticket as a Deployment", sub("base/autoscaling/vpa.yaml", r"apiVersion: argoproj.io/v1alpha1\n    kind: Rollout\n    name: ticket", "apiVersion: apps/v1\n    kind: Deployment\n    name: ticket")),
    # Istio AuthorizationPolicies
    ("prod", "authz", "no allow-nothing (unlisted callers pass)", sub("base/mesh/authorizationpolicies.yaml", r"^apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: allow-nothing\nspec: \{\}\n", "")),
    ("prod", "authz", "/internal reachable from the gateway", sub("base/mesh/authorizationpolicies.yaml", r'notPaths: \["/internal", "/internal/\*", "/metrics"\]', 'notPaths: ["/internal", "/metrics"]')),
    ("prod", "authz", "the worker allowed payment's internal routes", sub("base/mesh/authorizationpolicies.yaml", r'(              - cluster.local/ns/tiketi/sa/ticket\n      to:\n        - operation:\n            paths: \["/internal/payment/\*"\])', r"              - cluster.local/ns/tiketi/sa/worker\n\1")),
    ("prod", "authz", "a caller named by namespace, not identity", sub("base/mesh/authorizationpolicies.yaml", r'principals:\n              - cluster.local/ns/tiketi/sa/ticket\n(      to:\n        - operation:\n            paths: \["/internal/payment/\*"\])', r"namespaces:\n              - tiketi\n\1")),
    ("prod", "authz", "a wildcard principal", sub("base/mesh/authorizationpolicies.yaml", r"- cluster.local/ns/tiketi/sa/worker\n      to:", '- "*"\n      to:')),
    ("prod", "authz", "the ingress gateway's identity misspelt", sub("base/mesh/authorizationpolicies.yaml", r"sa/istio-ingressgateway", "sa/istio-ingress", count=0)),
    ("prod", "authz", "stats without a policy of its own", sub("base/mesh/authorizationpolicies.yaml", r"^---\n# stats:(.*\n)+?(?=---)", "")),
    ("prod", "authz", "a rule without callers (any mesh identity)", sub("base/mesh/authorizationpolicies.yaml", r"(# worker: .*\n(?:.*\n)*?  rules:\n(?:    #.*\n)*)    - from:\n        - source:\n            principals:\n              - .*\n      to:", r"\1    - to:")),
    ("prod", "authz", "Prometheus allowed but blocked by the NetworkPolicies", sub("base/networkpolicies.yaml", r"kubernetes.io/metadata.name: monitoring", "kubernetes.io/metadata.name: prometheus")),
    # mesh tracing
    ("prod", "tracing", "prod sampling every request", sub("base/mesh/overlays/prod/kustomization.yaml", r"randomSamplingPercentage\n        value: 1\n", "randomSamplingPercentage\n        value: 100\n")),
    ("prod", "tracing", "the application's sampler ratio differs from the mesh's", sub("overlays/prod/kustomization.yaml", r"OTEL_TRACES_SAMPLER_ARG=0.01", "OTEL_TRACES_SAMPLER_ARG=0.5")),
    ("prod", "tracing", "the OTLP/HTTP exporter at the gRPC port", sub("base/config.env", r":4318$", ":4317")),
    ("prod", "tracing", "another tracing provider", sub("base/mesh/telemetry.yaml", r"name: otel-tracing", "name: zipkin")),
    ("prod", "tracing", "egress restricted without the collector", append("base/networkpolicies.yaml", NP_EGRESS_DNS_ONLY)),
]

# Cases for check_crds.mjs (the CRD schemas of the npm @kubernetes-models packages): (overlay, what is
# broken, mutation).
# Run when node and tools/infra-check/node_modules (npm ci) are present; skipped, and said so, otherwise.
CRD_CASES = [
    ("prod", "queueLength an integer", sub("base/autoscaling/keda.yaml", r'queueLength: "100"', "queueLength: 100")),
    ("prod", "minReplicaCount a string", sub("base/autoscaling/overlays/prod/kustomization.yaml", r"value: 6\n", 'value: "6"\n')),
    ("prod", "an unknown podIdentity provider", sub("base/autoscaling/keda.yaml", r"provider: aws", "provider: aws-irsa")),
    ("prod", "a VPA updateMode that does not exist", sub("base/autoscaling/vpa.yaml", r'updateMode: "Off"', 'updateMode: "Of"')),
    ("prod", "a VPA controlledValues that does not exist", sub("base/autoscaling/vpa.yaml", r"controlledValues: RequestsOnly", "controlledValues: Requests")),
    ("dev", "a KEDA kind no schema knows", append("base/autoscaling/keda.yaml", "---\napiVersion: keda.sh/v1alpha1\nkind: ScaledThing\nmetadata:\n  name: x\n")),
    ("prod", "an mTLS mode that does not exist", sub("base/mesh/peerauthentication.yaml", r"mode: STRICT", "mode: STRICTEST")),
    ("prod", "a DestinationRule TLS mode that does not exist", sub("base/mesh/destinationrules.yaml", r"mode: ISTIO_MUTUAL", "mode: MUTUAL_ISTIO")),
    ("prod", "http2MaxRequests a string", sub("base/mesh/destinationrules.yaml", r"http2MaxRequests: 500", 'http2MaxRequests: "500"')),
    ("prod", "retries attempts a string", sub("base/mesh/virtualservice.yaml", r"^      attempts: 0", '      attempts: "0"')),
    ("prod", "a Gateway TLS mode that does not exist", sub("base/mesh/gateway/gateway.yaml", r"mode: SIMPLE", "mode: SIMPL")),
    ("prod", "a PeerAuthentication in an API version no schema knows", sub("base/mesh/peerauthentication.yaml", r"security.istio.io/v1\n", "security.istio.io/v2\n")),
    ("prod", "a Rollout weight as a string", sub("base/roles/ticket.yaml", r"setWeight: 25", 'setWeight: "25"')),
    ("prod", "a blue/green scaleDownDelaySeconds as a string", sub("base/roles/realtime.yaml", r"scaleDownDelaySeconds: 60", 'scaleDownDelaySeconds: "60"')),
    ("prod", "an analysis initialDelay as a number", sub("base/analysistemplates.yaml", r"initialDelay: 30s", "initialDelay: 30")),
    ("prod", "an AuthorizationPolicy action that does not exist", sub("base/mesh/authorizationpolicies.yaml", r"action: ALLOW", "action: PERMIT")),
    ("prod", "a tracing sampling percentage as a string", sub("base/mesh/overlays/prod/kustomization.yaml", r"randomSamplingPercentage\n        value: 1\n", 'randomSamplingPercentage\n        value: "1"\n')),
    ("dev", "an argoproj.io kind no schema knows", append("base/analysistemplates.yaml", "---\napiVersion: argoproj.io/v1alpha1\nkind: RolloutPlan\nmetadata:\n  name: x\n")),
    ("prod", "a KEDA fallback without replicas", sub("base/autoscaling/overlays/prod/kustomization.yaml", r"      - op: replace\n        path: /spec/fallback/replicas\n        value: 12\n", "      - op: remove\n        path: /spec/fallback/replicas\n")),
]
CRD_CHECK = HERE / "check_crds.mjs"


def run(root: Path, overlay: str, crd: bool = False) -> tuple[int, str]:
    cmd = ["node", str(CRD_CHECK)] if crd else [sys.executable, str(CHECK)]
    p = subprocess.run(cmd + ["--root", str(root), overlay], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def main() -> int:
    words = sys.argv[1:]
    wanted = lambda *text: not words or any(w in " ".join(text) for w in words)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # The unbroken copy must pass, or every case below would "fail" for the wrong reason.
        shutil.copytree(ROOT / "k8s", root / "k8s")
        for overlay in ("dev", "staging", "prod"):
            rc, out = run(root, overlay)
            ok = rc == 0 and out.strip().endswith(" 0 failed")
            print(f"{'ok  ' if ok else 'FAIL'} unbroken {overlay} passes")
            passed, failed = passed + ok, failed + (not ok)
        for overlay, group, what, mutate in CASES:
            if not wanted(group, what):
                continue
            shutil.rmtree(root / "k8s")
            shutil.copytree(ROOT / "k8s", root / "k8s")
            try:
                mutate(root / "k8s")
            except AssertionError as e:
                print(f"FAIL {group}: {what}: {e}")
                failed += 1
                continue
            rc, out = run(root, overlay)
            failing = set(re.findall(r"^FAIL \w+: (\w+):", out, re.MULTILINE))
            ok = rc != 0 and group in failing
            detail = "" if ok else f" (exit {rc}; failing groups {sorted(failing) or 'none'})"
            print(f"{'ok  ' if ok else 'FAIL'} {group}: caught {what}{detail}")
            passed, failed = passed + ok, failed + (not ok)
        if shutil.which("node") is None or not (HERE / "node_modules").is_dir():
            print("FAIL crd_schema: node or tools/infra-check/node_modules missing (cd tools/infra-check && npm ci)")
            failed += 1
        else:
            shutil.rmtree(root / "k8s")
            shutil.copytree(ROOT / "k8s", root / "k8s")
            for overlay in ("dev", "staging", "prod"):
                rc, out = run(root, overlay, crd=True)
                ok = rc == 0 and out.strip().endswith(" 0 failed")
                print(f"{'ok  ' if ok else 'FAIL'} unbroken {overlay} passes check_crds.mjs")
                passed, failed = passed + ok, failed + (not ok)
            for overlay, what, mutate in CRD_CASES:
                if not wanted("crd_schema", what):
                    continue
                shutil.rmtree(root / "k8s")
                shutil.copytree(ROOT / "k8s", root / "k8s")
                try:
                    mutate(root / "k8s")
                except AssertionError as e:
                    print(f"FAIL crd_schema: {what}: {e}")
                    failed += 1
                    continue
                rc, out = run(root, overlay, crd=True)
                ok = rc != 0 and re.search(r"^FAIL \w+: crd_schema:", out, re.MULTILINE) is not None
                print(f"{'ok  ' if ok else 'FAIL'} crd_schema: caught {what}{'' if ok else f' (exit {rc})'}")
                passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
