/**
 * RabbitMQ nodes of our own, for tests and the chaos run: brokers that can be stopped, killed, alarmed
 * and reconfigured without touching the system node (rabbit@localhost, 5672) that everyone else uses.
 *
 * It lives in `test/harness/` (type-checked and linted with the tests, never run as a test file) and
 * depends on nothing but Node, the RabbitMQ CLI tools and /proc: `chaos/` imports it from here, and
 * `test/helpers/private-broker.ts` wraps it for node:test files. See test/harness/README.md.
 *
 * - a node: {@link startNode}, {@link stopNode}, {@link restart}, {@link logTail}
 * - faults: {@link stopApp}, {@link startApp}, {@link killVm}, {@link setMemoryAlarm}, {@link closeConnections}
 * - a cluster: {@link startCluster}, {@link quorumLeader}, {@link quorumMembers}, {@link nodeOfConnection},
 *   {@link runningNodes}, {@link waitRunning}
 */
export { startNode, stopNode, restart, logTail, runningPid, normalizeNodeOptions, FAST_CHANNEL_TICK, type BrokerNode, type NodeOptions } from './node.js';
export { stopApp, startApp, killVm, setMemoryAlarm, memoryAlarmRaised } from './faults.js';
export { listConnections, parseConnections, nodeOfConnection, closeConnections, askAny, type ConnectionInfo, type HasNodes } from './connections.js';
export { startCluster, clusterNodeNames, runningNodes, waitRunning, type Cluster, type ClusterOptions } from './cluster.js';
export { quorumLeader, quorumMembers, parseQuorumStatus, type QuorumMembers } from './queues.js';
export { rabbitmqctl, runCli, cliOrThrow, evalOn, COOKIE_HOME, type CliResult, type RabbitTool } from './cli.js';
export { freeNodePorts, isPortFree, busyPorts, type NodePorts } from './ports.js';
export { listBeams, beamsNamed, describeBeam, type BeamProcess } from './processes.js';
export { HarnessError, HarnessErrorCode } from './errors.js';
export { alive, signal, waitGone } from './processes.js';
