/**
 * Proves the private-broker harness (test/harness/) with raw amqplib: the faults it injects really happen
 * on the broker, and what it reports (leaders, members, connections, running nodes) is true.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import {
  beamsNamed,
  closeConnections,
  freeNodePorts,
  HarnessErrorCode,
  runningPid,
  startNode,
  FAST_CHANNEL_TICK,
  killVm,
  memoryAlarmRaised,
  nodeOfConnection,
  quorumLeader,
  quorumMembers,
  restart,
  runningNodes,
  setMemoryAlarm,
  startApp,
  stopApp,
  waitRunning,
  type BrokerNode,
} from '../harness/index.js';
import { eventually } from '../helpers/broker.js';
import { privateBrokers } from '../helpers/private-broker.js';

const unique = (prefix: string): string => `${prefix}-${randomBytes(3).toString('hex')}`;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** A connection with a name the broker lists, whose errors are recorded rather than thrown. */
async function connect(url: string, name: string): Promise<{ connection: ChannelModel; closed: () => boolean }> {
  const connection = await amqp.connect(url, { clientProperties: { connection_name: name } });
  let closed = false;
  connection.on('error', () => {});
  connection.on('close', () => (closed = true));
  return { connection, closed: () => closed };
}

/** Settles within `ms` or fails naming `what`: a bounded wait on an event. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('broker harness: private nodes and a 3-node cluster', () => {
  const brokers = privateBrokers();

  describe('one private node', () => {
    let node: BrokerNode;
    before(async () => {
      // consumer_timeout is checked on each channel tick (60 s on 3.10): the fast tick makes 5 s mean 5 s
      node = await brokers.node({ extraConfig: ['consumer_timeout = 5000'], advancedConfig: FAST_CHANNEL_TICK });
    });

    it('consumer_timeout = 5000: an unacked delivery closes its channel with 406 after 5 s; the connection stays up', { timeout: 60_000 }, async (t) => {
      const { connection, closed } = await connect(node.url, unique('harness-timeout'));
      try {
        const channel = await connection.createChannel();
        const queue = unique('timeout');
        await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
        channel.sendToQueue(queue, Buffer.from('left unacked'), { persistent: true });
        const channelError = new Promise<{ code?: number }>((resolve) => channel.once('error', resolve));
        let deliveredAt = 0;
        await channel.consume(queue, () => (deliveredAt = Date.now()), { noAck: false });
        const error = await within(channelError, 30_000, 'the channel to be closed by the broker');
        const held = Date.now() - deliveredAt;
        assert.ok(deliveredAt > 0, 'the message was delivered');
        assert.equal(error.code, 406, 'PRECONDITION_FAILED');
        assert.ok(held >= 5000, `closed after ${held} ms: not before the 5 s timeout`);
        assert.ok(held < 20_000, `closed after ${held} ms: the timeout is 5 s and the tick 1 s`);
        // the connection survives, and the message went back to the queue
        assert.equal(closed(), false, 'the connection is still open');
        const other = await connection.createChannel();
        await eventually(async () => (await other.checkQueue(queue)).messageCount === 1, 10_000, 'the message back in its queue');
        t.diagnostic(`channel closed ${seconds(held)} after the delivery`);
      } finally {
        await connection.close().catch(() => {});
      }
    });

    it('memory alarm: a publishing connection is blocked (with a reason) and its publish completes only once unblocked', { timeout: 60_000 }, async (t) => {
      const { connection } = await connect(node.url, unique('harness-alarm'));
      const { connection: observer } = await connect(node.url, unique('harness-observer'));
      const events: string[] = [];
      let blockedReason: unknown;
      const blocked = new Promise<void>((resolve) => connection.once('blocked', (reason: unknown) => (events.push('blocked'), (blockedReason = reason), resolve())));
      const unblocked = new Promise<void>((resolve) => connection.once('unblocked', () => (events.push('unblocked'), resolve())));
      try {
        const channel = await connection.createConfirmChannel();
        const queue = unique('alarm');
        await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
        const started = Date.now();
        await setMemoryAlarm(node, true);
        t.diagnostic(`alarm raised and verified in ${seconds(Date.now() - started)}`);
        let confirm: Promise<void>;
        try {
          assert.equal(await memoryAlarmRaised(node), true);
          // 3.10 blocks a connection when it publishes during an alarm, not when the alarm goes off
          channel.sendToQueue(queue, Buffer.from('while blocked'), { persistent: true });
          confirm = channel.waitForConfirms().then(() => void events.push('confirmed'));
          void confirm.catch(() => {}); // awaited below; a failure before that must not leak as unhandled
          await within(blocked, 15_000, "the connection's blocked event");
          assert.equal(typeof blockedReason, 'string');
          assert.ok((blockedReason as string).length > 0, 'blocked carries a reason');
          const peek = await observer.createChannel();
          assert.equal((await peek.checkQueue(queue)).messageCount, 0, 'the broker holds the publish while blocked');
          assert.deepEqual(events, ['blocked'], 'no confirm while blocked');
        } finally {
          await setMemoryAlarm(node, false);
        }
        await within(unblocked, 15_000, "the connection's unblocked event");
        await within(confirm, 15_000, 'the confirm of the publish made while blocked');
        assert.deepEqual(events, ['blocked', 'unblocked', 'confirmed']);
        assert.equal(await memoryAlarmRaised(node), false);
        t.diagnostic(`blocked reason: ${String(blockedReason)}`);
      } finally {
        await connection.close().catch(() => {});
        await observer.close().catch(() => {});
      }
    });

    it('a node that cannot boot fails loudly, with the cause from its log, and leaves no VM behind', { timeout: 60_000 }, async () => {
      const before = new Set(brokers.names);
      await assert.rejects(brokers.node({ extraConfig: ['no_such_setting = 1'] }), (error: { code?: string; message: string }) => {
        assert.equal(error.code, HarnessErrorCode.NODE_START_FAILED);
        assert.match(error.message, /no_such_setting/, 'the log lines that say why');
        return true;
      });
      const failed = [...brokers.names].filter((n) => !before.has(n));
      assert.equal(failed.length, 1);
      assert.deepEqual(beamsNamed(failed), [], 'no VM left');
    });

    it('a name already running is refused before anything starts; the running node is untouched', { timeout: 30_000 }, async () => {
      const [ports] = await freeNodePorts(1);
      assert.ok(ports !== undefined);
      const dir = mkdtempSync(join(tmpdir(), 'rwt-dup-'));
      try {
        await assert.rejects(startNode({ name: node.name, ...ports, dir }), (error: { code?: string }) => error.code === HarnessErrorCode.NODE_NAME_TAKEN);
        assert.ok(runningPid(node) !== undefined, 'the first node still runs');
        assert.equal(await memoryAlarmRaised(node), false, 'and answers');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('closeConnections closes the matching connection of the node, and only that one', { timeout: 30_000 }, async () => {
      const victimName = unique('harness-victim');
      const victim = await connect(node.url, victimName);
      const bystander = await connect(node.url, unique('harness-bystander'));
      // amqplib reports a server's connection.close 320 on 'close', with the error (not on 'error')
      const closedBy = new Promise<{ code?: number } | undefined>((resolve) => victim.connection.once('close', resolve));
      try {
        assert.equal(await closeConnections(node, victimName), 1);
        assert.equal((await within(closedBy, 10_000, 'the victim to be closed'))?.code, 320, 'CONNECTION_FORCED');
        assert.equal(bystander.closed(), false);
        await (await bystander.connection.createChannel()).close();
      } finally {
        await victim.connection.close().catch(() => {});
        await bystander.connection.close().catch(() => {});
      }
    });
  });

  it('3-node cluster: a quorum queue outlives the stop_app of its leader; a killed node restarts and rejoins', { timeout: 150_000 }, async (t) => {
    let started = Date.now();
    const cluster = await brokers.cluster();
    t.diagnostic(`cluster of 3 started in ${seconds(Date.now() - started)}`);
    const [first] = cluster.nodes;
    assert.ok(first !== undefined);
    assert.equal(cluster.nodes.length, 3);
    assert.deepEqual(cluster.url.split(','), cluster.nodes.map((n) => n.url), 'node 1 first');
    assert.deepEqual(await runningNodes(cluster.nodes), cluster.nodes.map((n) => n.name).sort());

    const publisherName = unique('harness-publisher');
    const publisher = await connect(first.url, publisherName);
    const consumers: ChannelModel[] = [];
    try {
      assert.equal((await nodeOfConnection(cluster, publisherName))?.name, first.name, 'the publisher is on node 1');
      const channel = await publisher.connection.createConfirmChannel();
      const queue = unique('cluster');
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      const members = await quorumMembers(cluster, queue);
      assert.equal(members.members.length, 3, `members: ${members.members.join(', ')}`);
      for (let i = 0; i < 100; i++) channel.sendToQueue(queue, Buffer.from(String(i)), { persistent: true });
      await channel.waitForConfirms();

      const leader = await quorumLeader(cluster, queue);
      assert.ok(leader !== undefined, 'the queue has a leader');
      started = Date.now();
      await stopApp(leader);
      const stopped = Date.now() - started;
      const newLeader = await eventually(async () => {
        const now = await quorumLeader(cluster, queue).catch(() => undefined);
        return now !== undefined && now !== leader ? now : undefined;
      }, 30_000, 'a new leader');
      t.diagnostic(`stop_app of the leader took ${seconds(stopped)}; new leader ${newLeader.name} ${seconds(Date.now() - started)} after stop_app began`);

      // every message, through a node that is not the stopped one
      const via = cluster.nodes.find((n) => n !== leader) as BrokerNode;
      const consumer = await connect(via.url, unique('harness-consumer'));
      consumers.push(consumer.connection);
      const consuming = await consumer.connection.createChannel();
      await consuming.prefetch(100);
      const seen = new Set<string>();
      await consuming.consume(queue, (message: ConsumeMessage | null) => {
        if (message === null) return;
        seen.add(message.content.toString());
        consuming.ack(message);
      });
      await eventually(() => seen.size === 100, 30_000, `100 messages through ${via.name} (got ${seen.size})`);
      assert.deepEqual([...seen].map(Number).sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));

      started = Date.now();
      await startApp(leader);
      await eventually(async () => (await quorumMembers(cluster, queue)).online.length === 3, 30_000, 'three online members again');
      t.diagnostic(`start_app → 3 online members in ${seconds(Date.now() - started)}`);
      assert.equal((await quorumMembers(cluster, queue)).members.length, 3);

      // a power cut on one node, then the same node again on its data
      const victim = cluster.nodes[2] as BrokerNode;
      started = Date.now();
      const pid = await killVm(victim);
      assert.ok(pid > 0);
      const afterKill = await eventually(async () => {
        const running = await runningNodes(cluster.nodes);
        return running !== undefined && !running.includes(victim.name) ? running : undefined;
      }, 30_000, `${victim.name} to leave the running nodes`);
      assert.equal(afterKill.length, 2);
      await restart(victim);
      const restarted = Date.now() - started;
      await waitRunning(cluster.nodes, undefined, 60_000);
      assert.deepEqual(await runningNodes(cluster.nodes), cluster.nodes.map((n) => n.name).sort());
      t.diagnostic(`kill → restart returned ${seconds(restarted)}, → 3 running nodes ${seconds(Date.now() - started)}`);
    } finally {
      await publisher.connection.close().catch(() => {});
      for (const c of consumers) await c.close().catch(() => {});
    }
  });
});
