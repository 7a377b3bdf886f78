import { z } from 'zod';

/** Secret (and its key) that holds the broker URL in the cluster; the manifests only reference it. */
export const DEFAULT_K8S_SECRET_NAME = 'rabbit-worker-amqp';
/** The key of {@link DEFAULT_K8S_SECRET_NAME} (and of any `secretName`) that holds the URL. */
export const K8S_SECRET_KEY = 'AMQP_URL';
/** Port of the worker's own HTTP endpoint (`run --http-port`): /healthz, /readyz, /metrics. */
export const DEFAULT_K8S_HTTP_PORT = 9464;
/** KEDA's target: ready messages per replica before it adds one. */
export const DEFAULT_K8S_QUEUE_LENGTH = 20;

// Kubernetes names: a namespace is a DNS-1123 label, a Secret name a DNS-1123 subdomain.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * The optional top-level `kubernetes:` section of the config file, read by `rabbit-worker kubernetes` only
 * (the other commands ignore it). Every field may also come from the command line, which wins.
 */
export interface KubernetesOptions {
  /** Container image holding the app, its `node_modules` and the config file at its working directory. Required here or as `--image`. */
  image?: string;
  /** Namespace of every object; none = the namespace `kubectl apply` targets. */
  namespace?: string;
  /** Secret whose key `AMQP_URL` holds the broker URL, for the workers and for KEDA. @default 'rabbit-worker-amqp' */
  secretName: string;
  /** Port of `rabbit-worker run --http-port` in every pod (probes and metrics). @default 9464 */
  httpPort: number;
  /** KEDA target of ready messages per replica. @default 20 */
  queueLength: number;
  /** KEDA's ceiling of replicas per type. @default max(processes × 10, 10) */
  maxReplicas?: number;
}

/** Per-type `workers.<type>.kubernetes`: what may differ between types. */
export interface KubernetesTypeOptions {
  /** Overrides the top-level `queueLength` for this type. */
  queueLength?: number;
  /** Overrides the top-level `maxReplicas` for this type. */
  maxReplicas?: number;
}

const queueLength = z.number().int().min(1).max(1_000_000);
const maxReplicas = z.number().int().min(1).max(10_000);

/** Schema of {@link KubernetesTypeOptions}, merged into the worker type's schema by `config.ts`. */
export const kubernetesTypeSchema = z.strictObject({ queueLength: queueLength.optional(), maxReplicas: maxReplicas.optional() });

/** Schema of {@link KubernetesOptions}: one normaliser for the config section and the command line. */
export const kubernetesSchema = z.strictObject({
  image: z.string().regex(/^\S+$/, 'an image reference, without spaces').optional(),
  namespace: z.string().regex(DNS_LABEL, 'a namespace is 1-63 lower-case letters, digits and "-"').optional(),
  secretName: z.string().regex(DNS_SUBDOMAIN, 'a Secret name is lower-case letters, digits, "-" and "."').default(DEFAULT_K8S_SECRET_NAME),
  httpPort: z.number().int().min(1).max(65535).default(DEFAULT_K8S_HTTP_PORT),
  queueLength: queueLength.default(DEFAULT_K8S_QUEUE_LENGTH),
  maxReplicas: maxReplicas.optional(),
}) satisfies z.ZodType<KubernetesOptions, unknown>;

/** The options in force when the config file has no `kubernetes:` section. */
export function defaultKubernetesOptions(): KubernetesOptions {
  return kubernetesSchema.parse({});
}
