import { basename, isAbsolute, relative, sep } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError } from '../errors.js';
import { describeIssues, type WorkerSettings } from '../worker/options.js';
import { runCommand } from './command.js';
import type { SupervisorConfig, WorkerTypeConfig } from './config.js';
import type { EffectiveWorkerType } from './effective-settings.js';
import { K8S_SECRET_KEY, kubernetesSchema, type KubernetesOptions } from './kubernetes-options.js';
import type { Container, DeploymentManifest, EnvVar, HttpProbe, ObjectMeta, ScaledObjectManifest, TriggerAuthenticationManifest } from './kubernetes-manifest.js';
import { gracePeriodSeconds, podResources } from './kubernetes-resources.js';

/** Where the rabbit-worker bin sits in an image whose working directory holds the app and its node_modules. */
export const IMAGE_BIN_PATH = 'node_modules/rabbit-worker/bin/rabbit-worker.js';
/** UID/GID of the `node` user of the official node images (`USER node`). */
export const IMAGE_USER_ID = 1000;
/**
 * The kubelet restarts an exited container after a back-off (10 s, 20 s, … up to 5 min, exit code 0 too)
 * that it resets only once the container ran this long: a shorter `ttl` leaves pods idle between runs.
 */
export const KUBELET_BACKOFF_RESET_SECONDS = 600;
/** The container port's name, which the probes use. */
const PORT_NAME = 'http';

const PART_OF = 'rabbit-worker';
// A label value: at most 63 characters, letters/digits at both ends.
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** What the command line may set; it wins over the config file's `kubernetes:` section. */
export interface KubernetesCliOptions {
  image?: string;
  namespace?: string;
}

/** The objects of one worker type. */
export interface KubernetesWorkerManifests {
  type: WorkerTypeConfig;
  settings: WorkerSettings;
  /** The worker file as the container names it: relative to the working directory. */
  file: string;
  /** The objects' name: the type name as a DNS label. */
  name: string;
  deployment: DeploymentManifest;
  scaledObject: ScaledObjectManifest;
}

export interface KubernetesManifests {
  /** One per config file: every ScaledObject's `authenticationRef` names it. */
  triggerAuthentication: TriggerAuthenticationManifest;
  workers: KubernetesWorkerManifests[];
  /** Parts of the config file that have no place in the cluster, for stderr. */
  warnings: string[];
  options: ResolvedKubernetesOptions;
}

/** The options in force: the config's section, the command line on top, an image required. */
export type ResolvedKubernetesOptions = KubernetesOptions & { image: string };

/** `Resize_Image.v2` → `resize-image-v2`: Deployment and container names are DNS labels. */
export function objectName(type: string): string {
  const name = type.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  if (name === '' || name.length > 63) throw new ConfigError(`workers.${type}: the type name does not make a Kubernetes name (1-63 letters, digits and "-")`);
  return name;
}

function labels(type?: string): Record<string, string> {
  return {
    ...(type !== undefined ? { 'app.kubernetes.io/name': type } : {}),
    'app.kubernetes.io/part-of': PART_OF,
    'app.kubernetes.io/managed-by': PART_OF,
  };
}

function meta(name: string, options: KubernetesOptions, labelSet: Record<string, string>): ObjectMeta {
  return { name, ...(options.namespace !== undefined ? { namespace: options.namespace } : {}), labels: labelSet };
}

/** The config's options with the command line's on top, validated by the same schema (the bad field named). */
export function resolveOptions(config: SupervisorConfig, cli: KubernetesCliOptions = {}): ResolvedKubernetesOptions {
  const merged = { ...config.kubernetes, ...Object.fromEntries(Object.entries(cli).filter(([, v]) => v !== undefined)) };
  const result = kubernetesSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(`kubernetes: ${describeIssues(result.error)}`);
  const { image } = result.data;
  if (image === undefined) throw new ConfigError('kubernetes.image: required: pass --image <image> or set kubernetes.image in the config file');
  return { ...result.data, image };
}

/** The worker file as the container sees it: relative to the config file's directory, its working directory. */
function fileInImage(type: WorkerTypeConfig, config: SupervisorConfig, warnings: string[]): string {
  const rel = relative(config.dir, type.file);
  if (rel.startsWith('..') || isAbsolute(rel)) warnings.push(`workers.${type.name}.file is outside the config file's directory (${rel}): the image must have it there too`);
  return rel.split(sep).join('/');
}

