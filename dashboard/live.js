// The live state: one EventSource on /api/events, which sends the whole state on connect and about every
// 2 s. EventSource reconnects by itself, but at a fixed pace and without telling why it failed; this
// closes it on error, asks /api/state once (a 401 means signed out: stop), then opens a new one after a
// growing delay. There is no other polling.

import { ApiError, getJson } from './api.js';

/** @typedef {'connecting' | 'live' | 'reconnecting' | 'signed-out'} LinkState */

const FIRST_DELAY_MS = 1_000;
const MAX_DELAY_MS = 30_000;

/**
 * @param {object} handlers
 * @param {(state: any) => void} handlers.onState every state received
 * @param {(link: LinkState) => void} handlers.onLink the stream's condition, for the header
 * @returns {{ stop(): void }}
 */
export function connectLive({ onState, onLink }) {
  /** @type {EventSource | null} */
  let source = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let failures = 0;
  let stopped = false;

  function open() {
    if (stopped) return;
    onLink(failures === 0 ? 'connecting' : 'reconnecting');
    source = new EventSource('/api/events');
    source.addEventListener('state', (event) => {
      let state;
      try {
        state = JSON.parse(/** @type {MessageEvent<string>} */ (event).data);
      } catch {
        return; // a torn frame: the next one comes in 2 s
      }
      failures = 0;
      onLink('live');
      onState(state);
    });
    source.addEventListener('error', () => {
      source?.close();
      source = null;
      failures += 1;
      onLink('reconnecting');
      void probe();
    });
  }

  // one request per failure, to tell "signed out" (stop) from "down" (retry later)
  async function probe() {
    try {
      onState(await getJson('/api/state'));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return stop('signed-out');
    }
    if (stopped) return;
    const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (failures - 1));
    // jitter, so that many tabs do not come back in step after a restart of the supervisor
    timer = setTimeout(open, delay * (0.8 + Math.random() * 0.4));
  }

  /** @param {LinkState} [link] */
  function stop(link) {
    stopped = true;
    clearTimeout(timer);
    source?.close();
    source = null;
    if (link) onLink(link);
  }

  open();
  return { stop: () => stop() };
}
