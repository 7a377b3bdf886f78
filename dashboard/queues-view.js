// Queues: one row per work queue from the state events; selecting a queue (#/queues/<name>) shows its last
// hour from /api/series, fetched when shown and then every 30 s while it stays shown.

import { ApiError, getJson } from './api.js';
import { createChart } from './chart.js';
import { formatClock, formatCount, formatMs, formatRate, h, reconcile, setAttr, setText, UNKNOWN } from './dom.js';

const SERIES_EVERY_MS = 30_000;

/** @param {string} label @param {string} [cls] @param {string} [testid] */
const cell = (label, cls, testid) => h('td', { 'data-label': label, class: cls, testid });

/** The queues view; it needs nothing of the app but the state it is given. */
export function createQueuesView() {
  const section = /** @type {HTMLElement} */ (document.getElementById('view-queues'));
  const body = h('tbody');
  const headers = ['Queue', 'Worker type', 'Ready', 'Unacked', 'Consumers', 'In/s', 'Out/s', 'Delayed', 'Dead'];
  const table = h(
    'table',
    { class: 'grid queues', testid: 'queue-table' },
    h('caption', { class: 'visually-hidden', text: 'Queues; select one to see its last hour' }),
    h('thead', {}, h('tr', {}, ...headers.map((x) => h('th', { scope: 'col', text: x })))),
    body,
  );
  const empty = h('p', { class: 'empty', text: 'No queues yet.', hidden: true });
  // the delay levels are shared by every queue: their total is known, a queue's share is not
  const delayedTotal = h('p', { class: 'hint', testid: 'queues-delayed-total' });
  const hint = h('p', { class: 'hint', testid: 'chart-hint', text: 'Select a queue to see its throughput and latency over the last hour.' });

  const throughput = createChart({
    testid: 'chart-throughput',
    title: 'Messages handled per step',
    stacked: true,
    layers: [
      { key: 'acked', label: 'acked', tone: 'ok' },
      { key: 'retried', label: 'retried', tone: 'warn' },
      { key: 'deadLettered', label: 'dead-lettered', tone: 'bad' },
    ],
    format: formatCount,
  });
  const latency = createChart({
    testid: 'chart-latency',
    title: 'Handler time',
    stacked: false,
    layers: [
      { key: 'p50Ms', label: 'p50', tone: 'accent' },
      { key: 'p95Ms', label: 'p95', tone: 'violet' },
    ],
    format: (v) => (v === null ? UNKNOWN : formatMs(v)),
  });
  const chartTitle = h('h2', { class: 'card-title', testid: 'chart-queue' });
  const chartStatus = h('span', { class: 'muted small', testid: 'chart-status', 'aria-live': 'polite' });
  const chartCard = h(
    'section',
    { class: 'card chart-card', testid: 'chart', hidden: true, 'aria-labelledby': 'chart-queue-title' },
    h('header', { class: 'card-head' }, h('div', {}, chartTitle, chartStatus), h('a', { class: 'button button-small', href: '#/queues', text: 'Close' })),
    h('div', { class: 'charts' }, throughput.el, latency.el),
  );
  chartTitle.id = 'chart-queue-title';
  section.append(h('div', { class: 'card table-card' }, h('div', { class: 'table-box' }, table, empty)), delayedTotal, hint, chartCard);

  /** @type {string | null} */
  let selected = null;
  let visible = false;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let timer;
  /** @type {AbortController | null} */
  let inflight = null;
  /** @type {WeakMap<HTMLElement, (q: any) => void>} */
  const rows = new WeakMap();

  async function loadSeries() {
    const queue = selected;
    if (queue === null) return;
    inflight?.abort();
    const controller = new AbortController();
    inflight = controller;
    try {
      const series = await getJson(`/api/series?queue=${encodeURIComponent(queue)}`, controller.signal);
      if (queue !== selected) return;
      const step = Number(series?.stepSeconds) || 10;
      throughput.render(series?.points ?? []);
      latency.render(series?.points ?? []);
      setText(chartTitle, `${queue}, last hour`);
      setText(chartStatus, `${step} s steps · updated ${formatClock(Date.now())}`);
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') return;
      setText(chartStatus, error instanceof ApiError ? `could not load the history: ${error.message}` : 'could not load the history');
    } finally {
      if (inflight === controller) inflight = null;
    }
  }

  function schedule() {
    clearInterval(timer);
    inflight?.abort();
    timer = undefined;
    chartCard.hidden = selected === null;
    hint.hidden = selected !== null;
    if (!visible || selected === null) return;
    setText(chartTitle, `${selected}, last hour`);
    setText(chartStatus, 'loading…');
    void loadSeries();
    timer = setInterval(() => void loadSeries(), SERIES_EVERY_MS);
  }

  function createRow() {
    const link = h('a', { class: 'mono', testid: 'queue-select' });
    const dead = h('a', { testid: 'queue-dead-link' });
    const deadText = h('span', { testid: 'queue-dead-unknown', text: UNKNOWN });
    const c = {
      name: cell('Queue', 'cell-primary', 'queue-name'),
      type: cell('Worker type', 'mono cell-full'),
      ready: cell('Ready', 'num', 'queue-ready'),
      unacked: cell('Unacked', 'num'),
      consumers: cell('Consumers', 'num', 'queue-consumers'),
      inRate: cell('In/s', 'num'),
      outRate: cell('Out/s', 'num'),
      delayed: cell('Delayed', 'num'),
      dead: cell('Dead', 'num', 'queue-dead'),
    };
    c.name.append(link);
    c.dead.append(dead, deadText);
    const row = h('tr', { testid: 'queue-row' }, ...Object.values(c));
    rows.set(row, (/** @type {any} */ x) => {
      row.dataset.queue = String(x.name);
      setText(link, String(x.name));
      setAttr(link, 'href', `#/queues/${encodeURIComponent(x.name)}`);
      setText(c.type, String(x.type));
      setText(c.ready, formatCount(x.ready));
      setText(c.unacked, formatCount(x.unacked));
      setText(c.consumers, formatCount(x.consumers));
      // messages waiting and nobody to take them: worth a glance
      c.consumers.dataset.tone = x.consumers === 0 && x.ready > 0 ? 'warn' : '';
      setText(c.inRate, formatRate(x.inRate));
      setText(c.outRate, formatRate(x.outRate));
      setText(c.delayed, formatCount(x.delayed));
      setAttr(c.delayed, 'title', x.delayed === null ? 'The delay levels are shared by every queue: only their total is known (below the table)' : null);
      const known = typeof x.dead === 'number';
      dead.hidden = !known;
      deadText.hidden = known;
      setText(dead, formatCount(x.dead));
      setAttr(dead, 'href', `#/dead-letters/${encodeURIComponent(x.name)}`);
      setAttr(dead, 'aria-label', `${formatCount(x.dead)} dead letters of ${x.name}`);
      c.dead.dataset.tone = known && x.dead > 0 ? 'bad' : '';
    });
    return row;
  }

  function markSelected() {
    for (const row of /** @type {HTMLCollectionOf<HTMLElement>} */ (body.children)) {
      const on = row.dataset.queue === selected;
      row.classList.toggle('selected', on);
      const link = row.querySelector('[data-testid="queue-select"]');
      if (link) setAttr(link, 'aria-current', on ? 'true' : null);
    }
  }

  return {
    /** @param {string | null} param the selected queue, from the address */
    show(param) {
      visible = true;
      if (param !== selected) {
        selected = param;
        throughput.render([]);
        latency.render([]);
      }
      markSelected();
      schedule();
    },
    hide() {
      visible = false;
      schedule();
    },
    /** @param {any} state */
    update(state) {
      delayedTotal.hidden = state.delayed === undefined;
      setText(delayedTotal, `Delayed (retries and delayed messages, every queue together): ${formatCount(state.delayed ?? null)}. The delay levels are shared, so a queue's own share is not known.`);
      empty.hidden = state.queues.length > 0;
      table.hidden = state.queues.length === 0;
      reconcile(body, state.queues, (q) => String(q.name), createRow, (row, q) => rows.get(row)?.(q));
      markSelected();
    },
  };
}