/** `env`: LOG_FORMAT=json, the config's `env`, then AMQP_URL from the Secret and the pod's name; never a URL literal. */
function containerEnv(type: WorkerTypeConfig, options: KubernetesOptions, warnings: string[]): EnvVar[] {
  const env = new Map<string, EnvVar>([['LOG_FORMAT', { name: 'LOG_FORMAT', value: 'json' }]]);
  for (const [name, value] of Object.entries(type.env)) {
    if (name === 'AMQP_URL') {
      warnings.push(`workers.${type.name}.env.AMQP_URL is left out: in Kubernetes AMQP_URL comes from the Secret "${options.secretName}"`);
      continue;
    }
    env.set(name, { name, value });
  }
  if (type.url !== undefined) warnings.push(`workers.${type.name}: the config file's url is left out: in Kubernetes AMQP_URL comes from the Secret "${options.secretName}"`);
  env.set('AMQP_URL', { name: 'AMQP_URL', valueFrom: { secretKeyRef: { name: options.secretName, key: K8S_SECRET_KEY } } });
  env.set('RABBIT_WORKER_PROCESS', { name: 'RABBIT_WORKER_PROCESS', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
  return [...env.values()];
}

const probe = (path: string, periodSeconds: number, failureThreshold: number): HttpProbe => ({
  httpGet: { path, port: PORT_NAME },
  periodSeconds,
  timeoutSeconds: Math.min(5, periodSeconds),
  failureThreshold,
});

/**
 * The container: one `rabbit-worker run` as PID 1 (exec form, so SIGTERM reaches it), the `run` flags that
 * `supervise` would give the type, and `--http-port` for the probes and metrics.
 * - startup: /healthz every 2 s for up to 60 s (tsx compiles the worker on start-up);
 * - liveness: /healthz, which answers while the event loop does, never tied to the broker: a broker
 *   outage must not restart every pod at once; 6 × 10 s lets a busy main thread recover first;
 * - readiness: /readyz (consuming), which a rolling update waits for before it stops an old pod.
 */
function container(type: WorkerTypeConfig, file: string, settings: WorkerSettings, options: ResolvedKubernetesOptions, warnings: string[]): Container {
  // --http-port is the generator's (one port for every pod, which the probes use), should overrides name one
  const { httpPort: _ignored, ...overrides } = type.overrides as WorkerTypeConfig['overrides'] & { httpPort?: unknown };
  const { command, args } = runCommand({ ...type, file, overrides }, 'node', IMAGE_BIN_PATH);
  const resources = podResources(settings);
  return {
    name: objectName(type.name),
    image: options.image,
    command: [command, ...args, '--http-port', String(options.httpPort)],
    env: containerEnv(type, options, warnings),
    ports: [{ name: PORT_NAME, containerPort: options.httpPort, protocol: 'TCP' }],
    startupProbe: probe('/healthz', 2, 30),
    livenessProbe: probe('/healthz', 10, 6),
    readinessProbe: probe('/readyz', 5, 3),
    resources: {
      requests: { cpu: resources.cpuRequest, memory: `${resources.requestMb}Mi` },
      limits: { memory: `${resources.limitMb}Mi` },
    },
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
  };
}

function deployment(name: string, type: WorkerTypeConfig, file: string, settings: WorkerSettings, replicas: number, options: ResolvedKubernetesOptions, warnings: string[]): DeploymentManifest {
  const typeLabels = labels(type.name);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(name, options, typeLabels),
    spec: {
      replicas,
      // the selector is immutable: only the labels that identify the type
      selector: { matchLabels: { 'app.kubernetes.io/name': type.name, 'app.kubernetes.io/part-of': PART_OF } },
      // never fewer consumers than asked for during a rollout: new pods first, then old ones drain
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: typeLabels,
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(options.httpPort), 'prometheus.io/path': '/metrics' },
        },
        spec: {
          terminationGracePeriodSeconds: gracePeriodSeconds(settings, type.stopWaitSeconds),
          // a worker talks to RabbitMQ, never to the Kubernetes API
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: IMAGE_USER_ID, runAsGroup: IMAGE_USER_ID, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [container(type, file, settings, options, warnings)],
        },
      },
    },
  };
}

function scaledObject(name: string, type: WorkerTypeConfig, settings: WorkerSettings, replicas: number, options: KubernetesOptions): ScaledObjectManifest {
  const maxReplicas = type.kubernetes?.maxReplicas ?? options.maxReplicas ?? Math.max(type.processes * 10, 10);
  if (maxReplicas < replicas) {
    throw new ConfigError(`workers.${type.name}.kubernetes.maxReplicas (${maxReplicas}) is below its replicas (${replicas}, from processes): raise it, or lower processes`);
  }
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: meta(name, options, labels(type.name)),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      // never to zero by default: the specification wants one process of each type running
      minReplicaCount: replicas,
      maxReplicaCount: maxReplicas,
      triggers: [
        {
          type: 'rabbitmq',
          metadata: { protocol: 'amqp', mode: 'QueueLength', value: String(type.kubernetes?.queueLength ?? options.queueLength), queueName: settings.queue },
          authenticationRef: { name: options.secretName },
        },
      ],
    },
  };
}

