/**
 * The pure parts of the private-broker harness: option checks, and the parsing of what the RabbitMQ 3.10
 * CLI prints (samples copied from real output on this machine).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HarnessErrorCode, normalizeNodeOptions, parseConnections, parseQuorumStatus, startCluster, type NodeOptions } from '../harness/index.js';

const valid: NodeOptions = { name: 'rwt-ab12@localhost', amqpPort: 21000, distPort: 31000, dir: '/tmp/rwt-x/node' };

/** The field a HarnessError's message names, checked together with its code. */
function invalid(field: string) {
  return (error: { code?: string; message: string }): boolean => {
    assert.equal(error.code, HarnessErrorCode.OPTION_INVALID);
    assert.ok(error.message.includes(`${field} `), `"${error.message}" names ${field}`);
    return true;
  };
}

describe('harness: normalizeNodeOptions', () => {
  it('fills the documented defaults', () => {
    assert.deepEqual(normalizeNodeOptions(valid), { ...valid, extraConfig: [], advancedConfig: '[].', timeoutMs: 60_000 });
  });

  it('names the bad field', () => {
    assert.throws(() => normalizeNodeOptions({ ...valid, name: 'no-host' }), invalid('name'));
    assert.throws(() => normalizeNodeOptions({ ...valid, name: 'a b@localhost' }), invalid('name'));
    assert.throws(() => normalizeNodeOptions({ ...valid, amqpPort: 80 }), invalid('amqpPort'));
    assert.throws(() => normalizeNodeOptions({ ...valid, distPort: 1.5 }), invalid('distPort'));
    assert.throws(() => normalizeNodeOptions({ ...valid, distPort: valid.amqpPort }), invalid('distPort'));
    assert.throws(() => normalizeNodeOptions({ ...valid, dir: 'relative/dir' }), invalid('dir'));
    assert.throws(() => normalizeNodeOptions({ ...valid, extraConfig: ['a = 1', 'b = 2\nc = 3'] }), invalid('extraConfig[1]'));
    assert.throws(() => normalizeNodeOptions({ ...valid, advancedConfig: '[{rabbit, []}]' }), invalid('advancedConfig'));
    assert.throws(() => normalizeNodeOptions({ ...valid, timeoutMs: 10 }), invalid('timeoutMs'));
  });
});

describe('harness: startCluster options', () => {
  it('refuses bad options before starting anything', async () => {
    await assert.rejects(startCluster({ dir: 'relative' }), invalid('dir'));
    await assert.rejects(startCluster({ dir: '/tmp/rwt-c', size: 0 }), invalid('size'));
    await assert.rejects(startCluster({ dir: '/tmp/rwt-c', basePort: 60_000 }), invalid('basePort'));
    await assert.rejects(startCluster({ dir: '/tmp/rwt-c', namePrefix: 'a@b' }), invalid('namePrefix'));
  });
});

describe('harness: parsing the CLI', () => {
  it('list_connections: the holding node from the pid, the client-announced connection_name', () => {
    const output = [
      '<rwc-2cb607-2@localhost.1795848873.1792.0>\t127.0.0.1:43378 -> 127.0.0.1:20927\t[{"connection_name","probe \\"x\\""},{"product","amqplib"},{"capabilities",[{"publisher_confirms",true}]}]',
      '<rabbit@my.host.example.1795848873.12.0>\t127.0.0.1:5000 -> 127.0.0.1:5672\t[{"product","amqplib"}]',
      '',
    ].join('\n');
    assert.deepEqual(parseConnections(output), [
      { pid: '<rwc-2cb607-2@localhost.1795848873.1792.0>', node: 'rwc-2cb607-2@localhost', name: '127.0.0.1:43378 -> 127.0.0.1:20927', connectionName: 'probe "x"' },
      { pid: '<rabbit@my.host.example.1795848873.12.0>', node: 'rabbit@my.host.example', name: '127.0.0.1:5000 -> 127.0.0.1:5672', connectionName: undefined },
    ]);
  });

  it('quorum_status: leader, members and online, also with a member down and no quorum', () => {
    const healthy = `[
{"Node Name":"n2@localhost","Raft State":"leader","Log Index":2,"Commit Index":2,"Snapshot Index":"undefined","Term":1,"Machine Version":2}
,{"Node Name":"n3@localhost","Raft State":"follower","Log Index":2,"Commit Index":2,"Snapshot Index":"undefined","Term":1,"Machine Version":2}
,{"Node Name":"n1@localhost","Raft State":"noproc","Log Index":"","Commit Index":"","Snapshot Index":"","Term":"","Machine Version":""}
]`;
    const status = parseQuorumStatus(healthy);
    assert.equal(status.leader, 'n2@localhost');
    assert.deepEqual(status.members, ['n1@localhost', 'n2@localhost', 'n3@localhost']);
    assert.deepEqual(status.online, ['n2@localhost', 'n3@localhost']);
    const lost = `[
{"Node Name":"n1@localhost","Raft State":"pre_vote","Log Index":3,"Commit Index":3,"Snapshot Index":"undefined","Term":2,"Machine Version":2}
,{"Node Name":"n3@localhost","Raft State":["nodedown","n3@localhost"],"Log Index":"","Commit Index":"","Snapshot Index":"","Term":"","Machine Version":""}
,{"Node Name":"n2@localhost","Raft State":["nodedown","n2@localhost"],"Log Index":"","Commit Index":"","Snapshot Index":"","Term":"","Machine Version":""}
]`;
    const noQuorum = parseQuorumStatus(lost);
    assert.equal(noQuorum.leader, undefined);
    assert.deepEqual(noQuorum.online, ['n1@localhost']);
    assert.equal(noQuorum.states['n3@localhost'], 'nodedown');
  });
});
