// Dead letters of one queue (#/dead-letters/<queue>): search, read, select, replay, purge. The list is
// fetched when the queue or the search changes, on Refresh, and after every action; the state events only
// tell when the queue's count moved (the Refresh button then asks for attention).

import { deadLettersPath, getJson, postJson } from './api.js';
import { openBody } from './body-viewer.js';
import { formatCount, h, parseTime, reconcile, setAttr, setText, setTimeAgo, UNKNOWN } from './dom.js';
import { confirmDialog } from './ui.js';

/** @typedef {import('./app.js').Ctx} Ctx */

const LIMIT = 100;
const SEARCH_DELAY_MS = 300;

/** @param {string} label @param {string} [cls] */
const cell = (label, cls) => h('td', { 'data-label': label, class: cls });

/** @param {Ctx} ctx */
export function createDeadLettersView(ctx) {
  const section = /** @type {HTMLElement} */ (document.getElementById('view-dead-letters'));

  const picker = /** @type {HTMLSelectElement} */ (h('select', { id: 'dlq-queue', class: 'input', testid: 'dlq-queue-picker' }));
  const search = /** @type {HTMLInputElement} */ (
    h('input', { id: 'dlq-search', type: 'search', class: 'input', testid: 'dlq-search', placeholder: 'Message id, or text in body, reason or error', autocomplete: 'off', spellcheck: 'false' })
  );
  const searchForm = h('form', { class: 'search', role: 'search' }, h('label', { class: 'visually-hidden', for: 'dlq-search', text: 'Search dead letters' }), search, h('button', { type: 'submit', class: 'button', testid: 'dlq-search-button', text: 'Search' }));
  const refresh = h('button', { type: 'button', class: 'button', testid: 'dlq-refresh', text: 'Refresh' });
  const replaySelected = h('button', { type: 'button', class: 'button button-primary', testid: 'replay-selected', disabled: true });
  const replayAll = h('button', { type: 'button', class: 'button', testid: 'replay-all', text: 'Replay all…' });
  const purge = h('button', { type: 'button', class: 'button button-danger-outline', testid: 'purge-button', text: 'Purge…' });
  const writeActions = h('div', { class: 'actions', testid: 'dlq-write-actions' }, replaySelected, replayAll, purge);
  const summary = h('p', { class: 'summary', testid: 'dlq-summary', 'aria-live': 'polite' });

  const selectAll = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', class: 'check', testid: 'dlq-select-all', 'aria-label': 'Select every message shown' }));
  const selectHead = h('th', { scope: 'col', class: 'cell-check' }, selectAll);
  const body = h('tbody');
  const table = h(
    'table',
    { class: 'grid dlq', testid: 'dlq-table' },
    h('caption', { class: 'visually-hidden', text: 'Dead letters' }),
    h('thead', {}, h('tr', {}, selectHead, ...['Message id', 'Attempts', 'First failure', 'Last failure', 'Reason', 'Error', ''].map((x) => h('th', { scope: 'col', class: x === 'Attempts' ? 'num' : undefined, text: x })))),
    body,
  );
  const empty = h('p', { class: 'empty', testid: 'dlq-empty', hidden: true });

  section.append(
    h('div', { class: 'toolbar' }, h('div', { class: 'field-inline' }, h('label', { for: 'dlq-queue', text: 'Queue' }), picker, refresh), searchForm),
    h('div', { class: 'card table-card' }, h('div', { class: 'list-head' }, summary, writeActions), h('div', { class: 'table-box' }, table, empty)),
  );

  /** @type {string | null} */
  let queue = null;
  let query = '';
  let visible = false;
  let writable = false;
  /** @type {{ depth: number, messages: any[] } | null} */
  let list = null;
  /** @type {Set<string>} */
  const selected = new Set();
  /** @type {AbortController | null} */
  let loading = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let searchTimer;
  /** @type {WeakMap<HTMLElement, (m: any) => void>} */
  const rows = new WeakMap();

  async function load() {
    if (queue === null) return;
    loading?.abort();
    const controller = new AbortController();
    loading = controller;
    table.setAttribute('aria-busy', 'true');
    const params = new URLSearchParams({ limit: String(LIMIT) });
    if (query !== '') params.set('q', query);
    try {
      const answer = await getJson(`${deadLettersPath(queue)}?${params}`, controller.signal);
      list = { depth: Number(answer?.depth) || 0, messages: Array.isArray(answer?.messages) ? answer.messages : [] };
      const present = new Set(list.messages.map((m) => m.messageId));
      for (const id of selected) if (!present.has(id)) selected.delete(id);
      render();
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') return;
      list = null;
      render();
      ctx.fail(error, 'Loading dead letters');
    } finally {
      if (loading === controller) {
        loading = null;
        table.removeAttribute('aria-busy');
      }
    }
  }

  /** Message ids repeat in a dead-letter queue (at-least-once): the row key counts occurrences. */
  function keyed(/** @type {any[]} */ messages) {
    /** @type {Map<string, number>} */
    const seen = new Map();
    return messages.map((m) => {
      const id = m.messageId === null ? '' : String(m.messageId);
      const n = (seen.get(id) ?? 0) + 1;
      seen.set(id, n);
      return { key: `${id}#${n}`, m };
    });
  }

  function render() {
    const messages = list?.messages ?? [];
    const ids = messages.filter((m) => m.messageId !== null).map((m) => String(m.messageId));
    if (list === null) setText(summary, queue === null ? 'Choose a queue.' : 'The dead letters could not be loaded.');
    else {
      const where = `${queue}.dlq`;
      const n = messages.length;
      const depth = formatCount(list.depth);
      if (query !== '') {
        const count = n >= LIMIT ? `The first ${formatCount(n)} matches` : `${formatCount(n)} ${n === 1 ? 'match' : 'matches'}`;
        setText(summary, `${count} for “${query}” in ${where} (${depth} in all)`);
      } else if (n < list.depth) setText(summary, `The first ${formatCount(n)} of ${depth} dead letters in ${where}`);
      else setText(summary, `${depth} ${list.depth === 1 ? 'dead letter' : 'dead letters'} in ${where}`);
    }
    empty.hidden = messages.length > 0;
    table.hidden = messages.length === 0;
    setText(empty, list === null ? '' : query === '' ? 'No dead letters. Nothing failed for good here.' : 'No dead letter matches the search.');
    reconcile(body, keyed(messages), (x) => x.key, createRow, (row, x) => rows.get(row)?.(x.m));

    selectHead.hidden = !writable;
    writeActions.hidden = !writable;
    const chosen = ids.filter((id) => selected.has(id)).length;
    selectAll.checked = chosen > 0 && chosen === ids.length;
    selectAll.indeterminate = chosen > 0 && chosen < ids.length;
    selectAll.disabled = ids.length === 0;
    setText(replaySelected, `Replay selected (${selected.size})`);
    replaySelected.toggleAttribute('disabled', selected.size === 0);
    replayAll.toggleAttribute('disabled', !list || list.depth === 0);
    purge.toggleAttribute('disabled', !list || list.depth === 0);
  }

  function createRow() {
    const check = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', class: 'check', testid: 'dlq-select' }));
    const id = h('span', { class: 'mono ellipsis', testid: 'dlq-message-id' });
    const first = h('time');
    const last = h('time');
    const reason = h('span', { class: 'clamp', testid: 'dlq-reason' });
    const errorSummary = h('summary', { class: 'ellipsis mono' });
    const errorText = h('pre', { class: 'code code-error' });
    const error = h('details', { class: 'error-details', testid: 'dlq-error' }, errorSummary, errorText);
    const noError = h('span', { class: 'muted', text: UNKNOWN });
    const view = h('button', { type: 'button', class: 'button button-small', testid: 'dlq-view-body', text: 'View' });
    const c = {
      check: cell('Select', 'cell-check'),
      id: cell('Message id', 'cell-primary'),
      attempts: cell('Attempts', 'num'),
      first: cell('First failure'),
      last: cell('Last failure'),
      reason: cell('Reason', 'cell-wide'),
      error: cell('Error', 'cell-wide'),
      view: cell('Body', 'cell-actions'),
    };
    c.check.append(check);
    c.id.append(id);
    c.first.append(first);
    c.last.append(last);
    c.reason.append(reason);
    c.error.append(error, noError);
    const row = h('tr', { testid: 'dlq-row' }, ...Object.values(c));
    /** @type {any} */
    let message = null;
    check.addEventListener('change', () => {
      if (message?.messageId === null || message === null) return;
      if (check.checked) selected.add(String(message.messageId));
      else selected.delete(String(message.messageId));
      render();
    });
    view.addEventListener('click', () => openBody(message, /** @type {string} */ (queue)));
    c.view.append(view);
    rows.set(row, (m) => {
      message = m;
      const hasId = m.messageId !== null;
      row.dataset.messageId = hasId ? String(m.messageId) : '';
      c.check.hidden = !writable;
      check.disabled = !hasId;
      check.checked = hasId && selected.has(String(m.messageId));
      setAttr(check, 'aria-label', hasId ? `Select ${m.messageId}` : 'Without a message id, only Replay all can move it');
      setText(id, hasId ? String(m.messageId) : '(no message id)');
      id.classList.toggle('muted', !hasId);
      setAttr(id, 'title', hasId ? String(m.messageId) : null);
      setText(c.attempts, formatCount(m.attempts));
      const now = ctx.now();
      setTimeAgo(first, parseTime(m.firstFailedAt), now);
      setTimeAgo(last, parseTime(m.failedAt), now);
      setText(reason, m.reason ?? UNKNOWN);
      setAttr(reason, 'title', m.reason ?? null);
      error.hidden = m.error === null;
      noError.hidden = m.error !== null;
      setText(errorSummary, String(m.error ?? '').split('\n')[0] ?? '');
      setText(errorText, String(m.error ?? ''));
      setAttr(view, 'aria-label', `View the body of ${hasId ? m.messageId : 'this message'}`);
    });
    return row;
  }

  /**
   * Runs a write against the current queue, then says what happened and reloads the list.
   * @param {string} what
   * @param {() => Promise<string>} action resolves with the toast's text
   */
  async function act(what, action) {
    const buttons = [replaySelected, replayAll, purge];
    buttons.forEach((b) => b.toggleAttribute('disabled', true));
    try {
      ctx.toast(await action(), 'success');
    } catch (error) {
      ctx.fail(error, what);
    } finally {
      render();
      await load();
    }
  }

  /** @param {any} r a ReplayResult */
  const replayed = (r) =>
    `Replayed ${formatCount(r?.replayed)} to ${queue}; ${formatCount(r?.remaining)} left in ${queue}.dlq.` +
    (Array.isArray(r?.missingIds) && r.missingIds.length > 0 ? ` Not found: ${r.missingIds.join(', ')}.` : '');

  replaySelected.addEventListener('click', () => {
    const q = /** @type {string} */ (queue);
    const ids = [...selected];
    void act('Replay', async () => {
      const result = await postJson(deadLettersPath(q, '/replay'), { ids });
      selected.clear();
      return replayed(result);
    });
  });

  replayAll.addEventListener('click', async () => {
    const q = /** @type {string} */ (queue);
    const n = formatCount(list?.depth ?? 0);
    const ok = await confirmDialog({ title: 'Replay every dead letter?', message: `All ${n} messages of ${q}.dlq go back to ${q} and start again from attempt 1.`, confirmLabel: `Replay ${n}` });
    if (ok === null) return;
    await act('Replay all', async () => {
      const result = await postJson(deadLettersPath(q, '/replay'), { all: true });
      selected.clear();
      return replayed(result);
    });
  });

  purge.addEventListener('click', async () => {
    const q = /** @type {string} */ (queue);
    const n = formatCount(list?.depth ?? 0);
    const typed = await confirmDialog({ title: `Purge ${q}.dlq?`, message: `This deletes its ${n} messages for good: they cannot be replayed afterwards.`, confirmLabel: 'Purge', danger: true, requireText: q });
    if (typed === null) return;
    await act('Purge', async () => {
      const result = await postJson(deadLettersPath(q, '/purge'), { confirm: typed });
      selected.clear();
      return `Purged ${formatCount(result?.purged)} messages from ${q}.dlq.`;
    });
  });

  selectAll.addEventListener('change', () => {
    for (const m of list?.messages ?? []) {
      if (m.messageId === null) continue;
      if (selectAll.checked) selected.add(String(m.messageId));
      else selected.delete(String(m.messageId));
    }
    render();
  });

  picker.addEventListener('change', () => {
    location.hash = `#/dead-letters/${encodeURIComponent(picker.value)}`;
  });
  searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    query = search.value.trim();
    void load();
  });
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      if (search.value.trim() === query) return;
      query = search.value.trim();
      void load();
    }, SEARCH_DELAY_MS);
  });
  refresh.addEventListener('click', () => void load());

  /** @param {string} next */
  function choose(next) {
    if (next === queue) return;
    queue = next;
    list = null;
    selected.clear();
    render();
    void load();
  }

  /** The queue with the most dead letters, for #/dead-letters without a name. */
  function fallback(/** @type {any} */ state) {
    const queues = [...(state?.queues ?? [])].sort((a, b) => (b.dead ?? 0) - (a.dead ?? 0));
    return queues[0]?.name ?? null;
  }

  /** @param {string | null} param the queue in the address, if any */
  function show(param) {
    visible = true;
    const next = param ?? queue ?? fallback(ctx.state());
    if (next === null) return render();
    // #/dead-letters alone names the queue shown, so that a reload or a shared link shows the same
    if (param === null) history.replaceState(null, '', `#/dead-letters/${encodeURIComponent(next)}`);
    picker.value = next;
    choose(next);
  }

  return {
    show,
    hide() {
      visible = false;
    },
    /** @param {any} state */
    update(state) {
      const canWrite = state.readOnly !== true;
      const changed = canWrite !== writable;
      writable = canWrite;
      const names = state.queues.map((/** @type {any} */ q) => String(q.name));
      if (queue !== null && !names.includes(queue)) names.push(queue);
      reconcile(picker, names, (n) => n, () => h('option'), (option, name) => {
        const q = state.queues.find((/** @type {any} */ x) => x.name === name);
        setText(option, q && typeof q.dead === 'number' ? `${name} (${formatCount(q.dead)})` : name);
        /** @type {HTMLOptionElement} */ (option).value = name;
      });
      if (queue !== null && picker.value !== queue) picker.value = queue;
      const current = state.queues.find((/** @type {any} */ x) => x.name === queue);
      refresh.dataset.attention = String(list !== null && query === '' && typeof current?.dead === 'number' && current.dead !== list.depth);
      if (visible && queue === null && fallback(state) !== null) show(null);
      else if (changed) render();
    },
  };
}
