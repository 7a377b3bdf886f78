import { execFileSync } from 'node:child_process';

/** rabbitmqctl on the local node (the tests run as root, as CI does). */
export function rabbitmqctl(args: string[]): string {
  return execFileSync('rabbitmqctl', ['-q', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
}

/**
 * Closes the broker connections whose connection_name mentions `pid ${pid}`, as a network fault or an
 * operator would, without touching the connections of other tests running at the same time.
 */
export function closeConnectionsOfPid(pid: number): number {
  const lines = rabbitmqctl(['list_connections', 'pid', 'client_properties']).split('\n');
  let closed = 0;
  for (const line of lines) {
    if (!line.includes(`pid ${pid}"`) && !line.includes(`pid ${pid}>>`)) continue;
    const connectionPid = line.split('\t')[0];
    if (connectionPid === undefined || !connectionPid.startsWith('<')) continue;
    rabbitmqctl(['close_connection', connectionPid, 'test: simulated outage']);
    closed++;
  }
  return closed;
}
