import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import {
  beamsNamed,
  clusterNodeNames,
  describeBeam,
  freeNodePorts,
  HarnessErrorCode,
  listBeams,
  signal,
  startCluster,
  startNode,
  stopNode,
  waitGone,
  type BrokerNode,
  type Cluster,
  type ClusterOptions,
  type NodeOptions,
} from '../harness/index.js';

/** What a test file may ask of a private node: everything but the name, ports and directory. */
export type PrivateNodeOptions = Pick<NodeOptions, 'extraConfig' | 'advancedConfig' | 'timeoutMs'>;
/** What a test file may ask of a private cluster. */
export type PrivateClusterOptions = Pick<ClusterOptions, 'size' | 'extraConfig' | 'advancedConfig' | 'timeoutMs' | 'log'>;

/** The private brokers of one test file. */
export interface PrivateBrokers {
  /** A node named `rwt-<random>@localhost` on free ports, in this file's temp dir. */
  node(options?: PrivateNodeOptions): Promise<BrokerNode>;
  /** A cluster (3 nodes by default) named `rwt-<random>-<i>@localhost`, in this file's temp dir. */
  cluster(options?: PrivateClusterOptions): Promise<Cluster>;
  /** Every node name this file started or began to start. */
  readonly names: ReadonlySet<string>;
}

const PORT_ATTEMPTS = 3;

/**
 * Private RabbitMQ nodes for a node:test file. Call it once, at the top of the file or inside `describe`.
 * An `after()` hook ALWAYS stops every node it started — also when a test failed or a start failed
 * half-way: beyond the nodes it holds, it SIGKILLs any VM carrying one of the names it handed out — then
 * removes the file's temp dir, and fails if a VM of this file is still there (listing it, and any other
 * RabbitMQ VM besides the system node).
 */
export function privateBrokers(): PrivateBrokers {
  const names = new Set<string>();
  const nodes: BrokerNode[] = [];
  const clusters: Cluster[] = [];
  let dir: string | undefined;
  const fileDir = (): string => (dir ??= mkdtempSync(join(tmpdir(), 'rwt-')));
  const prefix = (): string => `rwt-${randomBytes(4).toString('hex')}`;

  after(async () => {
    await Promise.allSettled([...clusters.map((c) => c.stop()), ...nodes.map((n) => stopNode(n, { graceful: false }))]);
    // a VM whose start never returned (the file's timeout hit, a cluster half-formed): found by name
    for (const beam of beamsNamed(names)) signal(beam.pid, 'SIGKILL');
    await Promise.all(beamsNamed(names).map((beam) => waitGone(beam.pid, 10_000)));
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    const left = beamsNamed(names);
    const others = listBeams().filter((b) => b.nodeName !== undefined && !names.has(b.nodeName));
    if (others.length > 0) console.log(`# other RabbitMQ VMs on this host (not this file's): ${others.map(describeBeam).join('; ')}`);
    if (left.length > 0) throw new Error(`RabbitMQ VMs of this file survived its cleanup: ${left.map(describeBeam).join('; ')}`);
  });

  return {
    names,
    async node(options = {}) {
      for (let attempt = 1; ; attempt++) {
        const name = `${prefix()}@localhost`;
        names.add(name);
        const [ports] = await freeNodePorts(1);
        try {
          const node = await startNode({ ...options, name, amqpPort: ports?.amqpPort ?? 0, distPort: ports?.distPort ?? 0, dir: join(fileDir(), name) });
          nodes.push(node);
          return node;
        } catch (error) {
          // another file took the port between our probe and the start: probe again
          if ((error as { code?: unknown }).code !== HarnessErrorCode.PORT_BUSY || attempt >= PORT_ATTEMPTS) throw error;
        }
      }
    },
    async cluster(options = {}) {
      const namePrefix = prefix();
      for (const name of clusterNodeNames(namePrefix, options.size ?? 3)) names.add(name);
      const cluster = await startCluster({ ...options, namePrefix, dir: join(fileDir(), namePrefix) });
      clusters.push(cluster);
      return cluster;
    },
  };
}
