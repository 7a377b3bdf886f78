import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ScaledObject, TriggerAuthentication, type IScaledObject, type ITriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { parseAllDocuments } from 'yaml';
import { ErrorCode } from '../../src/errors.js';
import { parseConfig, STOP_MARGIN_SECONDS, type SupervisorConfig } from '../../src/supervisor/config.js';
import { loadEffectiveSettings, loadEffectiveTypes, type EffectiveWorkerType } from '../../src/supervisor/effective-settings.js';
import { kubernetesManifests, objectName, renderKubernetes, type KubernetesManifests } from '../../src/supervisor/kubernetes.js';
import type { DeploymentManifest, ScaledObjectManifest, TriggerAuthenticationManifest } from '../../src/supervisor/kubernetes-manifest.js';
import { podResources } from '../../src/supervisor/kubernetes-resources.js';
import { DEFAULT_SETTINGS } from '../../src/worker/options.js';
import { BIN, fixture, ROOT } from '../helpers/process.js';

/**
 * Compile-time half of the schema check: the validators accept unknown fields (as Kubernetes' OpenAPI
 * schemas do), but `kubectl apply` rejects them. Every key of the generator's types must exist in the
 * Kubernetes/KEDA type at the same place, or `npm run typecheck` fails.
 */
type Known<A, B> = A extends string | number | boolean
  ? A
  : A extends ReadonlyArray<infer E>
    ? NonNullable<B> extends ReadonlyArray<infer F>
      ? Array<Known<E, F>>
      : never
    : { [K in keyof A]: K extends keyof NonNullable<B> ? Known<A[K], NonNullable<B>[K]> : never };
export const deploymentKeysAreKnown = (d: DeploymentManifest): Known<DeploymentManifest, IDeployment> => d;
export const scaledObjectKeysAreKnown = (s: ScaledObjectManifest): Known<ScaledObjectManifest, IScaledObject> => s;
export const triggerAuthKeysAreKnown = (t: TriggerAuthenticationManifest): Known<TriggerAuthenticationManifest, ITriggerAuthentication> => t;
// @ts-expect-error: a misspelt field is caught (proves the check above is real)
export const typoIsCaught = (d: { spec: { replicaz: number } }): Known<{ spec: { replicaz: number } }, IDeployment> => d;

const EXAMPLES_CONFIG = join(ROOT, 'examples', 'rabbit-worker.config.yaml');
const SECRET_URL = 'amqp://app:hunter2@rabbit-1:5672';

/** The examples' two types, with overrides, a URL and an env AMQP_URL that must not reach the manifests. */
function examplesConfig(kubernetes?: Record<string, unknown>): SupervisorConfig {
  return parseConfig(
    {
      url: SECRET_URL,
      workers: {
        'resize-image': { file: './workers/resize-image.ts', processes: 2, prefetch: 8, env: { LOG_LEVEL: 'info', AMQP_URL: SECRET_URL } },
        'send-email': { file: './workers/send-email.ts', processes: 1, ttl: 600, stopTimeout: 50, kubernetes: { queueLength: 5, maxReplicas: 3 } },
      },
      ...(kubernetes !== undefined ? { kubernetes } : {}),
    },
    EXAMPLES_CONFIG,
  );
}

/** Validates one parsed YAML document against its kind's schema. */
function validateObject(object: unknown): string {
  const kind = (object as { kind?: unknown }).kind;
  if (kind === 'Deployment') new Deployment(object as IDeployment).validate();
  else if (kind === 'ScaledObject') new ScaledObject(object as IScaledObject).validate();
  else if (kind === 'TriggerAuthentication') new TriggerAuthentication(object as ITriggerAuthentication).validate();
  else assert.fail(`unexpected kind ${String(kind)}`);
  return kind;
}

function byType(m: KubernetesManifests, type: string) {
  const found = m.workers.find((w) => w.type.name === type);
  assert.ok(found, `no manifests for ${type}`);
  const container = found.deployment.spec.template.spec.containers[0];
  assert.ok(container, 'one container');
  return { ...found, container };
}

