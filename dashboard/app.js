// The rabbit-worker dashboard: hosts and processes, queues, dead letters, live from the supervisor's
// control server. Plain ES modules, no build step, no framework, nothing from the internet; it runs under
// `default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'`, so
// there is no inline script, style or handler anywhere, and no text from the API is ever parsed as HTML.
//
// Addresses: #/hosts (default), #/queues, #/queues/<queue>, #/dead-letters, #/dead-letters/<queue>
// (names URL-encoded). The API contract is written down in test/helpers/dashboard-contract.ts.
//
// Stable selectors for tests (data-testid):
//   header       app-header, host-count, readonly-badge, conn-status (data-state: connecting | live |
//                reconnecting | signed-out), theme-toggle (aria-pressed: dark), nav-hosts, nav-queues,
//                nav-dead-letters, loading
//   views        view-hosts, view-queues, view-dead-letters, signin-screen, signin-retry
//   hosts        overview, tile-hosts, tile-processes, tile-attention, tile-backlog, tile-dead,
//                host-card (data-host-id), host-name, host-status, host-pid, host-uptime, host-version,
//                host-config, reload-button, type-table, type-row (data-type), type-desired, type-running,
//                type-fatal, scale-input, scale-button, process-table, process-row (data-name,
//                data-state), process-name, process-state, process-restarts, fatal-reason, last-exit
//                (each tip's popover: <testid>-tip)
//   queues       queue-table, queue-row (data-queue), queue-name, queue-select, queue-ready,
//                queue-consumers, queue-dead, queue-dead-link, chart-hint, chart, chart-queue,
//                chart-status, chart-throughput, chart-latency (figures; their <svg> has data-points),
//                chart-latency-p50Ms, chart-latency-p95Ms (line paths), <chart>-time
//   dead letters dlq-queue-picker, dlq-search, dlq-search-button, dlq-refresh (data-attention),
//                dlq-summary, dlq-write-actions, replay-selected, replay-all, purge-button, dlq-table,
//                dlq-select-all, dlq-row (data-message-id), dlq-select, dlq-message-id, dlq-reason,
//                dlq-error, dlq-view-body, dlq-empty
//   body viewer  body-viewer, body-kind (data-kind: json | text | base64), body-content, body-reason,
//                body-headers, body-copy, dialog-close
//   dialogs      confirm-dialog, confirm-input, confirm-ok, confirm-cancel
//   toasts       toasts, toast (data-kind: info | success | error)

import { ApiError, onUnauthorized } from './api.js';
import { createDeadLettersView } from './dead-letters-view.js';
import { setAttr, setText } from './dom.js';
import { createHostsView } from './hosts-view.js';
import { connectLive } from './live.js';
import { createQueuesView } from './queues-view.js';
import { toast } from './ui.js';

/**
 * What the views get from the app.
 * @typedef {object} Ctx
 * @property {() => any} state the latest state, or null before the first
 * @property {() => number} now epoch ms on the server's clock (relative times agree with the server's)
 * @property {typeof toast} toast
 * @property {(error: unknown, what: string) => void} fail tells the user why `what` failed
 */

const THEME_KEY = 'rabbit-worker.theme';
const $ = (/** @type {string} */ testid) => /** @type {HTMLElement} */ (document.querySelector(`[data-testid="${testid}"]`));

/** @type {any} */
let state = null;
let clockSkew = 0;
let signedOut = false;

/** @type {Ctx} */
const ctx = {
  state: () => state,
  now: () => Date.now() + clockSkew,
  toast,
  fail(error, what) {
    if (!(error instanceof ApiError)) return toast(`${what} failed: ${error instanceof Error ? error.message : String(error)}`, 'error');
    if (error.status === 401) return; // the sign-in screen says it all
    if (error.status === 403) return toast(`Read-only: ${what.toLowerCase()} is not allowed here. ${error.message}`, 'error');
    if (error.status === 0) return toast(`${what} failed: the supervisor cannot be reached.`, 'error');
    toast(`${what} failed: ${error.message}`, 'error');
  },
};

const views = {
  hosts: createHostsView(ctx),
  queues: createQueuesView(),
  'dead-letters': createDeadLettersView(ctx),
};
/** @typedef {keyof typeof views} ViewName */

