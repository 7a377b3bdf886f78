import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The dashboard's files, shipped in the package beside dist/ and src/. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * The dashboard's file for a request path, or undefined when there is none. Only plain file names of
 * `dashboard/` are served (`/` is `index.html`): nothing above or below it can be reached. Read once, then
 * kept (a few dozen KB).
 */
export class DashboardFiles {
  readonly #cache = new Map<string, { type: string; body: Buffer }>();
  readonly #dir: string;

  constructor(dir = DASHBOARD_DIR) {
    this.#dir = dir;
  }

  async get(path: string): Promise<{ type: string; body: Buffer } | undefined> {
    const name = path === '/' ? 'index.html' : path.slice(1);
    const type = MIME[extname(name)];
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(name) || type === undefined) return undefined;
    const cached = this.#cache.get(name);
    if (cached !== undefined) return cached;
    try {
      const file = { type, body: await readFile(`${this.#dir}${name}`) };
      this.#cache.set(name, file);
      return file;
    } catch {
      return undefined;
    }
  }
}