describe('rabbit-worker kubernetes: generation', () => {
  let config: SupervisorConfig;
  let types: EffectiveWorkerType[];
  let manifests: KubernetesManifests;

  before(async () => {
    config = examplesConfig({ namespace: 'config-ns', image: 'from-config:1' });
    types = await loadEffectiveTypes(config);
    manifests = kubernetesManifests(config, types, { image: 'registry.example.com/app:1.2.3', namespace: 'workers' });
  });

  it('validates every object against the Kubernetes and KEDA schemas, as objects and as printed YAML', () => {
    validateObject(manifests.triggerAuthentication);
    for (const w of manifests.workers) {
      validateObject(w.deployment);
      validateObject(w.scaledObject);
    }
    const { text, files } = renderKubernetes(manifests, config);
    const docs = parseAllDocuments(text).map((d) => d.toJS() as unknown);
    assert.deepEqual(docs.map(validateObject), ['TriggerAuthentication', 'Deployment', 'ScaledObject', 'Deployment', 'ScaledObject']);
    assert.deepEqual(docs[1], JSON.parse(JSON.stringify(manifests.workers[0]?.deployment)), 'the YAML says what the objects say');
    assert.deepEqual(files.map((f) => f.name), ['trigger-authentication.yaml', 'resize-image.yaml', 'send-email.yaml']);
    for (const file of files) parseAllDocuments(file.text).forEach((d) => validateObject(d.toJS()));
    assert.match(text, /^# Generated by "rabbit-worker kubernetes" from rabbit-worker\.config\.yaml\.\n# Settings are each worker's effective ones/);
  });

  it('a broken object is rejected by the same validators', () => {
    const broken = structuredClone(byType(manifests, 'resize-image').deployment) as unknown as { spec: { replicas: unknown; template: { spec: { containers: Array<{ ports: Array<{ containerPort: unknown }> }> } } } };
    broken.spec.replicas = 'two';
    assert.throws(() => new Deployment(broken as unknown as IDeployment).validate(), /replicas must be integer/);
    const noImage = structuredClone(byType(manifests, 'resize-image').deployment) as unknown as { spec: { selector?: unknown } };
    delete noImage.spec.selector;
    assert.throws(() => new Deployment(noImage as unknown as IDeployment).validate(), /selector/);
    const badTrigger = structuredClone(byType(manifests, 'resize-image').scaledObject) as unknown as { spec: { triggers: Array<{ metadata: Record<string, unknown> }> } };
    const trigger = badTrigger.spec.triggers[0];
    assert.ok(trigger);
    trigger.metadata.value = 20; // KEDA's metadata is strings only
    assert.throws(() => new ScaledObject(badTrigger as unknown as IScaledObject).validate(), /metadata\/value must be string/);
    const badAuth = structuredClone(manifests.triggerAuthentication) as unknown as { spec: { secretTargetRef: Array<Record<string, unknown>> } };
    delete badAuth.spec.secretTargetRef[0]?.key;
    assert.throws(() => new TriggerAuthentication(badAuth as unknown as ITriggerAuthentication).validate(), /key/);
  });

  it('runs one `rabbit-worker run` per container as PID 1, exec form, with the type\'s overrides and --http-port', () => {
    assert.deepEqual(byType(manifests, 'resize-image').container.command, [
      'node', 'node_modules/rabbit-worker/bin/rabbit-worker.js', 'run', 'workers/resize-image.ts', '--name', 'resize-image', '--prefetch', '8', '--http-port', '9464',
    ]);
    assert.deepEqual(byType(manifests, 'send-email').container.command, [
      'node', 'node_modules/rabbit-worker/bin/rabbit-worker.js', 'run', 'workers/send-email.ts', '--name', 'send-email', '--ttl', '600', '--stop-timeout', '50', '--http-port', '9464',
    ]);
    const c = byType(manifests, 'resize-image').container;
    assert.equal(c.image, 'registry.example.com/app:1.2.3', '--image wins over kubernetes.image');
    assert.deepEqual(c.ports, [{ name: 'http', containerPort: 9464, protocol: 'TCP' }]);
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'http' });
    assert.deepEqual(c.startupProbe.httpGet, { path: '/healthz', port: 'http' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http' });
  });

  it('reads AMQP_URL from the Secret and never prints a URL', () => {
    for (const w of manifests.workers) {
      const env = byType(manifests, w.type.name).container.env;
      assert.deepEqual(env.find((e) => e.name === 'AMQP_URL'), { name: 'AMQP_URL', valueFrom: { secretKeyRef: { name: 'rabbit-worker-amqp', key: 'AMQP_URL' } } });
      assert.equal(env.filter((e) => e.name === 'AMQP_URL').length, 1);
      assert.equal(env.find((e) => e.name === 'LOG_FORMAT')?.value, 'json');
    }
    assert.equal(byType(manifests, 'resize-image').container.env.find((e) => e.name === 'LOG_LEVEL')?.value, 'info', 'the config\'s env is kept');
    const { text } = renderKubernetes(manifests, config);
    assert.doesNotMatch(text, /amqp:\/\/|hunter2/);
    assert.ok(manifests.warnings.some((w) => w.includes('workers.resize-image.env.AMQP_URL is left out')), manifests.warnings.join('\n'));
    assert.ok(manifests.warnings.some((w) => w.includes("the config file's url is left out")));
    assert.deepEqual(manifests.triggerAuthentication.spec.secretTargetRef, [{ parameter: 'host', name: 'rabbit-worker-amqp', key: 'AMQP_URL' }]);
  });

  it('gives a grace period past stopTimeout + the stop margin, from the effective settings', () => {
    const resize = byType(manifests, 'resize-image');
    assert.equal(resize.settings.stopTimeout, 30, 'from initialize()');
    assert.ok(resize.deployment.spec.template.spec.terminationGracePeriodSeconds > resize.settings.stopTimeout + STOP_MARGIN_SECONDS);
    const email = byType(manifests, 'send-email');
    assert.equal(email.settings.stopTimeout, 50, 'the override');
    assert.equal(email.deployment.spec.template.spec.terminationGracePeriodSeconds, 50 + STOP_MARGIN_SECONDS + 5);
  });

  it('scales on the worker\'s queue with KEDA, never below processes', () => {
    const resize = byType(manifests, 'resize-image');
    assert.equal(resize.deployment.spec.replicas, 2);
    assert.equal(resize.scaledObject.spec.minReplicaCount, 2);
    assert.equal(resize.scaledObject.spec.maxReplicaCount, 20, 'max(processes × 10, 10)');
    assert.deepEqual(resize.scaledObject.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'resize-image' });
    assert.deepEqual(resize.scaledObject.spec.triggers, [
      { type: 'rabbitmq', metadata: { protocol: 'amqp', mode: 'QueueLength', value: '20', queueName: 'resize-image' }, authenticationRef: { name: 'rabbit-worker-amqp' } },
    ]);
    const email = byType(manifests, 'send-email');
    assert.equal(email.scaledObject.spec.maxReplicaCount, 3, 'workers.send-email.kubernetes.maxReplicas');
    assert.equal(email.scaledObject.spec.triggers[0]?.metadata.value, '5', 'workers.send-email.kubernetes.queueLength');
    assert.equal(email.scaledObject.spec.triggers[0]?.metadata.queueName, 'send-email', 'the queue of initialize()');
  });

  it('labels, namespaces and names every object', () => {
    const labels = { 'app.kubernetes.io/name': 'resize-image', 'app.kubernetes.io/part-of': 'rabbit-worker', 'app.kubernetes.io/managed-by': 'rabbit-worker' };
    const resize = byType(manifests, 'resize-image');
    assert.deepEqual(resize.deployment.metadata, { name: 'resize-image', namespace: 'workers', labels });
    assert.deepEqual(resize.deployment.spec.template.metadata.labels, labels);
    assert.deepEqual(resize.scaledObject.metadata.labels, labels);
    for (const [key, value] of Object.entries(resize.deployment.spec.selector.matchLabels)) assert.equal(labels[key as keyof typeof labels], value, 'the selector matches the pods');
    assert.equal(manifests.triggerAuthentication.metadata.namespace, 'workers', '--namespace wins over kubernetes.namespace');
    assert.equal(objectName('Resize_Image.v2'), 'resize-image-v2');
  });

  it('sizes memory from memoryLimitMb, the spare isolate and the main thread; CPU request, no CPU limit', () => {
    const resize = byType(manifests, 'resize-image').container.resources;
    // memoryLimitMb 256 comes from initialize(): 128 + (256 + 32) + (2 × 32 + 32) = 512
    assert.deepEqual(resize, { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '512Mi' } });
    const email = byType(manifests, 'send-email').container.resources;
    // isolation 'none': callbacks on the main thread, no spare isolate: 128 + 512 = 640
    assert.deepEqual(email, { requests: { cpu: '100m', memory: '384Mi' }, limits: { memory: '640Mi' } });
    const base = { ...DEFAULT_SETTINGS, queue: 'q' };
    assert.ok(podResources({ ...base, spareMemoryMultiplier: 8 }).limitMb > podResources(base).limitMb, 'a bigger spare needs more');
    assert.ok(podResources({ ...base, threads: 4 } as typeof base).limitMb >= 128 + 4 * 512, 'every callback isolate counted');
  });
});

