/**
 * What turning source maps on costs where callbacks run (`process.setSourceMapsEnabled(true)`, as the
 * loader does before it imports a compiled worker), measured in fresh processes, maps off and on alternating:
 * - an error's stack: throw in a compiled callback and read `error.stack` (what a failed callback's dead
 *   letter carries), µs per error;
 * - the healthy hot path: the same callback when nothing throws, ns per call;
 * - loading a package that ships source maps after maps are on (Node then reads each module's .map file):
 *   `@typescript-eslint/scope-manager`, 170-odd modules with a map each, ms.
 *
 * Run: node --import tsx bench/source-map-cost.ts [rounds]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { prepareWorker } from '../src/worker/compile/prepare-worker.js';
import { median } from './lib/stats.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const rounds = Number(process.argv[2] ?? 5);

const SCRIPT = `
const on = process.env.MAPS === 'on';
if (on) process.setSourceMapsEnabled(true);
const { createRequire } = await import('node:module');
let t = performance.now();
const W = (await import(process.env.WORKER_URL)).default;
const w = new (W.default ?? W)();
const importMs = performance.now() - t;
let stackChars = 0;
const errors = 20000;
t = performance.now();
for (let i = 0; i < errors; i++) {
  try { w.callback(i); } catch (e) { stackChars += e.stack.length; }
}
const errorUs = ((performance.now() - t) * 1000) / errors;
const calls = 5e6;
let sum = 0;
t = performance.now();
for (let i = 0; i < calls; i++) sum += w.ok(-i);
const callNs = ((performance.now() - t) * 1e6) / calls;
t = performance.now();
createRequire(process.env.ROOT + '/package.json')('@typescript-eslint/scope-manager');
const packageMs = performance.now() - t;
let sample = '';
try { w.callback(1); } catch (e) { sample = e.stack.split('\\n')[1].trim(); }
console.log(JSON.stringify({ importMs, errorUs, callNs, packageMs, stackChars: stackChars / errors, sample, sum: sum !== 0 }));
`;

interface Sample {
  importMs: number;
  errorUs: number;
  callNs: number;
  packageMs: number;
  stackChars: number;
  sample: string;
}

async function main(): Promise<void> {
  const prepared = await prepareWorker(fileURLToPath(new URL('./workers/throw-worker.ts', import.meta.url)));
  if (prepared.kind !== 'compiled') throw new Error(`the throw worker did not compile: ${JSON.stringify(prepared)}`);
  const samples: Record<'off' | 'on', Sample[]> = { off: [], on: [] };
  for (let round = 1; round <= rounds; round++) {
    for (const maps of ['off', 'on'] as const) {
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { env: { ...process.env, MAPS: maps, WORKER_URL: prepared.url, ROOT }, encoding: 'utf8' });
      samples[maps].push(JSON.parse(out) as Sample);
    }
  }
  const med = (maps: 'off' | 'on', k: keyof Omit<Sample, 'sample'>): number => median(samples[maps].map((s) => s[k]));
  const row = (name: string, k: keyof Omit<Sample, 'sample'>, unit: string, digits: number): string =>
    `| ${name} | ${med('off', k).toFixed(digits)} ${unit} | ${med('on', k).toFixed(digits)} ${unit} | ${(med('on', k) / med('off', k)).toFixed(2)}× |`;
  const lines = [
    `Source maps off vs on, ${rounds} alternating round(s) of fresh processes, medians (Node ${process.versions.node}):`,
    '',
    '| what | maps off | maps on | on ÷ off |',
    '| --- | ---: | ---: | ---: |',
    row('throw in a compiled callback (3 frames deep) and read error.stack', 'errorUs', 'µs', 1),
    row('the same callback when nothing throws', 'callNs', 'ns', 2),
    row('import the compiled worker', 'importMs', 'ms', 2),
    row('require a package of ~170 modules with .map files, after', 'packageMs', 'ms', 1),
    '',
    `Top frame with maps off: \`${samples.off[0]?.sample}\`; on: \`${samples.on[0]?.sample}\`.`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
