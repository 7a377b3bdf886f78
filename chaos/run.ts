/**
 * `npm run chaos`: publishes N numbered messages (and a few poison ones) to three worker types running
 * under `rabbit-worker supervise`, injects faults meanwhile (SIGKILL, heap exhaustion, closed connections,
 * a broker restart), waits for every message, and checks that none was lost. With --cluster, the same
 * against a 3-node cluster with faults on its nodes. See docs/chaos.md.
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rabbitmqctl, startCluster, startNode, stopNode, type BrokerNode, type Cluster } from '../test/harness/index.js';
import { cleanup, installSignalCleanup, onCleanup } from './cleanup.js';
import { connectAny } from './connect.js';
import { DeadLetterReader } from './dead-letters.js';
import { planFaults, runFaults, type Fault } from './faults.js';
import { HELP, parseOptions, type ChaosOptions } from './options.js';
import { chaosTypes, encode, numberId, poisonId, typeOfNumber, typeOfPoison, type ChaosType } from './plan.js';
import { progressLine } from './progress.js';
import { ChaosPublisher, type Outgoing } from './publisher.js';
import { RecordTally } from './records.js';
import { recoveries } from './recovery.js';
import { seededRandom } from './rng.js';
import { summarize } from './summary.js';
import { readInterruptions } from './worker-log.js';
import { snapshotPackage } from './snapshot.js';
import { startSupervisor, status, stopSupervisor, usePackage, waitAllRunning, writeConfig, freePort } from './supervisor.js';

/** Share of the numbered messages published before the faults begin; the rest is paced over the fault phase. */
const UPFRONT_SHARE = 0.3;
/** How long the broker application stays stopped during a restart fault. */
const OUTAGE_SECONDS = 4;
const PROGRESS_EVERY_MS = 5000;
/** The run's own broker node (docs/chaos.md names it): fixed, so that a leftover one is recognised. */
const CHAOS_NODE = { name: 'rwchaos@localhost', amqpPort: 5692, distPort: 25692 } as const;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<number> {
  let options: ChaosOptions | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${HELP}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const opts = options;
  const t0 = Date.now();
  const runDir = mkdtempSync(join(tmpdir(), 'rw-chaos-'));
  const recordsDir = join(runDir, 'records');
  mkdirSync(recordsDir);
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
    appendFileSync(join(runDir, 'chaos.log'), `${new Date().toISOString()} ${line}\n`);
  };
  let stopped = false;
  installSignalCleanup(log, () => (stopped = true));
  let keepDir = opts.keep;
  try {
    const code = await chaos(opts, runDir, recordsDir, log, () => stopped);
    if (code !== 0) keepDir = true;
    return code;
  } catch (error) {
    keepDir = true;
    log(`chaos run failed: ${(error as Error).message}`);
    return 1;
  } finally {
    await cleanup(log);
    log(`done in ${Math.round((Date.now() - t0) / 1000)} s`);
    if (keepDir) log(`run directory kept: ${runDir} (chaos.log, supervisor.log, records/)`);
    else rmSync(runDir, { recursive: true, force: true });
  }
}