describe('rabbit-worker kubernetes: errors and warnings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rw k8s '));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const at = (workers: Record<string, unknown>, kubernetes?: Record<string, unknown>): SupervisorConfig =>
    parseConfig({ workers, ...(kubernetes !== undefined ? { kubernetes } : {}) }, join(dir, 'rabbit-worker.config.yaml'));

  it('a worker that fails to load, or sets a bad value, is one ConfigError line naming the type', async () => {
    const broken = at({ broken: { file: fixture('sup-load-fail-worker.ts') } }).workers[0];
    assert.ok(broken);
    await assert.rejects(loadEffectiveSettings(broken), (error: Error & { code?: string }) => {
      assert.equal(error.code, ErrorCode.CONFIG_INVALID);
      assert.match(error.message, /^workers\.broken \(.*sup-load-fail-worker\.ts\): the worker could not be loaded: sup-load-fail-worker: told to fail at load time$/);
      return true;
    });
    const bad = at({ bad: { file: fixture('sup-bad-settings-worker.ts') } }).workers[0];
    assert.ok(bad);
    await assert.rejects(loadEffectiveSettings(bad), (error: Error & { code?: string }) => error.code === ErrorCode.CONFIG_INVALID && /^workers\.bad \(.*\): prefetch: /.test(error.message) && !error.message.includes('\n'));
  });

  it('names the bad option: no image, a bad namespace, maxReplicas below processes, a bad config section', async () => {
    const conf = at({ noisy: { file: fixture('k8s-noisy-worker.ts'), processes: 4 } });
    const types = await loadEffectiveTypes(conf);
    assert.throws(() => kubernetesManifests(conf, types), { code: ErrorCode.CONFIG_INVALID, message: /kubernetes\.image: required/ });
    assert.throws(() => kubernetesManifests(conf, types, { image: 'i', namespace: 'Not_A_Namespace' }), { message: /^kubernetes: namespace: / });
    const capped = at({ noisy: { file: fixture('k8s-noisy-worker.ts'), processes: 4, kubernetes: { maxReplicas: 2 } } });
    const cappedTypes = await loadEffectiveTypes(capped);
    assert.throws(() => kubernetesManifests(capped, cappedTypes, { image: 'i' }), {
      message: /workers\.noisy\.kubernetes\.maxReplicas \(2\) is below its replicas \(4/,
    });
    assert.throws(() => at({ noisy: { file: fixture('k8s-noisy-worker.ts') } }, { image: 'i', replicas: 3 }), { code: ErrorCode.CONFIG_INVALID, message: /unknown setting "replicas" in kubernetes/ });
    assert.throws(() => at({ noisy: { file: fixture('k8s-noisy-worker.ts') } }, { httpPort: 0 }), { message: /kubernetes\.httpPort/ });
  });

  it('warns about a short ttl (the kubelet\'s restart back-off) and a worker file outside the config directory', async () => {
    const conf = at({ noisy: { file: fixture('k8s-noisy-worker.ts'), ttl: 60 } }, { image: 'i' });
    const m = kubernetesManifests(conf, await loadEffectiveTypes(conf));
    assert.ok(m.warnings.some((w) => w.startsWith('workers.noisy: ttl 60 s is under 600 s')), m.warnings.join('\n'));
    assert.ok(m.warnings.some((w) => w.startsWith('workers.noisy.file is outside the config file\'s directory')), m.warnings.join('\n'));
  });
});

