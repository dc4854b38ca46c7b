#!/usr/bin/env node
// Offline schema validation of the custom resources in Tiketi's rendered manifests (k8s/): the
// KEDA (keda.sh/v1alpha1), VPA (autoscaling.k8s.io/v1) and Istio (networking.istio.io/v1,
// security.istio.io/v1) documents, against the CRD schemas shipped in the npm packages
// @kubernetes-models/keda, @kubernetes-models/autoscaler and @kubernetes-models/istio (pinned in
// package.json). check_k8s.py validates the core kinds and asserts the policies; this validates
// what kubernetes-validate has no schema for.
//
//   cd tools/infra-check && npm ci && node check_crds.mjs [--root DIR] [overlay ...]
//
// Prints one line per overlay and kind, then `N passed, M failed`; exits 1 on any failure.
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import * as keda from "@kubernetes-models/keda/keda.sh/v1alpha1";
import * as vpa from "@kubernetes-models/autoscaler/autoscaling.k8s.io/v1";
import * as istioNetworking from "@kubernetes-models/istio/networking.istio.io/v1";
import * as istioSecurity from "@kubernetes-models/istio/security.istio.io/v1";

const MODELS = {
  "keda.sh/v1alpha1": keda,
  "autoscaling.k8s.io/v1": vpa,
  "networking.istio.io/v1": istioNetworking,
  "security.istio.io/v1": istioSecurity,
};
// Groups whose documents must all be validated here (a version or kind we have no model for fails).
const GROUPS = new Set(["keda.sh", "autoscaling.k8s.io", "networking.istio.io", "security.istio.io"]);
// Kinds each overlay must contain (an empty render of them must not pass silently).
const EXPECTED = {
  ScaledObject: 3,
  TriggerAuthentication: 1,
  VerticalPodAutoscaler: 6,
  PeerAuthentication: 1,
  DestinationRule: 5,
  VirtualService: 1,
  Gateway: 1,
};

const args = process.argv.slice(2);
let root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const overlays = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--root") root = resolve(args[++i]);
  else overlays.push(args[i]);
}
if (overlays.length === 0) overlays.push("dev", "staging", "prod");

let passed = 0;
let failed = 0;
const report = (ok, line, details = []) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${line}`);
  for (const d of details) console.log(`       - ${d}`);
  ok ? passed++ : failed++;
};

for (const overlay of overlays) {
  const r = spawnSync("kubectl", ["kustomize", join(root, "k8s", "overlays", overlay)], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    report(false, `${overlay}: render: ${r.error ? "kubectl not found on PATH (v1.32 needed)" : r.stderr.trim()}`);
    continue;
  }
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean);
  const byKind = {};
  for (const d of docs) {
    const group = String(d.apiVersion || "").includes("/") ? d.apiVersion.split("/")[0] : "";
    if (!GROUPS.has(group)) continue;
    (byKind[d.kind] ??= []).push(d);
  }
  for (const kind of new Set([...Object.keys(EXPECTED), ...Object.keys(byKind)])) {
    const list = byKind[kind] || [];
    const problems = [];
    if (kind in EXPECTED && list.length !== EXPECTED[kind]) {
      problems.push(`${list.length} ${kind} documents rendered, expected ${EXPECTED[kind]}`);
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
    report(ok, `${overlay}: crd_schema: ${kind} (${list.length} valid against the CRD schema)`.replace(/ valid /, ok ? " valid " : " checked "), problems);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
