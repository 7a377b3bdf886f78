import { execFile } from 'node:child_process';

export interface CtlResult {
  ok: boolean;
  output: string;
  ms: number;
}

/**
 * Runs `rabbitmqctl [-n node] …`, bounded in time (a hung CLI must not hang the run). The cookie is the
 * system one: HOME is the rabbitmq user's home, as for the main node (the Debian wrapper switches to that
 * user when we are root).
 */
export function rabbitmqctl(node: string | undefined, args: string[], timeoutMs = 30_000): Promise<CtlResult> {
  const started = Date.now();
  const argv = node === undefined ? args : ['-n', node, ...args];
  return new Promise((resolve) => {
    execFile('rabbitmqctl', argv, { timeout: timeoutMs, env: { ...process.env, HOME: '/var/lib/rabbitmq' }, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ ok: error === null, output: `${stdout}${stderr}`.trim(), ms: Date.now() - started });
    });
  });
}
