import { readFileSync } from 'node:fs';

/**
 * The version of this installation, read once from its package.json (src/ under tsx and dist/ after a build
 * are both one level below it). For `--version`, `rabbit_worker_build_info` and the supervisors' heartbeats.
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
