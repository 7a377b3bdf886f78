// The default view: an overview strip, then one card per host with its worker types (scale controls on
// this host) and its processes. Updated in place on every state event: rows are keyed, so a number being
// typed, the focus and an open tip survive the update.

import { postJson } from './api.js';
import { formatAgo, formatClock, formatCount, formatDateTime, formatDuration, formatMb, h, reconcile, setAttr, setText, UNKNOWN } from './dom.js';
import { tip } from './ui.js';

/** @typedef {import('./app.js').Ctx} Ctx */

const STATE_CLASS = { running: 'ok', fatal: 'bad', backoff: 'warn', exited: 'muted', starting: 'neutral', stopping: 'neutral' };

/**
 * A table whose cells carry `data-label`, so that on a phone each row becomes a card of label/value pairs.
 * A header given as `'#Label'` heads a column of numbers (aligned right).
 * @param {string} testid
 * @param {string} cls classes of the table
 * @param {string} caption for screen readers
 * @param {Array<string | HTMLElement>} headers
 */
function gridTable(testid, cls, caption, headers) {
  const body = h('tbody');
  const th = (/** @type {string} */ x) => (x.startsWith('#') ? h('th', { scope: 'col', class: 'num', text: x.slice(1) }) : h('th', { scope: 'col', text: x }));
  const head = h('tr', {}, ...headers.map((x) => (typeof x === 'string' ? th(x) : x)));
  const table = h('table', { class: `grid ${cls}`, testid }, h('caption', { class: 'visually-hidden', text: caption }), h('thead', {}, head), body);
  return { table, body };
}

/** @param {string} label @param {string} [cls] @param {string} [testid] */
const cell = (label, cls, testid) => h('td', { 'data-label': label, class: cls, testid });

/** @param {Ctx} ctx */
export function createHostsView(ctx) {
  const section = /** @type {HTMLElement} */ (document.getElementById('view-hosts'));
  const tiles = h('div', { class: 'tiles', testid: 'overview' });
  const list = h('div', { class: 'hosts' });
  section.append(tiles, list);

  /** @param {string} label @param {string} testid @param {string} [href] */
  const tile = (label, testid, href) => {
    const value = h('span', { class: 'tile-value' });
    const note = h('span', { class: 'tile-note' });
    const el = h(href ? 'a' : 'div', { class: 'tile', testid, href }, h('span', { class: 'tile-label', text: label }), value, note);
    return { el, value, note };
  };
  const t = {
    hosts: tile('Hosts online', 'tile-hosts'),
    processes: tile('Processes running', 'tile-processes'),
    attention: tile('Need attention', 'tile-attention'),
    backlog: tile('Ready messages', 'tile-backlog', '#/queues'),
    dead: tile('Dead letters', 'tile-dead', '#/dead-letters'),
  };
  tiles.append(...Object.values(t).map((x) => x.el));

  /** @type {WeakMap<HTMLElement, (host: any, state: any) => void>} */
  const updaters = new WeakMap();

  /** @param {any} state */
  function updateTiles(state) {
    const online = state.hosts.filter((/** @type {any} */ x) => x.online);
    const procs = online.flatMap((/** @type {any} */ x) => x.processes);
    const count = (/** @type {string} */ s) => procs.filter((/** @type {any} */ p) => p.state === s).length;
    setText(t.hosts.value, `${online.length} / ${state.hosts.length}`);
    setText(t.hosts.note, state.hosts.length > online.length ? `${state.hosts.length - online.length} offline` : 'all reporting');
    setText(t.processes.value, `${count('running')} / ${procs.length}`);
    setText(t.processes.note, `on ${online.length === 1 ? 'one host' : `${online.length} hosts`}`);
    const fatal = count('fatal');
    const backoff = count('backoff');
    setText(t.attention.value, String(fatal + backoff));
    setText(t.attention.note, fatal + backoff === 0 ? 'nothing failing' : `${fatal} fatal · ${backoff} backoff`);
    t.attention.el.dataset.tone = fatal > 0 ? 'bad' : backoff > 0 ? 'warn' : 'ok';
    const sum = (/** @type {string} */ key) => state.queues.reduce((/** @type {number} */ n, /** @type {any} */ q) => n + (typeof q[key] === 'number' ? q[key] : 0), 0);
    setText(t.backlog.value, formatCount(sum('ready')));
    setText(t.backlog.note, `${formatCount(sum('unacked'))} unacked in ${state.queues.length} queues`);
    const dead = sum('dead');
    setText(t.dead.value, formatCount(dead));
    setText(t.dead.note, dead === 0 ? 'none' : 'view and replay');
    t.dead.el.dataset.tone = dead > 0 ? 'warn' : 'ok';
  }

  return {
    /** Nothing to start: the view lives on the state events alone. */
    show() {},
    hide() {},
    /** @param {any} state */
    update(state) {
      updateTiles(state);
      // this host first, then those online, then by name: a stable order that does not jump
      const hosts = [...state.hosts].sort((a, b) => Number(b.self) - Number(a.self) || Number(b.online) - Number(a.online) || String(a.hostname).localeCompare(b.hostname));
      reconcile(
        list,
        hosts,
        (host) => String(host.id),
        () => {
          const card = createHostCard(ctx);
          updaters.set(card.el, card.update);
          return card.el;
        },
        (el, host) => updaters.get(el)?.(host, state),
      );
    },
  };
}

