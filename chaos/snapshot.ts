import { copyFileSync, cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A private copy of the built package (dist, bin, package.json) and of the chaos workers, with the
 * dependencies linked. dist/ is shared by everyone working in the tree: a rebuild during a run would
 * otherwise hand half-old, half-new modules to the workers and isolates started after it (seen here:
 * a fresh isolate failing to import a renamed export, its worker then stuck with deliveries in flight).
 */
export function snapshotPackage(into: string): { bin: string; workerFile: string } {
  const root = fileURLToPath(new URL('..', import.meta.url));
  mkdirSync(into, { recursive: true });
  cpSync(join(root, 'dist'), join(into, 'dist'), { recursive: true });
  cpSync(join(root, 'bin'), join(into, 'bin'), { recursive: true });
  cpSync(join(root, 'chaos', 'workers'), join(into, 'chaos', 'workers'), { recursive: true });
  copyFileSync(join(root, 'package.json'), join(into, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(into, 'node_modules'));
  return { bin: join(into, 'bin', 'rabbit-worker.js'), workerFile: join(into, 'chaos', 'workers', 'chaos-worker.ts') };
}
