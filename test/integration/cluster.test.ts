/**
 * Failover on a real 3-node RabbitMQ cluster (issue 9): two `rabbit-worker run` processes given every
 * node in AMQP_URL, and a Publisher publishing a numbered stream, through four node-level faults in
 * sequence on one cluster (a cluster costs 15-30 s and 0.5 GB: one per file). For each fault: every
 * confirmed number handled (lost 0), duplicates counted, and the time consuming stopped printed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Publisher } from '../../src/index.js';
import { killVm, nodeOfConnection, quorumLeader, quorumMembers, restart, runningPid, startApp, stopApp, waitRunning, type BrokerNode, type Cluster } from '../harness/index.js';
import { eventually, uniqueQueue } from '../helpers/broker.js';
import { privateBrokers } from '../helpers/private-broker.js';
import { consuming, fixture, runWorker, type Proc } from '../helpers/process.js';

const WORKER = fixture('behave-worker.ts');
/** One message every PACE_MS: the floor under every silence measured. */
const PACE_MS = 20;
/** Unconfirmed publishes at most; past it the stream waits (a publisher stalled by its node's loss). */
const WINDOW = 200;

/** What one fault did to the stream. */
interface Figures {
  published: number;
  lost: number;
  duplicates: number;
  /** Longest time without any message handled, from the fault's start to the end of the phase. */
  silenceMs: number;
  /** Longest time without a publish confirmed, from the fault's start to the end of the stream. */
  confirmSilenceMs: number;
  /** From the fault's start to the first "reconnected; consuming again" of a worker, if one reconnected. */
  reconnectMs: number | undefined;
}

/**
 * Publishes `{ do: 'ack' }` with ids `<phase>-<i>` at a steady pace through its own Publisher, keeping
 * what the broker confirmed: only a confirmed number can be lost.
 */
class Stream {
  readonly confirmed = new Set<string>();
  /** When each confirm arrived (ms since the epoch): the publisher's own silences. */
  readonly confirmTimes: number[] = [];
  readonly #publisher: Publisher;
  readonly #phase: string;
  readonly #queue: string;
  #next = 0;
  #outstanding = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #pending = new Set<Promise<void>>();
  failures = 0;

  constructor(url: string, queue: string, phase: string) {
    this.#publisher = new Publisher({ url, publishTimeoutMs: 60_000 });
    this.#queue = queue;
    this.#phase = phase;
  }

  /** Publishes the first message and waits for its confirm: the publisher's connection then exists. */
  async start(): Promise<void> {
    await this.#publisher.publish(this.#queue, { do: 'ack' }, { messageId: `${this.#phase}-warmup` });
    this.confirmed.add(`${this.#phase}-warmup`);
    this.#timer = setInterval(() => this.#tick(), PACE_MS);
  }

  #tick(): void {
    if (this.#outstanding >= WINDOW) return;
    const id = `${this.#phase}-${this.#next++}`;
    this.#outstanding++;
    const sent = this.#publisher.publish(this.#queue, { do: 'ack' }, { messageId: id }).then(
      () => {
        this.confirmed.add(id);
        this.confirmTimes.push(Date.now());
      },
      () => void this.failures++,
    );
    const tracked = sent.finally(() => {
      this.#outstanding--;
      this.#pending.delete(tracked);
    });
    this.#pending.add(tracked);
  }

  /** Stops publishing, waits for every outstanding confirm (or its failure), closes. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.allSettled([...this.#pending]);
    await this.#publisher.close();
  }
}

const handledLines = (workers: Proc[], prefix: string): Array<{ id: string; time: number }> =>
  workers.flatMap((w) => w.lines.filter((l) => l.msg === 'handled' && typeof l.messageId === 'string' && l.messageId.startsWith(prefix)).map((l) => ({ id: l.messageId as string, time: Number(l.time) })));

/** The longest stretch without a handled message between `from` and `until` (ms since the epoch). */
function longestSilence(times: number[], from: number, until: number): number {
  let last = from;
  let worst = 0;
  for (const t of [...times].sort((a, b) => a - b)) {
    if (t < from) continue;
    if (t > until) break;
    worst = Math.max(worst, t - last);
    last = t;
  }
  return worst;
}

const seconds = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);

