import { readdirSync, readFileSync, statSync } from 'node:fs';

/** One Erlang VM (beam.smp) running on this host. */
export interface BeamProcess {
  pid: number;
  /** Owner uid: the system node runs as the rabbitmq user, ours as whoever runs the tests. */
  uid: number;
  /**
   * RABBITMQ_NODENAME from its environment: every node the harness starts has it; the Debian system node
   * takes its name from /etc/rabbitmq/rabbitmq-env.conf and has none. Undefined when unreadable.
   */
  nodeName: string | undefined;
}

/** True while `pid` exists (a zombie counts as gone: it holds no ports). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Sends `signal` to `pid`, ignoring a process that is already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (bounded) until `pid` is gone; true if it went. */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** The RabbitMQ node name a process was started as, from its environment (undefined if none/unreadable). */
export function nodeNameOf(pid: number): string | undefined {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const entry = environ.find((e) => e.startsWith('RABBITMQ_NODENAME='));
    return entry?.slice('RABBITMQ_NODENAME='.length);
  } catch {
    return undefined;
  }
}

/** Every RabbitMQ server VM (beam.smp booting `rabbit`) on this host, read from /proc (no `ps` parsing). */
export function listBeams(): BeamProcess[] {
  const beams: BeamProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const argv0 = argv[0] ?? '';
      if (!argv0.endsWith('/beam.smp') && argv0 !== 'beam.smp') continue;
      // rabbitmqctl and friends run a beam.smp of their own for a moment: only servers boot `rabbit`
      if (!argv.some((arg, i) => arg === '-s' && argv[i + 1] === 'rabbit')) continue;
      if (!alive(pid)) continue;
      beams.push({ pid, uid: statSync(`/proc/${pid}`).uid, nodeName: nodeNameOf(pid) });
    } catch {
      // exited while we looked
    }
  }
  return beams;
}

/** The beams started as one of `names` (by RABBITMQ_NODENAME): what a cleanup must not leave behind. */
export function beamsNamed(names: Iterable<string>): BeamProcess[] {
  const wanted = new Set(names);
  return listBeams().filter((b) => b.nodeName !== undefined && wanted.has(b.nodeName));
}

/** A one-line description of a beam, for failure messages. */
export function describeBeam(b: BeamProcess): string {
  return `pid ${b.pid} (uid ${b.uid}, ${b.nodeName ?? 'no RABBITMQ_NODENAME: the system node?'})`;
}
