import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';
import { HarnessError, HarnessErrorCode } from './errors.js';

/** The two TCP ports a node listens on. */
export interface NodePorts {
  /** AMQP 0-9-1 listener on 127.0.0.1. */
  amqpPort: number;
  /** Erlang distribution listener (the port epmd hands out for the node). */
  distPort: number;
}

// Below Linux's ephemeral range (32768-60999): an outgoing connection can then never have taken the port
// between our probe and the node's bind. Random, so that test files probing at the same moment rarely
// pick the same one (and startNode probes again and refuses a busy port).
const LOW = 20_000;
const HIGH = 32_000;

/** True when nothing listens on 127.0.0.1:`port` (a wildcard listener counts as busy too). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The ports of `ports` that are not free right now. */
export async function busyPorts(ports: number[]): Promise<number[]> {
  const free = await Promise.all(ports.map((p) => isPortFree(p)));
  return ports.filter((_, i) => free[i] !== true);
}

/**
 * `count` pairs of ports free right now, all distinct. The distribution port is the AMQP port + 10000,
 * the way RabbitMQ derives its own (there + 20000), so a node's ports are easy to tell apart in `ss -ltn`.
 */
export async function freeNodePorts(count: number): Promise<NodePorts[]> {
  const found: NodePorts[] = [];
  const taken = new Set<number>();
  for (let attempt = 0; found.length < count; attempt++) {
    if (attempt > 200) throw new HarnessError(HarnessErrorCode.PORT_BUSY, `no ${count} free port pairs found with AMQP ports in ${LOW}-${HIGH - 10_000}`);
    const amqpPort = randomInt(LOW, HIGH - 10_000);
    const distPort = amqpPort + 10_000;
    if (taken.has(amqpPort) || taken.has(distPort)) continue;
    if ((await busyPorts([amqpPort, distPort])).length > 0) continue;
    taken.add(amqpPort).add(distPort);
    found.push({ amqpPort, distPort });
  }
  return found;
}