/** @param {Ctx} ctx */
function createHostCard(ctx) {
  const name = h('h2', { class: 'host-name', testid: 'host-name' });
  const status = h('span', { class: 'pill', testid: 'host-status' });
  const reload = h('button', { type: 'button', class: 'button', testid: 'reload-button', text: 'Reload config' });
  const meta = {
    pid: h('dd', { testid: 'host-pid' }),
    uptime: h('dd', { testid: 'host-uptime' }),
    version: h('dd', { testid: 'host-version' }),
    config: h('dd', { testid: 'host-config' }),
  };
  const metaItem = (/** @type {string} */ label, /** @type {HTMLElement} */ dd, /** @type {string} */ cls = '') => h('div', { class: `meta-item ${cls}` }, h('dt', { text: label }), dd);

  const scaleHead = h('th', { scope: 'col', text: 'Scale' });
  const types = gridTable('type-table', 'types', 'Worker types', ['Type', 'Queue', '#Desired', '#Running', '#Fatal', scaleHead]);
  const procs = gridTable('process-table', 'processes', 'Processes', ['Name', 'State', '#PID', '#Uptime', '#Restarts', 'Last exit', '#Handled', '#In flight', '#Memory MB']);
  const noProcs = h('p', { class: 'empty', text: 'No processes.' });

  const el = h(
    'article',
    { class: 'card host', testid: 'host-card' },
    h('header', { class: 'card-head' }, h('div', { class: 'host-title' }, name, status), h('div', { class: 'card-actions' }, reload)),
    h('dl', { class: 'meta' }, metaItem('PID', meta.pid), metaItem('Uptime', meta.uptime), metaItem('Version', meta.version), metaItem('Config', meta.config, 'meta-wide')),
    h('h3', { class: 'subhead', text: 'Worker types' }),
    h('div', { class: 'table-box' }, types.table),
    h('h3', { class: 'subhead', text: 'Processes' }),
    h('div', { class: 'table-box' }, procs.table, noProcs),
  );

  reload.addEventListener('click', async () => {
    reload.toggleAttribute('disabled', true);
    try {
      const result = await postJson('/api/reload', {});
      const parts = ['added', 'removed', 'restarted', 'scaled', 'retried']
        .filter((k) => Array.isArray(result?.[k]) && result[k].length > 0)
        .map((k) => `${k} ${result[k].join(', ')}`);
      ctx.toast(parts.length === 0 ? 'Configuration reloaded: no changes.' : `Configuration reloaded: ${parts.join('; ')}.`, 'success');
    } catch (error) {
      ctx.fail(error, 'Reload');
    } finally {
      reload.toggleAttribute('disabled', false);
    }
  });

  /** @type {WeakMap<HTMLElement, (item: any, controls: boolean) => void>} */
  const typeRows = new WeakMap();
  /** @type {WeakMap<HTMLElement, (item: any, now: number) => void>} */
  const procRows = new WeakMap();

  /** @param {any} host @param {any} state */
  function update(host, state) {
    const controls = host.self === true && state.readOnly !== true;
    el.dataset.hostId = String(host.id);
    el.classList.toggle('host-offline', !host.online);
    setText(name, String(host.hostname));
    if (host.online) {
      setText(status, host.self ? 'this host' : 'online');
      status.dataset.tone = 'ok';
      setAttr(status, 'title', null);
    } else {
      const recent = state.now - host.lastSeen < 86_400_000;
      setText(status, `offline since ${recent ? formatClock(host.lastSeen) : formatDateTime(host.lastSeen)}`);
      status.dataset.tone = 'muted';
      setAttr(status, 'title', `last report ${formatAgo(host.lastSeen, state.now)}, ${formatDateTime(host.lastSeen)}`);
    }
    reload.hidden = !controls;
    setText(meta.pid, String(host.pid));
    setText(meta.uptime, host.online ? formatDuration(host.uptimeSeconds) : UNKNOWN);
    setText(meta.version, String(host.version));
    setText(meta.config, String(host.config));

    scaleHead.hidden = !controls;
    reconcile(types.body, host.types, (x) => String(x.name), () => typeRow(ctx, typeRows), (row, x) => typeRows.get(row)?.(x, controls));
    noProcs.hidden = host.processes.length > 0;
    procs.table.hidden = host.processes.length === 0;
    reconcile(procs.body, host.processes, (p) => String(p.name), () => processRow(procRows), (row, p) => procRows.get(row)?.(p, state.now));
  }
  return { el, update };
}

/**
 * @param {Ctx} ctx
 * @param {WeakMap<HTMLElement, (item: any, controls: boolean) => void>} updaters
 */
