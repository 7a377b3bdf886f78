import { parseArgs } from 'node:util';

/** What `npm run chaos -- …` was asked to do. */
export interface ChaosOptions {
  /** Uniquely numbered messages to publish (the poison messages come on top). */
  messages: number;
  /** Length of the fault phase, in seconds. */
  seconds: number;
  /** Heap-exhausting messages, on top of `messages`. */
  poison: number;
  /** A broker to use instead of starting a node of our own (faults then hit the default node). */
  url: string | undefined;
  /** Seconds to wait, after the fault phase, for every message to be handled or dead-lettered. */
  drainSeconds: number;
  /** Keep the run directory (records, supervisor log) even when nothing was lost. */
  keep: boolean;
  /** Seed for the fault schedule, so that a run can be replayed. */
  seed: number;
  /** A 3-node cluster of our own instead of one node, with node-level faults (see docs/chaos.md). */
  cluster: boolean;
}

export const HELP = `npm run chaos -- [options]

  --messages N       uniquely numbered messages to publish (default 100000)
  --seconds S        length of the fault phase (default 60)
  --poison P         heap-exhausting messages on top (default 20)
  --drain-seconds D  wait at most this long afterwards for every message (default 600)
  --seed X           seed of the fault schedule (default: random, printed)
  --keep             keep the run directory even when nothing was lost
  --cluster          a 3-node cluster of our own (workers and publisher given every
                     node), faults on its nodes: stop_app/start_app, kill -9 of a
                     node's VM + restart, closing a node's connections
  --url URL          use this broker instead of a node of our own; broker faults then
                     hit the default node through rabbitmqctl (disturbs whoever uses it)
`;

function positiveInt(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name}: expected an integer >= ${min}, got "${raw}"`);
  return value;
}

/** Parses argv; returns 'help' for --help. Throws a one-line error for a bad value. */
export function parseOptions(argv: string[]): ChaosOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      messages: { type: 'string' },
      seconds: { type: 'string' },
      poison: { type: 'string' },
      'drain-seconds': { type: 'string' },
      seed: { type: 'string' },
      keep: { type: 'boolean' },
      cluster: { type: 'boolean' },
      url: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  if (values.cluster === true && values.url !== undefined) throw new Error('--cluster and --url exclude each other: the cluster is one of our own');
  return {
    messages: positiveInt('messages', values.messages, 100_000),
    seconds: positiveInt('seconds', values.seconds, 60, 5),
    poison: positiveInt('poison', values.poison, 20, 0),
    drainSeconds: positiveInt('drain-seconds', values['drain-seconds'], 600),
    seed: positiveInt('seed', values.seed, Math.floor(Math.random() * 1_000_000), 0),
    keep: values.keep === true,
    url: values.url,
    cluster: values.cluster === true,
  };
}
