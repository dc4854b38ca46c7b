#!/usr/bin/env node
// Offline schema validation of the custom resources in Tiketi's manifests against the CRD schemas
// shipped in the npm @kubernetes-models/* packages (pinned in package.json): KEDA, VPA, Istio
// (networking, security, telemetry), Argo Rollouts and Argo CD (argoproj.io), Prometheus Operator
// (monitoring.coreos.com). check_k8s.py validates the core kinds and asserts the policies; this
// validates what kubernetes-validate has no schema for.
//
//   cd tools/infra-check && npm ci && node check_crds.mjs [--root DIR] [overlay ...]
//   node check_crds.mjs --dir PATH          every YAML document in the files under PATH (recursively)
//   node check_crds.mjs --kustomize PATH    `kubectl kustomize PATH`, then every document
//
// Without arguments: the three overlays, each with the expected count of every kind. A document of a
// known CRD group whose version or kind has no schema here fails; so does a --dir or --kustomize
// target without a single custom resource (nothing validated must not pass silently).
// Prints one line per target and kind, then `N passed, M failed`; exits 1 on any failure.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import * as keda from "@kubernetes-models/keda/keda.sh/v1alpha1";
import * as vpa from "@kubernetes-models/autoscaler/autoscaling.k8s.io/v1";
import * as istioNetworking from "@kubernetes-models/istio/networking.istio.io/v1";
import * as istioSecurity from "@kubernetes-models/istio/security.istio.io/v1";
import * as istioTelemetry from "@kubernetes-models/istio/telemetry.istio.io/v1";
import * as rollouts from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1";
import * as argocd from "@kubernetes-models/argo-cd/argoproj.io/v1alpha1";
import * as prometheus from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const pick = (mod, kinds) => Object.fromEntries(kinds.map((k) => [k, mod[k]]));
const MODELS = {
  "keda.sh/v1alpha1": pick(keda, ["ScaledObject", "ScaledJob", "TriggerAuthentication", "ClusterTriggerAuthentication"]),
  "autoscaling.k8s.io/v1": pick(vpa, ["VerticalPodAutoscaler", "VerticalPodAutoscalerCheckpoint"]),
  "networking.istio.io/v1": istioNetworking,
  "security.istio.io/v1": istioSecurity,
  "telemetry.istio.io/v1": pick(istioTelemetry, ["Telemetry"]),
  // Argo Rollouts and Argo CD share argoproj.io/v1alpha1: each kind from its own package.
  "argoproj.io/v1alpha1": {
    ...pick(rollouts, ["Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun", "Experiment"]),
    ...pick(argocd, ["Application", "AppProject", "ApplicationSet"]),
  },
  "monitoring.coreos.com/v1": pick(prometheus, ["ServiceMonitor", "PodMonitor", "PrometheusRule", "Probe"]),
};
// Groups whose documents must all be validated here (a version or kind without a model fails).
const GROUPS = new Set([
  "keda.sh", "autoscaling.k8s.io", "networking.istio.io", "security.istio.io", "telemetry.istio.io",
  "argoproj.io", "monitoring.coreos.com",
]);
// Kinds each overlay must contain (an empty render of them must not pass silently).
const EXPECTED = {
  ScaledObject: 3,
  TriggerAuthentication: 1,
  VerticalPodAutoscaler: 6,
  PeerAuthentication: 1,
  AuthorizationPolicy: 7,
  DestinationRule: 5,
  VirtualService: 3,
  Gateway: 1,
  Telemetry: 1,
  Rollout: 3,
  AnalysisTemplate: 3,
};

const args = process.argv.slice(2);
let root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const targets = []; // { label, load: () => { docs, error }, expected }
const overlays = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--root") root = resolve(args[++i]);
  else if (args[i] === "--dir") {
    const dir = resolve(args[++i]);
    targets.push({ label: relative(process.cwd(), dir) || ".", load: () => loadDir(dir), expected: null });
  } else if (args[i] === "--kustomize") {
    const dir = resolve(args[++i]);
    targets.push({ label: relative(process.cwd(), dir) || ".", load: () => render(dir), expected: null });
  } else overlays.push(args[i]);
}
if (overlays.length === 0 && targets.length === 0) overlays.push("dev", "staging", "prod");
targets.unshift(
  ...overlays.map((overlay) => ({
    label: overlay,
    load: () => render(join(root, "k8s", "overlays", overlay)),
    expected: EXPECTED,
  })),
);

function render(dir) {
  const r = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    return { error: r.error ? "kubectl not found on PATH (v1.32 needed)" : r.stderr.trim() };
  }
  return parse(r.stdout, dir);
}

function yamlFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir).sort()) {
    if (entry === "node_modules" || entry.startsWith(".")) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(entry)) out.push(path);
  }
  return out;
}

function loadDir(dir) {
  let files;
  try {
    files = yamlFiles(dir);
  } catch (e) {
    return { error: e.message };
  }
  const docs = [];
  for (const f of files) {
    const r = parse(readFileSync(f, "utf8"), relative(dir, f));
    if (r.error) return r;
    docs.push(...r.docs);
  }
  return { docs };
}

function parse(text, where) {
  const parsed = parseAllDocuments(text);
  for (const d of parsed) {
    if (d.errors?.length) return { error: `${where}: YAML: ${d.errors[0].message}` };
  }
  return { docs: parsed.map((d) => d.toJS()).filter((d) => d && typeof d === "object") };
}

let passed = 0;
let failed = 0;
const report = (ok, line, details = []) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${line}`);
  for (const d of details) console.log(`       - ${d}`);
  ok ? passed++ : failed++;
};

for (const { label, load, expected } of targets) {
  const { docs, error } = load();
  if (error) {
    report(false, `${label}: render: ${error}`);
    continue;
  }
  const byKind = {};
  for (const d of docs) {
    const group = String(d.apiVersion || "").includes("/") ? d.apiVersion.split("/")[0] : "";
    if (!GROUPS.has(group)) continue;
    (byKind[d.kind] ??= []).push(d);
  }
  if (!expected && Object.keys(byKind).length === 0) {
    report(false, `${label}: crd_schema: no document of ${[...GROUPS].join(", ")} found`);
    continue;
  }
  for (const kind of new Set([...Object.keys(expected || {}), ...Object.keys(byKind)])) {
    const list = byKind[kind] || [];
    const problems = [];
    if (expected && kind in expected && list.length !== expected[kind]) {
      problems.push(`${list.length} ${kind} documents rendered, expected ${expected[kind]}`);
    }
    for (const d of list) {
      const what = `${d.kind}/${d.metadata?.name ?? "?"}`;
      const Model = MODELS[d.apiVersion]?.[d.kind];
      if (!Model) {
        problems.push(`${what}: no schema for ${d.apiVersion} ${d.kind}`);
        continue;
      }
      try {
        new Model(d).validate();
      } catch (e) {
        problems.push(`${what}: ${e.message}`);
      }
    }
    const ok = problems.length === 0;
    report(ok, `${label}: crd_schema: ${kind} (${list.length} ${ok ? "valid" : "checked"} against the CRD schema)`, problems);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