function typeRow(ctx, updaters) {
  const c = {
    name: cell('Type', 'cell-primary mono'),
    queue: cell('Queue', 'mono cell-full'),
    desired: cell('Desired', 'num', 'type-desired'),
    running: cell('Running', 'num', 'type-running'),
    fatal: cell('Fatal', 'num', 'type-fatal'),
    scale: cell('Scale', 'cell-actions'),
  };
  const inputId = `scale-${Math.random().toString(36).slice(2)}`;
  const label = h('label', { class: 'visually-hidden', for: inputId });
  const input = /** @type {HTMLInputElement} */ (h('input', { id: inputId, type: 'number', min: '0', max: '64', step: '1', inputmode: 'numeric', class: 'input input-num', testid: 'scale-input', required: true }));
  const button = h('button', { type: 'submit', class: 'button button-small', testid: 'scale-button', text: 'Scale' });
  const form = h('form', { class: 'scale-form' }, label, input, button);
  c.scale.append(form);
  const row = h('tr', { testid: 'type-row' }, ...Object.values(c));
  /** @type {any} */
  let current = null;
  // the state event every 2 s must not overwrite what the user is typing
  let dirty = false;
  input.addEventListener('input', () => (dirty = true));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const n = Number(input.value);
    if (!Number.isInteger(n) || n < 0) return ctx.toast('The number of processes must be a whole number, 0 or more.', 'error');
    button.toggleAttribute('disabled', true);
    try {
      const result = await postJson('/api/scale', { type: current.name, n });
      dirty = false;
      input.value = String(result?.desired ?? n);
      ctx.toast(`${current.name}: scaling to ${result?.desired ?? n} (${result?.running ?? '?'} running now).`, 'success');
    } catch (error) {
      ctx.fail(error, `Scale ${current.name}`);
    } finally {
      button.toggleAttribute('disabled', false);
    }
  });

  updaters.set(row, (type, controls) => {
    current = type;
    row.dataset.type = String(type.name);
    setText(c.name, String(type.name));
    setText(c.queue, String(type.queue));
    setText(c.desired, formatCount(type.desired));
    setText(c.running, formatCount(type.running));
    setText(c.fatal, formatCount(type.fatal));
    c.fatal.dataset.tone = type.fatal > 0 ? 'bad' : '';
    c.running.dataset.tone = type.running < type.desired ? 'warn' : '';
    setText(label, `Processes of ${type.name}`);
    c.scale.hidden = !controls;
    if (!dirty && document.activeElement !== input) input.value = String(type.desired);
  });
  return row;
}

/** @param {WeakMap<HTMLElement, (item: any, now: number) => void>} updaters */
function processRow(updaters) {
  const badge = h('span', { class: 'state', testid: 'process-state' });
  const why = tip('fatal-reason');
  const exit = tip('last-exit');
  const c = {
    name: cell('Name', 'cell-primary mono', 'process-name'),
    state: cell('State', 'cell-state'),
    pid: cell('PID', 'num'),
    uptime: cell('Uptime', 'num'),
    restarts: cell('Restarts', 'num', 'process-restarts'),
    exit: cell('Last exit'),
    handled: cell('Handled', 'num'),
    inflight: cell('In flight', 'num'),
    memory: cell('Memory MB', 'num'),
  };
  c.state.append(badge, why.el);
  c.exit.append(exit.el);
  const row = h('tr', { testid: 'process-row' }, ...Object.values(c));
  updaters.set(row, (p, now) => {
    row.dataset.name = String(p.name);
    row.dataset.state = String(p.state);
    setText(c.name, String(p.name));
    setText(badge, String(p.state).toUpperCase());
    badge.dataset.tone = STATE_CLASS[/** @type {keyof typeof STATE_CLASS} */ (p.state)] ?? 'neutral';
    setAttr(badge, 'title', p.workerState ? `worker: ${p.workerState}` : null);
    why.el.hidden = typeof p.fatalReason !== 'string';
    why.set('why?', typeof p.fatalReason === 'string' ? p.fatalReason : null);
    setText(c.pid, p.pid === null || p.pid === undefined ? UNKNOWN : String(p.pid));
    setText(c.uptime, p.state === 'running' || p.state === 'starting' || p.state === 'stopping' ? formatDuration(p.uptimeSeconds) : UNKNOWN);
    setText(c.restarts, formatCount(p.restarts));
    c.restarts.dataset.tone = p.restarts > 0 ? 'warn' : '';
    if (p.lastExit) {
      const e = p.lastExit;
      const at = Date.parse(e.at);
      const label = e.signal ? String(e.signal) : e.code === null || e.code === undefined ? 'exited' : `code ${e.code}`;
      exit.set(label, `${e.description}${Number.isNaN(at) ? '' : ` (${formatAgo(at, now)}, ${formatDateTime(at)})`}`);
    } else exit.set(UNKNOWN, null);
    setText(c.handled, formatCount(p.handled));
    setAttr(c.handled, 'title', typeof p.handledTotal === 'number' ? `${formatCount(p.handledTotal)} by every run of this process` : null);
    setText(c.inflight, formatCount(p.inflight));
    setAttr(c.inflight, 'title', Array.isArray(p.inflightIds) && p.inflightIds.length > 0 ? `in flight: ${p.inflightIds.join(', ')}` : null);
    setText(c.memory, formatMb(p.memoryMb));
  });
  return row;
}
