/**
 * What the per-message work of invokeCallback() costs on the hot path, in-process (no broker: only the
 * work around the callback), in fresh processes, modes alternating:
 * - `bare`: the callback called and its promise awaited, nothing around it (invokeCallback before typed
 *   messages, logs and tracing);
 * - `default`: invokeCallback as it is, no tracer provider: the log context (AsyncLocalStorage) and the
 *   tracing check (one global read);
 * - `schema`: the same with a zod schema on the worker (the body parsed and validated once);
 * - `traced`: an OpenTelemetry SDK registered (batch processor, dropping exporter): a `process` span each.
 * ns per message, median of the rounds; the ratio to the broker's own ~35–45 µs per message is what counts.
 *
 * Run: node --import tsx bench/message-path-cost.ts [rounds]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './lib/stats.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const rounds = Number(process.argv[2] ?? 5);
const MODES = ['bare', 'default', 'schema', 'traced'] as const;

const SCRIPT = `
const mode = process.env.MODE;
if (mode === 'traced') {
  const { BatchSpanProcessor, NodeTracerProvider } = await import('@opentelemetry/sdk-trace-node');
  new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor({ export: (_s, done) => done({ code: 0 }), shutdown: async () => {} })] }).register();
}
const { z } = await import('zod');
const { invokeCallback } = await import('./src/worker/invoke-callback.ts');
const { MessageAdapter } = await import('./src/worker/message-adapter.ts');
const { Logger } = await import('./src/log/logger.ts');
const logger = new Logger();
const body = Buffer.from(JSON.stringify({ id: 42, width: 300 }));
const task = {
  schema: mode === 'schema' ? z.object({ id: z.number(), width: z.number() }) : undefined,
  async callback(message) { message.ack(); },
};
const data = (id) => ({ id, body, queue: 'q', exchange: '', routingKey: 'q', redelivered: false, attempt: 1, properties: { headers: {}, messageId: 'm' + id } });
const settle = () => {};
function bare(adapter, done) { task.callback(adapter).then(() => done(), done); }
const run = mode === 'bare' ? bare : (adapter, done) => invokeCallback(task, adapter, done);
async function round(n) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await new Promise((resolve) => run(new MessageAdapter(data(i), settle, logger), resolve));
  return Number(process.hrtime.bigint() - t) / n;
}
await round(100000);
const samples = [];
for (let i = 0; i < 3; i++) samples.push(await round(200000));
samples.sort((a, b) => a - b);
process.stdout.write(String(samples[1]));
`;

const results: Record<string, number[]> = Object.fromEntries(MODES.map((m) => [m, []]));
for (let r = 0; r < rounds; r++) {
  for (const mode of MODES) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], { cwd: ROOT, env: { ...process.env, MODE: mode }, encoding: 'utf8' });
    (results[mode] as number[]).push(Number(out));
  }
}
const bare = median(results.bare as number[]);
process.stdout.write(`invokeCallback per message, median of ${rounds} rounds (ns; added over bare)\n`);
for (const mode of MODES) {
  const ns = median(results[mode] as number[]);
  process.stdout.write(`  ${mode.padEnd(8)} ${ns.toFixed(0).padStart(6)} ns  ${mode === 'bare' ? '' : `+${(ns - bare).toFixed(0)} ns`}\n`);
}
