/** A callback that throws three calls deep, for bench/source-map-cost.ts: what a mapped stack trace costs. */
function parse(n: number): number {
  if (n >= 0) throw new Error(`cannot parse ${n}`);
  return n;
}

function validate(n: number): number {
  return parse(n) + 1;
}

export default class ThrowWorker {
  callback(n: number): number {
    return validate(n);
  }

  /** The same work when nothing throws: the hot path of a healthy worker. */
  ok(n: number): number {
    return n < 0 ? n * 2 : n - 1;
  }
}
