import type { SupervisorStatus } from './supervisor.js';

/** `/readyz` of the supervisor: ready, or why not, type by type. */
export interface Readiness {
  ready: boolean;
  /** One line per type that lacks consuming processes. */
  reasons: string[];
  types: Array<{ name: string; desired: number; consuming: number }>;
}

/**
 * Ready when every worker type has its desired number of processes consuming: started (past
 * `startSeconds`) and saying themselves that they consume (not reconnecting to the broker, not draining).
 * A stopping supervisor is never ready.
 */
export function readiness(status: SupervisorStatus): Readiness {
  const reasons: string[] = [];
  if (status.stopping) reasons.push('the supervisor is stopping');
  const types = status.types.map((type) => {
    const mine = status.processes.filter((p) => p.type === type.name && p.state !== 'stopping' && p.state !== 'exited');
    const consuming = mine.filter((p) => p.state === 'running' && p.workerState === 'running').length;
    if (consuming < type.desired) {
      const states = [...new Set(mine.filter((p) => !(p.state === 'running' && p.workerState === 'running')).map((p) => (p.state === 'running' ? (p.workerState ?? 'running') : p.state)))];
      reasons.push(`${type.name}: ${consuming} of ${type.desired} process(es) consuming${states.length > 0 ? ` (others: ${states.join(', ')})` : ''}`);
    }
    return { name: type.name, desired: type.desired, consuming };
  });
  return { ready: reasons.length === 0, reasons, types };
}