/**
 * Builds every object from a loaded config and the types' effective settings. Pure: no file is read and
 * nothing is printed; problems that make a manifest wrong are ConfigErrors, harmless leftovers are warnings.
 */
export function kubernetesManifests(config: SupervisorConfig, types: EffectiveWorkerType[], cli: KubernetesCliOptions = {}): KubernetesManifests {
  const options = resolveOptions(config, cli);
  const warnings: string[] = [];
  const names = new Map<string, string>();
  const workers = types.map(({ type, settings }) => {
    if (!LABEL_VALUE.test(type.name)) throw new ConfigError(`workers.${type.name}: the type name is not a Kubernetes label value (at most 63 characters, a letter or digit at both ends)`);
    const name = objectName(type.name);
    const clash = names.get(name);
    if (clash !== undefined) throw new ConfigError(`workers.${type.name} and workers.${clash} both make the Kubernetes name "${name}": rename one`);
    names.set(name, type.name);
    if (type.processes === 0) warnings.push(`workers.${type.name}: processes 0 becomes 1 replica: KEDA keeps at least one of each type running`);
    if (settings.ttl > 0 && settings.ttl < KUBELET_BACKOFF_RESET_SECONDS) {
      warnings.push(`workers.${type.name}: ttl ${settings.ttl} s is under ${KUBELET_BACKOFF_RESET_SECONDS} s: the kubelet delays each restart of a container that lived less (10 s, doubling up to 5 min), so its pods would sit idle between runs`);
    }
    const replicas = Math.max(type.processes, 1);
    const file = fileInImage(type, config, warnings);
    return {
      type,
      settings,
      file,
      name,
      deployment: deployment(name, type, file, settings, replicas, options, warnings),
      scaledObject: scaledObject(name, type, settings, replicas, options),
    };
  });
  const triggerAuthentication: TriggerAuthenticationManifest = {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'TriggerAuthentication',
    metadata: meta(options.secretName, options, labels()),
    // KEDA's rabbitmq scaler reads the broker URL from `host`: the same Secret key the workers read
    spec: { secretTargetRef: [{ parameter: 'host', name: options.secretName, key: K8S_SECRET_KEY }] },
  };
  return { triggerAuthentication, workers, warnings: [...new Set(warnings)], options };
}

function document(comment: string[], object: object): string {
  return `${comment.map((line) => `# ${line}\n`).join('')}${stringify(object, { lineWidth: 0, aliasDuplicateObjects: false })}`;
}

/**
 * The YAML: one multi-document text (a header, the TriggerAuthentication, then each type's Deployment and
 * ScaledObject), and the same split into files for `--out`: `trigger-authentication.yaml` and `<name>.yaml`
 * per type, each with the header, so that `kubectl apply -f <dir>` takes them all.
 */
export function renderKubernetes(manifests: KubernetesManifests, config: SupervisorConfig): { text: string; files: Array<{ name: string; text: string }> } {
  const from = basename(config.path);
  const header = [
    `Generated by "rabbit-worker kubernetes" from ${from}.`,
    `Settings are each worker's effective ones: its class's initialize(), then the overrides of ${from}.`,
    `AMQP_URL comes from the Secret "${manifests.options.secretName}" (key ${K8S_SECRET_KEY}), which this output does not contain.`,
  ].map((line) => `# ${line}\n`).join('');
  const auth = document(['KEDA reads the broker URL from the same Secret key as the workers.'], manifests.triggerAuthentication);
  const types = manifests.workers.map((w) => {
    const s = w.settings;
    const summary = `${w.type.name} (${w.file}): queue "${s.queue}", stopTimeout ${s.stopTimeout} s, memoryLimitMb ${s.memoryLimitMb}, spareMemoryMultiplier ${s.spareMemoryMultiplier}, isolation ${s.isolation}`;
    return { name: `${w.name}.yaml`, body: `${document([summary], w.deployment)}---\n${document([], w.scaledObject)}` };
  });
  return {
    text: header + [auth, ...types.map((t) => t.body)].join('---\n'),
    files: [{ name: 'trigger-authentication.yaml', text: header + auth }, ...types.map((t) => ({ name: t.name, text: header + t.body }))],
  };
}
