import { MetricName } from '../metrics/names.js';
import { addTotals, simpleMetric, type MetricSnapshot } from '../metrics/snapshot.js';
import type { ProcessState } from './supervisor.js';

const PROCESS_STATES: readonly ProcessState[] = ['starting', 'running', 'backoff', 'stopping', 'exited', 'fatal'];

/** What the supervisor's own metrics are built from, at collection time. */
export interface SupervisedView {
  types: ReadonlyArray<{ name: string; queue: string | null }>;
  processes: ReadonlyArray<{ type: string; state: ProcessState }>;
  /** The metrics each live child last reported. */
  live: ReadonlyArray<readonly MetricSnapshot[]>;
}

/**
 * The worker metrics of a supervisor's processes, per worker type, over their whole life: a live child's
 * counters come from its last report; when it exits, that last report is added to its type's totals, so
 * that a counter or a histogram never goes backwards when a process dies, is recycled or is scaled away
 * (a SIGKILLed child's last two seconds are lost: it reports every 2 s). Also counts restarts, and builds
 * the metrics only the supervisor knows: processes by state, restarts.
 */
export class ChildMetrics {
  /** Counters and histograms of exited children, summed, per worker type. */
  readonly #retired = new Map<string, MetricSnapshot[]>();
  readonly #restarts = new Map<string, number>();

  /** A child of `type` exited; `last` is what it last reported. */
  retire(type: string, last: readonly MetricSnapshot[]): void {
    if (last.length === 0) return;
    this.#retired.set(type, addTotals(this.#retired.get(type) ?? [], last));
  }

  /** A process of `type` was started again (after an exit, not its first start). */
  restarted(type: string): void {
    this.#restarts.set(type, (this.#restarts.get(type) ?? 0) + 1);
  }

  restartsOf(type: string): number {
    return this.#restarts.get(type) ?? 0;
  }

  /**
   * Every group of metrics to aggregate: the totals of exited children, each live child's last report,
   * and the supervisor's own (processes by state, restarts). Series of the same type and queue sum up.
   */
  groups(view: SupervisedView): MetricSnapshot[][] {
    const labels = (type: { name: string; queue: string | null }): { worker: string; queue: string } => ({ worker: type.name, queue: type.queue ?? '' });
    const own: MetricSnapshot[] = [
      simpleMetric(
        MetricName.processes,
        'Processes of the supervisor, by worker type and state.',
        'gauge',
        view.types.flatMap((type) => PROCESS_STATES.map((state): [Record<string, string>, number] => [{ ...labels(type), state }, view.processes.filter((p) => p.type === type.name && p.state === state).length])),
      ),
      simpleMetric(
        MetricName.processRestarts,
        'Processes started again by the supervisor after they ended (crash, kill, TTL, max-messages, memory).',
        'counter',
        view.types.map((type) => [labels(type), this.restartsOf(type.name)]),
      ),
    ];
    return [...this.#retired.values(), ...view.live.map((m) => [...m]), own];
  }
}
