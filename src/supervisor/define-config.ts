import type { SupervisorConfigInput } from './config.js';

export type { SupervisorConfigInput };

/**
 * Types a TypeScript/JavaScript config file: `export default defineConfig({ workers: { … } })`. In a module
 * of its own, without the schema: the package root (which every worker file imports, in every callback
 * isolate) must not load zod and the supervisor's config code.
 */
export function defineConfig(config: SupervisorConfigInput): SupervisorConfigInput {
  return config;
}
