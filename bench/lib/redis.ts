import { execFileSync, spawnSync } from 'node:child_process';

function ping(port: number): boolean {
  const result = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'ping'], { encoding: 'utf8', timeout: 5000 });
  return result.status === 0 && result.stdout.trim() === 'PONG';
}

/**
 * Makes sure a Redis answers on loopback for BullMQ. Returns a function that stops it again if this run
 * started it (a bench run leaves nothing behind), or undefined when Redis cannot be had (BullMQ skipped).
 */
export async function ensureRedis(port: number): Promise<{ stop: () => void } | undefined> {
  if (ping(port)) return { stop: () => {} };
  try {
    execFileSync('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return undefined;
  }
  for (let i = 0; i < 50; i++) {
    if (ping(port)) {
      return { stop: () => void spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'shutdown', 'nosave'], { timeout: 5000 }) };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}
