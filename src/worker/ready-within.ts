/** What `--ready-within` asks of a starting worker. */
export interface StartProbe {
  /** Consuming (or already stopping for another reason): the limit no longer applies. */
  done(): boolean;
  /** Where the start is, for the line that explains the exit: "connecting to RabbitMQ at …". */
  phase(): string;
}

/**
 * `--ready-within S`: a worker not consuming S seconds after its process started gives up, so that a process
 * manager without a readiness protocol (supervisord: RUNNING once up `startsecs`) counts a failed start.
 * Counted from the process's start (`process.uptime()`), as supervisord counts from the spawn, not from the
 * moment the worker began to connect; `giveUp` must end the process at once (nothing is in flight yet).
 */
export function armReadyWithin(seconds: number, probe: StartProbe, giveUp: (message: string) => void): NodeJS.Timeout | undefined {
  if (seconds <= 0) return undefined;
  const timer = setTimeout(
    () => {
      if (probe.done()) return;
      giveUp(`not consuming ${seconds}s after start (--ready-within): still ${probe.phase()}; exiting so that the process manager counts a failed start`);
    },
    Math.max(0, seconds * 1000 - process.uptime() * 1000),
  );
  timer.unref();
  return timer;
}