describe('rabbit-worker kubernetes: the command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rw k8s cli '));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const cli = (args: string[]) => spawnSync(process.execPath, [BIN, 'kubernetes', ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, LOG_LEVEL: 'info' } });

  it('prints YAML on stdout only (a worker that logs in initialize() goes to stderr), with the effective settings', () => {
    writeFileSync(join(dir, 'noisy.ts'), `export { default } from ${JSON.stringify(fixture('k8s-noisy-worker.ts'))};\n`);
    writeFileSync(join(dir, 'rabbit-worker.config.yaml'), 'workers:\n  noisy:\n    file: ./noisy.ts\nkubernetes:\n  image: app:1\n  httpPort: 8080\n');
    const run = cli([]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /noisy worker configuring itself/);
    const docs = parseAllDocuments(run.stdout).map((d) => d.toJS() as unknown);
    assert.deepEqual(docs.map(validateObject), ['TriggerAuthentication', 'Deployment', 'ScaledObject']);
    const deployment = docs[1] as IDeployment;
    const podSpec = deployment.spec?.template.spec;
    // stopTimeout 100 and memoryLimitMb 1024 are set only in initialize()
    assert.equal(podSpec?.terminationGracePeriodSeconds, 100 + STOP_MARGIN_SECONDS + 5);
    assert.deepEqual(podSpec?.containers[0]?.resources?.limits, { memory: `${128 + 1024 + 32 + 4 * 32 + 32}Mi` });
    assert.deepEqual(podSpec?.containers[0]?.command?.slice(-2), ['--http-port', '8080']);
    assert.equal((docs[2] as IScaledObject).spec.triggers[0]?.metadata.queueName, 'k8s-noisy');
    assert.match(run.stdout, /# noisy \(noisy\.ts\): queue "k8s-noisy", stopTimeout 100 s, memoryLimitMb 1024, spareMemoryMultiplier 4, isolation thread/);
  });

  it('writes one file per type with --out, and fails with exit code 2 and one line without an image', () => {
    const out = join(dir, 'manifests');
    const run = cli(['--out', out, '--namespace', 'jobs']);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(readdirSync(out).sort(), ['noisy.yaml', 'trigger-authentication.yaml']);
    const docs = parseAllDocuments(readFileSync(join(out, 'noisy.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { namespace?: string } });
    assert.deepEqual(docs.map((d) => [d.kind, d.metadata.namespace]), [['Deployment', 'jobs'], ['ScaledObject', 'jobs']]);
    writeFileSync(join(dir, 'rabbit-worker.config.yaml'), 'workers:\n  noisy:\n    file: ./noisy.ts\n');
    const failed = cli([]);
    assert.equal(failed.status, 2);
    assert.equal(failed.stdout, '');
    assert.equal(failed.stderr.trim().split('\n').filter((l) => l.startsWith('rabbit-worker:')).length, 1, failed.stderr);
    assert.match(failed.stderr, /kubernetes\.image: required/);
  });
});
