// Static checks for deploy/ (docker and a cluster are not available in CI; tests/it/deploy_static.rs
// runs this): every Kubernetes manifest is validated against the Kubernetes API's JSON schemas
// (kubernetes-models, v1.27 API) plus the rules that matter for rolegate; compose.yaml is
// parsed with its anchors and checked for references that would fail at `docker compose up`.
//
// Usage: node validate.mjs REPO_ROOT   → prints one line per file, exit 1 on any problem.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseAllDocuments, parse } from 'yaml';

const root = process.argv[2];
const problems = [];
const fail = (file, msg) => problems.push(`${file}: ${msg}`);

const models = {
  'v1/Namespace': () => import('kubernetes-models/v1/Namespace'),
  'v1/ServiceAccount': () => import('kubernetes-models/v1/ServiceAccount'),
  'v1/ConfigMap': () => import('kubernetes-models/v1/ConfigMap'),
  'v1/Secret': () => import('kubernetes-models/v1/Secret'),
  'v1/Service': () => import('kubernetes-models/v1/Service'),
  'apps/v1/Deployment': () => import('kubernetes-models/apps/v1/Deployment'),
  'policy/v1/PodDisruptionBudget': () => import('kubernetes-models/policy/v1/PodDisruptionBudget'),
  'networking.k8s.io/v1/NetworkPolicy': () => import('kubernetes-models/networking.k8s.io/v1/NetworkPolicy'),
};

// --- Kubernetes ---------------------------------------------------------------------------------
const kdir = join(root, 'deploy/kubernetes');
const objects = [];
for (const f of readdirSync(kdir).filter((n) => n.endsWith('.yaml')).sort()) {
  if (f === 'kustomization.yaml') continue;
  for (const doc of parseAllDocuments(readFileSync(join(kdir, f), 'utf8'))) {
    if (doc.errors.length) { fail(f, doc.errors.map(String).join('; ')); continue; }
    const obj = doc.toJS();
    const key = `${obj.apiVersion}/${obj.kind}`;
    const load = models[key];
    if (!load) { fail(f, `no schema for ${key}`); continue; }
    const mod = await load();
    const Model = mod[obj.kind] || mod.default;
    try {
      new Model(obj).validate();
    } catch (e) {
      fail(f, `${key} does not match the Kubernetes schema: ${e.message}`);
    }
    objects.push({ file: f, obj });
    console.log(`ok ${f} ${key} ${obj.metadata?.name}`);
  }
}
const kust = parse(readFileSync(join(kdir, 'kustomization.yaml'), 'utf8'));
for (const r of kust.resources) {
  if (!existsSync(join(kdir, r))) fail('kustomization.yaml', `resource ${r} does not exist`);
}
const byKind = (k) => objects.filter((o) => o.obj.kind === k).map((o) => o.obj);
const [deploy] = byKind('Deployment');
if (!deploy) {
  fail('deployment.yaml', 'no Deployment');
} else {
  const spec = deploy.spec;
  const pod = spec.template.spec;
  const c = pod.containers[0];
  if (!(spec.replicas >= 2)) fail('deployment.yaml', 'needs at least 2 replicas');
  if (c.livenessProbe?.httpGet?.path !== '/healthz') fail('deployment.yaml', 'liveness must probe /healthz');
  if (c.readinessProbe?.httpGet?.path !== '/readyz') fail('deployment.yaml', 'readiness must probe /readyz');
  if (!pod.securityContext?.runAsNonRoot) fail('deployment.yaml', 'must run as non-root');
  if (!c.securityContext?.readOnlyRootFilesystem) fail('deployment.yaml', 'root filesystem must be read-only');
  const selector = spec.selector.matchLabels;
  const labels = spec.template.metadata.labels;
  for (const [k, v] of Object.entries(selector)) {
    if (labels[k] !== v) fail('deployment.yaml', `selector ${k}=${v} does not match the pod labels`);
  }
  const cms = byKind('ConfigMap').map((o) => o.metadata.name);
  for (const v of pod.volumes) {
    if (v.configMap && !cms.includes(v.configMap.name)) fail('deployment.yaml', `ConfigMap ${v.configMap.name} is not defined`);
  }
  const pdb = byKind('PodDisruptionBudget')[0];
  if (!pdb) fail('poddisruptionbudget.yaml', 'no PodDisruptionBudget');
  else if (JSON.stringify(pdb.spec.selector.matchLabels) !== JSON.stringify(selector)) fail('poddisruptionbudget.yaml', 'selects other pods than the Deployment');
  const svc = byKind('Service')[0];
  if (svc && JSON.stringify(svc.spec.selector) !== JSON.stringify(selector)) fail('service.yaml', 'selects other pods than the Deployment');
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  const toml = byKind('ConfigMap')[0]?.data?.['rolegate.toml'] ?? '';
  const m = toml.match(/shutdown_timeout\s*=\s*"(\d+)s"/);
  if (!m || Number(m[1]) >= grace) fail('configmap.yaml', `shutdown_timeout must be below terminationGracePeriodSeconds (${grace}s)`);
}

// --- compose ------------------------------------------------------------------------------------
const cfile = join(root, 'deploy/compose/compose.yaml');
const compose = parse(readFileSync(cfile, 'utf8'), { merge: true });
const services = compose.services || {};
for (const [name, s] of Object.entries(services)) {
  if (!s.image && !s.build) fail('compose.yaml', `${name}: neither image nor build`);
  const nm = s.network_mode;
  if (nm && nm.startsWith('service:') && !services[nm.slice(8)]) fail('compose.yaml', `${name}: network_mode names unknown service ${nm}`);
  if (nm && s.ports) fail('compose.yaml', `${name}: ports on a service that shares another's network`);
  for (const dep of Object.keys(Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d) => [d, 1])) : s.depends_on || {})) {
    if (!services[dep]) fail('compose.yaml', `${name}: depends_on unknown service ${dep}`);
  }
  for (const v of s.volumes || []) {
    const src = String(v).split(':')[0];
    if (src.startsWith('.') && !existsSync(join(root, 'deploy/compose', src))) fail('compose.yaml', `${name}: volume source ${src} does not exist`);
  }
  if (s.build) {
    const df = join(root, 'deploy/compose', s.build.context, s.build.dockerfile);
    if (!existsSync(df)) fail('compose.yaml', `${name}: Dockerfile ${df} does not exist`);
  }
  console.log(`ok compose.yaml service ${name}`);
}
const brokers = Object.entries(services).filter(([, s]) => s.build);
if (brokers.length < 2) fail('compose.yaml', 'needs two broker replicas');
const listens = brokers.map(([, s]) => s.environment?.ROLEGATE_SERVER__LISTEN);
if (new Set(listens).size !== brokers.length) fail('compose.yaml', `replicas must listen on distinct addresses, got ${listens}`);
const nginx = readFileSync(join(root, 'deploy/compose/nginx.conf'), 'utf8');
for (const l of listens) {
  if (!nginx.includes(`server ${l};`)) fail('nginx.conf', `upstream lacks ${l}`);
}

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log('deploy/: all static checks passed');