describe('cluster: workers and a publisher fail over between the nodes of a 3-node cluster', { timeout: 900_000 }, () => {
  const brokers = privateBrokers();
  const queue = uniqueQueue('cluster');
  const workers: Proc[] = [];
  const report: string[] = [];
  let cluster: Cluster;

  before(async () => {
    const started = Date.now();
    cluster = await brokers.cluster();
    console.log(`# cluster of 3 up in ${seconds(Date.now() - started)}: ${cluster.nodes.map((n) => n.name).join(', ')}`);
    // AMQP_URL, not --url: a URL on a command line is visible to anyone running ps
    for (const name of ['cluster-a', 'cluster-b']) {
      workers.push(runWorker(WORKER, ['--name', name, '--prefetch', '20'], { QUEUE: queue, AMQP_URL: cluster.url, LOG_LEVEL: 'info' }));
    }
    await Promise.all(workers.map((w) => consuming(w)));
    assert.equal((await quorumMembers(cluster, queue)).members.length, 3, 'the work queue has a replica on every node');
  });

  after(() => {
    for (const w of workers) w.kill('SIGKILL');
    for (const line of report) console.log(`# ${line}`);
  });

  /** The node each worker consumes through (its consuming connection, not its copies' one). */
  const workerNodes = async (): Promise<BrokerNode[]> => {
    const nodes = await Promise.all(['cluster-a', 'cluster-b'].map((name) => nodeOfConnection(cluster, `rabbit-worker ${name} pid `)));
    return nodes.filter((n): n is BrokerNode => n !== undefined);
  };

  /**
   * Runs the stream for 2 s, then `fault`, then 5 s more; waits until every confirmed number was handled.
   * `publisherUrl` orders the nodes the publisher tries.
   */
  async function phase(t: TestContext, name: string, fault: (stream: Stream) => Promise<void>, publisherUrl = cluster.url): Promise<Figures> {
    const stream = new Stream(publisherUrl, queue, name);
    await stream.start();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const reconnectsBefore = workers.map((w) => w.messages('reconnected; consuming again').length);
    const faultAt = Date.now();
    try {
      await fault(stream);
      await new Promise((resolve) => setTimeout(resolve, 5000));
    } finally {
      // also when the fault failed: a stream left publishing would keep the file from ending
      await stream.stop();
    }
    const confirmed = [...stream.confirmed];
    await eventually(() => {
      const handled = new Set(handledLines(workers, `${name}-`).map((h) => h.id));
      return confirmed.every((id) => handled.has(id));
    }, 180_000, `every confirmed message of "${name}" handled`);
    const lines = handledLines(workers, `${name}-`);
    const counts = new Map<string, number>();
    for (const { id } of lines) counts.set(id, (counts.get(id) ?? 0) + 1);
    const reconnects = workers.flatMap((w, i) => w.messages('reconnected; consuming again').slice(reconnectsBefore[i]).map((l) => Number(l.time) - faultAt));
    const figures: Figures = {
      published: confirmed.length,
      lost: confirmed.filter((id) => !counts.has(id)).length,
      duplicates: [...counts.values()].reduce((sum, n) => sum + n - 1, 0),
      silenceMs: longestSilence(lines.map((l) => l.time), faultAt, Math.max(...lines.map((l) => l.time))),
      confirmSilenceMs: longestSilence(stream.confirmTimes, faultAt, Math.max(...stream.confirmTimes)),
      reconnectMs: reconnects.length > 0 ? Math.min(...reconnects) : undefined,
    };
    const line = `${name}: published ${figures.published} (${stream.failures} publish(es) rejected), lost ${figures.lost}, duplicates ${figures.duplicates}, consuming stopped for at most ${seconds(figures.silenceMs)}, confirms for at most ${seconds(figures.confirmSilenceMs)}, first worker reconnected ${seconds(figures.reconnectMs)} after the fault began`;
    report.push(line);
    t.diagnostic(line);
    return figures;
  }

  it('stop_app of the node the workers consume through: they fail over to another node and resume within seconds', async (t) => {
    const [victim] = await workerNodes();
    assert.ok(victim !== undefined, 'the workers are connected');
    const figures = await phase(t, 'stop-app', async () => {
      await stopApp(victim);
    });
    const now = await workerNodes();
    assert.equal(now.length, 2, 'both workers consume again');
    assert.ok(now.every((n) => n !== victim), `no worker on the stopped node ${victim.name}`);
    await startApp(victim);
    assert.equal(figures.lost, 0);
    assert.ok(figures.reconnectMs !== undefined && figures.reconnectMs < 20_000, `reconnected after ${seconds(figures.reconnectMs)}`);
    assert.ok(figures.silenceMs < 30_000, `consuming stopped for ${seconds(figures.silenceMs)}`);
  });

  it("kill -9 of the quorum leader's VM: a new leader, nothing lost; the node restarts and rejoins", async (t) => {
    await eventually(async () => (await quorumMembers(cluster, queue)).online.length === 3, 60_000, 'three online replicas before the kill');
    const leader = await eventually(() => quorumLeader(cluster, queue), 30_000, 'a leader');
    const figures = await phase(t, 'kill-leader', async () => {
      await killVm(leader);
    });
    const newLeader = await eventually(() => quorumLeader(cluster, queue), 30_000, 'a new leader');
    assert.notEqual(newLeader.name, leader.name);
    const started = Date.now();
    await restart(leader);
    await waitRunning(cluster.nodes, undefined, 120_000);
    await eventually(async () => (await quorumMembers(cluster, queue)).online.length === 3, 60_000, 'the restarted replica back online');
    report.push(`kill-leader: the killed node ${leader.name} restarted and its replica was online again ${seconds(Date.now() - started)} after restart began`);
    assert.equal(figures.lost, 0);
    assert.ok(figures.silenceMs < 30_000, `consuming stopped for ${seconds(figures.silenceMs)}`);
  });

  it('stop_app of the node the publisher uses, workers elsewhere: the publisher fails over, nothing lost', async (t) => {
    const busy = new Set((await workerNodes()).map((n) => n.name));
    const index = cluster.nodes.findIndex((n) => !busy.has(n.name));
    assert.ok(index >= 0, `a node without workers (workers on ${[...busy].join(', ')})`);
    const target = cluster.nodes[index] as BrokerNode;
    // the URL order is the operator's choice: this publisher tries the worker-free node first
    const urls = cluster.url.split(',');
    const ordered = [...urls.slice(index), ...urls.slice(0, index)].join(',');
    let failedOverTo: BrokerNode | undefined;
    const figures = await phase(
      t,
      'stop-publisher-node',
      async () => {
        assert.equal((await nodeOfConnection(cluster, 'rabbit-worker publisher pid '))?.name, target.name, 'the publisher is on the worker-free node');
        await stopApp(target);
        failedOverTo = await eventually(() => nodeOfConnection(cluster, 'rabbit-worker publisher pid '), 30_000, 'the publisher connected again');
      },
      ordered,
    );
    await startApp(target);
    assert.ok(failedOverTo !== undefined && failedOverTo !== target, 'the publisher moved to another node');
    assert.equal(figures.lost, 0);
    assert.ok(figures.confirmSilenceMs < 30_000, `no publish confirmed for ${seconds(figures.confirmSilenceMs)}`);
    assert.ok(figures.silenceMs < 30_000, `consuming stopped for ${seconds(figures.silenceMs)}`);
  });

  it('a node that returns after 60 s: the workers consume elsewhere meanwhile, and the node rejoins', async (t) => {
    await eventually(async () => (await quorumMembers(cluster, queue)).online.length === 3, 60_000, 'three online replicas');
    const [victim] = await workerNodes();
    assert.ok(victim !== undefined);
    const figures = await phase(t, 'down-60s', async () => {
      await stopApp(victim);
      const stoppedAt = Date.now();
      // while it is away, consuming goes on elsewhere: checked in the middle of the outage
      await eventually(async () => (await workerNodes()).length === 2, 30_000, 'both workers consuming on other nodes');
      while (Date.now() - stoppedAt < 60_000) await new Promise((resolve) => setTimeout(resolve, 500));
      if (runningPid(victim) === undefined) {
        // seen once on the shared machine: the stopped node's VM was gone when its minute was up (not this
        // test's doing); the node still returns, on its data, and the report says so
        report.push(`down-60s: the VM of ${victim.name} was gone after its minute away; restarted on its data instead of start_app`);
        await restart(victim);
        await waitRunning(cluster.nodes, undefined, 120_000);
      } else await startApp(victim);
    });
    await eventually(async () => (await quorumMembers(cluster, queue)).online.length === 3, 60_000, 'the returned replica online');
    assert.equal(figures.lost, 0);
    assert.ok(figures.silenceMs < 30_000, `consuming stopped for ${seconds(figures.silenceMs)} of a 60 s outage`);
  });
});
