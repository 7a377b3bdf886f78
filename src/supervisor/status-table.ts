import type { ProcessStatus, SupervisorStatus } from './supervisor.js';

/** `3661` → `1h01m`, `75` → `1m15s`. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(seconds / 86_400)}d${String(Math.floor((seconds % 86_400) / 3600)).padStart(2, '0')}h`;
}

function lastExit(p: ProcessStatus): string {
  if (p.lastExit === null) return '-';
  return p.lastExit.signal !== null ? p.lastExit.signal : `exit ${p.lastExit.code ?? '?'}`;
}

/** Columns padded to their widest cell, two spaces apart. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The table `rabbit-worker status` prints: one row per process, then the queues. */
export function formatStatusTable(status: SupervisorStatus): string {
  const header = ['TYPE', 'PROCESS', 'STATE', 'PID', 'UPTIME', 'RESTARTS', 'LAST EXIT', 'HANDLED', 'IN FLIGHT'];
  const rows = status.processes.map((p) => [
    p.type,
    p.name,
    p.state.toUpperCase(),
    p.pid === null ? '-' : String(p.pid),
    formatDuration(p.uptimeSeconds),
    String(p.restarts),
    lastExit(p),
    p.handledTotal === p.handled ? String(p.handled) : `${p.handled} (${p.handledTotal} total)`,
    String(p.inflight),
  ]);
  const out = table(header, rows);
  const fatal = status.processes.filter((p) => p.state === 'fatal' && p.fatalReason !== undefined);
  for (const p of fatal) out.push(`${p.name}: FATAL: ${p.fatalReason ?? ''}`);
  for (const p of status.processes) if (p.state === 'backoff' && p.lastError !== undefined) out.push(`${p.name}: BACKOFF: ${p.lastError}`);
  if (status.queues !== undefined && status.queues.length > 0) {
    const known = (n: number | null): string => (n === null ? '-' : String(n));
    out.push('', ...table(['QUEUE', 'READY', 'CONSUMERS', 'DEAD LETTERS'], status.queues.map((q) => [q.name, known(q.ready), known(q.consumers), known(q.dead)])));
    if (status.delayed !== undefined) out.push(`delayed (the shared delay levels, every queue of the vhost): ${known(status.delayed)}`);
  }
  out.push(`supervisor pid ${status.pid}, up ${formatDuration(status.uptimeSeconds)}, config ${status.config}${status.stopping ? ', STOPPING' : ''}`);
  return `${out.join('\n')}\n`;
}
