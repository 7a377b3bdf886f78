/**
 * The shapes of the objects `rabbit-worker kubernetes` writes: only the fields it sets, spelled as the
 * Kubernetes (apps/v1, v1) and KEDA (keda.sh/v1alpha1) schemas spell them. The unit tests check every
 * generated object against those schemas (kubernetes-models) and every key here against their types.
 */

/** `metadata` of every object. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
}

/** An `env` entry: a literal, or a reference (a Secret's key, a field of the pod). */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}

/** An HTTP probe on the container's named port. */
export interface HttpProbe {
  httpGet: { path: string; port: string };
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}

export interface Container {
  name: string;
  image: string;
  /** Exec form: the first word is PID 1, no shell in between to swallow SIGTERM. */
  command: string[];
  env: EnvVar[];
  ports: Array<{ name: string; containerPort: number; protocol: 'TCP' }>;
  startupProbe: HttpProbe;
  livenessProbe: HttpProbe;
  readinessProbe: HttpProbe;
  resources: {
    requests: { cpu: string; memory: string };
    limits: { memory: string };
  };
  securityContext: {
    allowPrivilegeEscalation: boolean;
    capabilities: { drop: string[] };
  };
}

export interface DeploymentManifest {
  apiVersion: 'apps/v1';
  kind: 'Deployment';
  metadata: ObjectMeta;
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    strategy: { type: 'RollingUpdate'; rollingUpdate: { maxSurge: string; maxUnavailable: number } };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        automountServiceAccountToken: boolean;
        securityContext: {
          runAsNonRoot: boolean;
          runAsUser: number;
          runAsGroup: number;
          seccompProfile: { type: 'RuntimeDefault' };
        };
        containers: Container[];
      };
    };
  };
}

export interface ScaledObjectManifest {
  apiVersion: 'keda.sh/v1alpha1';
  kind: 'ScaledObject';
  metadata: ObjectMeta;
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1'; kind: 'Deployment'; name: string };
    minReplicaCount: number;
    maxReplicaCount: number;
    triggers: Array<{
      type: 'rabbitmq';
      /** KEDA reads every trigger parameter as a string. */
      metadata: { protocol: 'amqp'; mode: 'QueueLength'; value: string; queueName: string };
      authenticationRef: { name: string };
    }>;
  };
}

export interface TriggerAuthenticationManifest {
  apiVersion: 'keda.sh/v1alpha1';
  kind: 'TriggerAuthentication';
  metadata: ObjectMeta;
  spec: {
    secretTargetRef: Array<{ parameter: 'host'; name: string; key: string }>;
  };
}
