/** How often the parent process is checked for. */
const PARENT_CHECK_MS = 1000;

/**
 * Calls `onGone` once if the process that started this one goes away without a signal reaching us — npx
 * (npm exec) exits on SIGTERM without passing it on, a shell may die — which leaves us re-parented (to init
 * or a subreaper): `process.ppid` changes. As PID 1 in a container, or started by init itself, there is no
 * parent to lose (ppid 0 or 1) and nothing is watched. Returns a function that stops watching.
 */
export function watchParent(onGone: (why: string) => void): () => void {
  const parent = process.ppid;
  if (parent <= 1) return () => {};
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone(`its parent process (pid ${parent}) went away`);
  }, PARENT_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
