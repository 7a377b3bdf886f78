#!/usr/bin/env node
import { main } from '../dist/cli/main.js';

const code = await main(process.argv.slice(2));
// Written to a pipe, stdout is asynchronous: exiting at once would cut a long output (`dlq list --json | jq`)
// at 64 KiB. An empty write calls back once everything before it has been handed to the pipe.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))));
process.exit(code);