/** @returns {{ view: ViewName, param: string | null }} */
function parseRoute() {
  const [, name = '', ...rest] = location.hash.replace(/^#/, '').split('/');
  const view = /** @type {ViewName} */ (name in views ? name : 'hosts');
  let param;
  try {
    param = rest.length > 0 && rest.join('/') !== '' ? decodeURIComponent(rest.join('/')) : null;
  } catch {
    param = null;
  }
  return { view, param };
}

/** @type {ViewName | null} */
let current = null;

function route() {
  if (signedOut || state === null) return;
  const { view, param } = parseRoute();
  for (const name of /** @type {ViewName[]} */ (Object.keys(views))) {
    const section = $(`view-${name}`);
    const on = name === view;
    section.hidden = !on;
    setAttr($(`nav-${name}`), 'aria-current', on ? 'page' : null);
    if (!on && current === name) views[name].hide();
  }
  if (current !== view) {
    current = view;
    window.scrollTo(0, 0);
  }
  views[view].show(param);
}

/** @param {any} next */
function applyState(next) {
  if (signedOut || next === null || typeof next !== 'object' || !Array.isArray(next.hosts) || !Array.isArray(next.queues)) return;
  const first = state === null;
  state = next;
  if (typeof next.now === 'number') clockSkew = next.now - Date.now();
  updateHeader();
  for (const view of Object.values(views)) view.update(state);
  if (first) {
    $('loading').hidden = true;
    route();
  }
}

function updateHeader() {
  const offline = state.hosts.filter((/** @type {any} */ x) => !x.online).length;
  const n = state.hosts.length;
  setText($('host-count'), `${n} ${n === 1 ? 'host' : 'hosts'}${offline > 0 ? ` · ${offline} offline` : ''}`);
  $('readonly-badge').hidden = state.readOnly !== true;
  const self = state.hosts.find((/** @type {any} */ x) => x.self);
  const failing = state.hosts.flatMap((/** @type {any} */ x) => (x.online ? x.processes : [])).filter((/** @type {any} */ p) => p.state === 'fatal').length;
  document.title = `${failing > 0 ? `(${failing} fatal) ` : ''}rabbit-worker${self ? ` · ${self.hostname}` : ''}`;
}

const LINK_TEXT = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', 'signed-out': 'signed out' };

/** @param {import('./live.js').LinkState} link */
function showLink(link) {
  const el = $('conn-status');
  el.dataset.state = link;
  setText(/** @type {HTMLElement} */ (el.querySelector('.conn-text')), LINK_TEXT[link]);
  setAttr(el, 'title', link === 'live' ? 'Updates arrive every 2 s' : link === 'reconnecting' ? 'The event stream is down; the data shown may be stale' : null);
  // data shown while the stream is down may be old: say so without moving anything
  document.body.classList.toggle('stale', link === 'reconnecting');
}

function showSignIn() {
  if (signedOut) return;
  signedOut = true;
  live.stop();
  showLink('signed-out');
  for (const name of /** @type {ViewName[]} */ (Object.keys(views))) $(`view-${name}`).hidden = true;
  $('loading').hidden = true;
  document.querySelector('.tabs')?.setAttribute('hidden', '');
  for (const dialog of document.querySelectorAll('dialog')) dialog.close();
  $('signin-screen').hidden = false;
}

// theme: the system's unless the toggle chose; the choice is remembered
const darkQuery = window.matchMedia('(prefers-color-scheme: dark)');
const isDark = () => (document.documentElement.dataset.theme ?? (darkQuery.matches ? 'dark' : 'light')) === 'dark';
function syncThemeToggle() {
  const toggle = $('theme-toggle');
  setAttr(toggle, 'aria-pressed', String(isDark()));
  setAttr(toggle, 'aria-label', 'Dark theme');
  setAttr(toggle, 'title', isDark() ? 'Switch to the light theme' : 'Switch to the dark theme');
}
$('theme-toggle').addEventListener('click', () => {
  const next = isDark() ? 'light' : 'dark';
  document.documentElement.dataset.theme = next;
  try {
    localStorage.setItem(THEME_KEY, next);
  } catch {
    // storage disabled: the choice lasts as long as the page
  }
  syncThemeToggle();
});
darkQuery.addEventListener('change', syncThemeToggle);
syncThemeToggle();

$('signin-retry').addEventListener('click', () => location.reload());
onUnauthorized(showSignIn);
window.addEventListener('hashchange', route);
const live = connectLive({ onState: applyState, onLink: (link) => (link === 'signed-out' ? showSignIn() : showLink(link)) });