async function chaos(opts: ChaosOptions, runDir: string, recordsDir: string, log: (line: string) => void, isStopped: () => boolean): Promise<number> {
  const t0 = Date.now();
  const random = seededRandom(opts.seed);
  const runId = t0.toString(36);
  log(`chaos run ${runId}: ${opts.messages} messages + ${opts.poison} poison, ${opts.seconds} s of faults, seed ${opts.seed}; run directory ${runDir}`);

  // 1. The broker: a node of our own (or a cluster of three with --cluster), unless --url.
  let url: string;
  let node: string | undefined;
  let brokerNode: BrokerNode | undefined;
  let cluster: Cluster | undefined;
  if (opts.cluster) {
    log(`starting a 3-node RabbitMQ cluster rwchaos-${runId}-{1,2,3}@localhost …`);
    const started = await startCluster({ dir: join(runDir, 'cluster'), namePrefix: `rwchaos-${runId}`, log });
    cluster = started;
    onCleanup('stop the chaos cluster', () => started.stop());
    url = started.url;
    node = undefined;
    log(`cluster up after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${started.nodes.map((n) => `${n.name} on ${n.amqpPort}`).join(', ')}; workers and publisher get every node, node 1 first`);
  } else if (opts.url !== undefined) {
    url = opts.url;
    node = undefined;
    log('--url given: the broker faults (close_all_connections, stop_app) are skipped: they are only ever run on a node of our own');
  } else {
    log(`starting RabbitMQ node ${CHAOS_NODE.name} on 127.0.0.1:${CHAOS_NODE.amqpPort} …`);
    const broker = await startNode({ ...CHAOS_NODE, dir: join(runDir, 'node') });
    onCleanup('stop the chaos node', () => stopNode(broker));
    url = broker.url;
    node = broker.name;
    brokerNode = broker;
    log(`node ${broker.name} up after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  // 2. The workers, under the supervisor. They declare their own queues: the harness never guesses the
  // framework's queue arguments.
  usePackage(snapshotPackage(join(runDir, 'package')));
  const types = chaosTypes(runId);
  const configPath = writeConfig(runDir, recordsDir, types, url, await freePort());
  const sup = startSupervisor(configPath, runDir);
  onCleanup('stop the supervisor', () => stopSupervisor(sup, 5000));
  if (opts.url !== undefined) onCleanup('delete the run queues', () => deleteQueues(url, types));
  await waitAllRunning(sup, types, 120_000);
  log(`supervisor up: ${types.map((t) => `${t.name} ×${t.processes} (${t.queueType}, isolation ${t.isolation}, prefetch ${t.prefetch})`).join(', ')}`);

  // 3. The publisher; numbers are confirmed one by one.
  const publisher = new ChaosPublisher(url, log);
  await publisher.start();
  onCleanup('close the publisher', () => publisher.close());
  const confirmed = new Uint8Array(opts.messages);
  publisher.onConfirm = (item) => {
    if (item.id.startsWith('n-')) confirmed[Number(item.id.slice(2))] = 1;
  };
  let nextNumber = 0;
  const publishUpTo = (end: number): void => {
    const items: Outgoing[] = [];
    for (; nextNumber < Math.min(end, opts.messages); nextNumber++) {
      items.push({ queue: typeOfNumber(types, nextNumber).queue, id: numberId(nextNumber), body: encode({ n: nextNumber }), sends: 0 });
    }
    if (items.length > 0) publisher.enqueue(items);
  };
  let nextPoison = 0;
  const publishPoison = (count: number): string => {
    const ids: string[] = [];
    const items: Outgoing[] = [];
    for (; count > 0 && nextPoison < opts.poison; count--, nextPoison++) {
      const type = typeOfPoison(types, nextPoison);
      items.push({ queue: type.queue, id: poisonId(nextPoison), body: encode({ poison: nextPoison }), sends: 0 });
      ids.push(`${poisonId(nextPoison)} → ${type.name}`);
    }
    if (items.length > 0) publisher.enqueue(items);
    return ids.length > 0 ? `published ${ids.join(', ')}` : 'no poison left to publish';
  };

  const kinds = planFaults(opts.seconds, random, opts.cluster);
  const poisonFaults = kinds.filter((k) => k === 'poison').length;
  const upfrontPoison = Math.max(0, opts.poison - 2 * poisonFaults);
  const upfront = Math.floor(opts.messages * UPFRONT_SHARE);
  const publishStart = Date.now();
  publishUpTo(upfront);
  publishPoison(upfrontPoison);
  if (!(await publisher.idle(300_000))) throw new Error('the first messages were not confirmed within 300 s');
  log(`published ${upfront} messages and ${upfrontPoison} poison up front in ${((Date.now() - publishStart) / 1000).toFixed(1)} s; fault plan: ${kinds.join(', ')}`);

  // 4. Progress, from the workers' record files.
  const tally = new RecordTally(recordsDir, opts.messages);
  const faults: Fault[] = [];
  let phase = 'faults';
  const progress = setInterval(() => {
    tally.poll();
    log(progressLine(Date.now() - t0, opts.messages, tally, publisher, faults, phase));
  }, PROGRESS_EVERY_MS);
  onCleanup('stop the progress line', async () => clearInterval(progress));

  // 5. The fault phase, with the rest of the messages paced over it so that every type has work when a
  // fault hits and when it recovers.
  const faultStart = Date.now();
  const pacer = setInterval(() => {
    const share = Math.min(1, (Date.now() - faultStart) / (opts.seconds * 1000));
    publishUpTo(upfront + Math.floor((opts.messages - upfront) * share));
  }, 100);
  onCleanup('stop the pacer', async () => clearInterval(pacer));
  const done = await runFaults(
    kinds,
    opts.seconds,
    {
      node,
      ...(brokerNode !== undefined ? { brokerNode } : {}),
      ...(cluster !== undefined ? { cluster } : {}),
      queues: types.map((t) => t.queue),
      configPath,
      outageSeconds: OUTAGE_SECONDS,
      random,
      publishPoison,
      log,
      stopped: isStopped,
      onFault: (fault) => faults.push(fault),
    },
    faultStart,
  );
  while (Date.now() - faultStart < opts.seconds * 1000 && !isStopped()) await sleep(100);
  clearInterval(pacer);
  publishUpTo(opts.messages);
  publishPoison(opts.poison);
  if (isStopped()) return 130;
  log(`fault phase over: ${done.length} faults; waiting for the publisher (${publisher.outstanding} unconfirmed)`);
  if (!(await publisher.idle(300_000))) log(`WARNING: ${publisher.outstanding} message(s) still unconfirmed by the broker; they are not counted as published`);

  // 6. Wait until every confirmed number was handled or dead-lettered, and every poison dead-lettered.
  phase = 'draining';
  const deadLetters = new DeadLetterReader();
  await deadLetters.start(url, types.map((t) => t.queue));
  onCleanup('close the dead-letter reader', () => deadLetters.close());
  const drainDeadline = Date.now() + opts.drainSeconds * 1000;
  let missing = Number.POSITIVE_INFINITY;
  while (Date.now() < drainDeadline && !isStopped()) {
    tally.poll();
    missing = countMissing(confirmed, tally, deadLetters, opts.poison);
    if (missing === 0) break;
    await sleep(1000);
  }
  if (isStopped()) return 130;
  const endAt = Date.now();
  log(missing === 0 ? `every message handled or dead-lettered, ${((endAt - t0) / 1000).toFixed(1)} s after the start` : `WARNING: ${missing} message(s) still missing after ${opts.drainSeconds} s of waiting`);
  if (missing > 0) await logStatus(configPath, log);

  // 7. Stop the workers as an operator would, then read what they left behind.
  phase = 'stopping';
  clearInterval(progress);
  const stop = await stopSupervisor(sup, 60_000);
  log(`supervisor stopped with SIGTERM${stop === 'killed' ? ' (some processes had to be SIGKILLed)' : ''}`);
  await sleep(1000); // the last dead letters, published by stopping workers
  tally.poll();
  const leftInQueues = await queueDepths(url, types);

  // for a look afterwards (with --keep): the faults as they happened, next to the record files
  writeFileSync(join(runDir, 'faults.json'), `${JSON.stringify({ faultStart, endAt, faults }, null, 2)}\n`);
  const finalRecoveries = recoveries(faults, tally.timesByType, doneAtByType(types, confirmed, tally, deadLetters), endAt);
  const summary = summarize({
    messages: opts.messages,
    poison: opts.poison,
    confirmed,
    resent: publisher.resent,
    tally,
    deadLetters,
    faults,
    recoveries: finalRecoveries,
    types,
    leftInQueues,
    interruptions: readInterruptions(sup.logFile),
    startedAt: faultStart,
  });
  log('');
  for (const r of finalRecoveries) {
    const text = r.measured ? `${Math.round(r.ms)} ms${r.open ? '+ (still silent at the next fault)' : ''} (${r.type})` : '- (the next fault followed at once)';
    log(`recovery after ${r.fault.kind.padEnd(7)} at +${((r.fault.startedAt - faultStart) / 1000).toFixed(1).padStart(5)} s: ${text}`);
  }
  log('');
  for (const line of summary.lines) log(line);
  return summary.lost > 0 ? 1 : 0;
}

/** Confirmed numbers neither handled nor dead-lettered, plus poison not dead-lettered. */
function countMissing(confirmed: Uint8Array, tally: RecordTally, deadLetters: DeadLetterReader, poison: number): number {
  let missing = 0;
  for (let n = 0; n < confirmed.length; n++) if (confirmed[n] === 1 && tally.counts[n] === 0 && !deadLetters.numbered.has(n)) missing += 1;
  for (let k = 0; k < poison; k++) if (!deadLetters.poison.has(k)) missing += 1;
  return missing;
}

/** When each type had handled every one of its numbers (a silence after that is no outage); dead letters count as done. */
function doneAtByType(types: ChaosType[], confirmed: Uint8Array, tally: RecordTally, deadLetters: DeadLetterReader): Map<string, number> {
  const doneAt = new Map<string, number>(types.map((t) => [t.name, 0]));
  for (let n = 0; n < confirmed.length; n++) {
    if (tally.counts[n] === 0 && deadLetters.numbered.has(n)) continue;
    const type = typeOfNumber(types, n).name;
    const at = tally.counts[n] === 0 ? Number.POSITIVE_INFINITY : (tally.firstAt[n] as number);
    if (at > (doneAt.get(type) ?? 0)) doneAt.set(type, at);
  }
  return doneAt;
}

async function logStatus(configPath: string, log: (line: string) => void): Promise<void> {
  try {
    const s = await status(configPath);
    for (const p of s.processes) log(`  ${p.name}: ${p.state} pid ${p.pid ?? '-'} restarts ${p.restarts} last exit ${p.lastExit?.description ?? '-'}${p.fatalReason ? ` FATAL ${p.fatalReason}` : ''}`);
  } catch (error) {
    log(`  status unavailable: ${(error as Error).message}`);
  }
}

/** Messages left in each work queue once the workers stopped: where missing messages may be waiting. */
async function queueDepths(url: string, types: ChaosType[]): Promise<Map<string, number> | undefined> {
  try {
    const { connection } = await connectAny(url, { name: 'chaos queue depths' });
    try {
      const channel = await connection.createChannel();
      const depths = new Map<string, number>();
      for (const t of types) depths.set(t.queue, (await channel.checkQueue(t.queue)).messageCount);
      return depths;
    } finally {
      await connection.close().catch(() => {});
    }
  } catch {
    return undefined;
  }
}

/** With --url the queues live on a shared broker: remove the run's queues (work, dead-letter, retry). */
async function deleteQueues(url: string, types: ChaosType[]): Promise<void> {
  const listed = await rabbitmqctl(undefined, ['list_queues', '-q', '--no-table-headers', 'name']);
  const names = new Set(types.flatMap((t) => [t.queue, `${t.queue}.dlq`]));
  if (listed.ok) for (const name of listed.output.split('\n').map((l) => l.trim())) if (types.some((t) => name.startsWith(`${t.queue}.`))) names.add(name);
  const { connection } = await connectAny(url, { name: 'chaos cleanup' });
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    for (const name of names) await channel.deleteQueue(name).catch(() => {});
  } finally {
    await connection.close().catch(() => {});
  }
}

// exit explicitly: a connection that failed to close must not keep the run alive
process.exit(await main());
