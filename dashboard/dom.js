// DOM building and formatting. Everything shown from the API goes through textContent or attributes set
// here: nothing in the dashboard ever parses HTML, so a hostile reason, body or hostname stays text.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Sets the properties of an element. `class`, `text`, `testid`, `data` (dataset), `on` (listeners) are
 * special; booleans toggle attributes; other keys become attributes.
 * @param {Element} el
 * @param {Record<string, unknown>} props
 */
function apply(el, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'innerHTML' || key === 'outerHTML') throw new Error('the dashboard never sets HTML');
    if (key === 'class') el.setAttribute('class', String(value));
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'testid') el.setAttribute('data-testid', String(value));
    else if (key === 'data') Object.assign(/** @type {HTMLElement} */ (el).dataset, value);
    else if (key === 'on') for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (typeof value === 'boolean') el.toggleAttribute(key, value);
    else el.setAttribute(key, String(value));
  }
}

/**
 * `h('a', { href: '#/queues', text: 'Queues' }, ...children)`: an HTML element.
 * @param {string} tag
 * @param {Record<string, unknown>} [props]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  apply(el, props);
  for (const child of children) if (child !== null && child !== undefined && child !== false) el.append(child);
  return el;
}

/**
 * An SVG element, as {@link h}.
 * @param {string} tag
 * @param {Record<string, unknown>} [props]
 * @param {...(Node | null | undefined | false)} children
 * @returns {SVGElement}
 */
export function svg(tag, props = {}, ...children) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  apply(el, props);
  for (const child of children) if (child) el.append(child);
  return el;
}

/**
 * Sets text only when it changed, so that a state event every 2 s does not touch unchanged nodes (no
 * flicker, selection kept, screen readers not re-announcing).
 * @param {Element} el
 * @param {string} text
 */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Sets or removes an attribute only when it changed.
 * @param {Element} el
 * @param {string} name
 * @param {string | null} value
 */
export function setAttr(el, name, value) {
  if (value === null) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

/**
 * Makes the element children of `parent` one per item, in order, keyed: an existing element is updated
 * in place (its focus, open popovers and typed input survive), a new one created, a gone one removed.
 * `parent` must hold nothing but these keyed children.
 * @template T
 * @param {Element} parent
 * @param {readonly T[]} items
 * @param {(item: T) => string} keyOf
 * @param {(item: T) => HTMLElement} create
 * @param {(el: HTMLElement, item: T) => void} update
 */
export function reconcile(parent, items, keyOf, create, update) {
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  for (const child of /** @type {HTMLCollectionOf<HTMLElement>} */ (parent.children)) existing.set(child.dataset.key ?? '', child);
  items.forEach((item, index) => {
    const key = keyOf(item);
    let el = existing.get(key);
    if (el === undefined) {
      el = create(item);
      el.dataset.key = key;
    } else existing.delete(key);
    update(el, item);
    // move only when out of place: moving a node that holds the focus would blur it
    if (parent.children[index] !== el) parent.insertBefore(el, parent.children[index] ?? null);
  });
  for (const el of existing.values()) el.remove();
}

/** Shown for a number the server does not know. */
export const UNKNOWN = '–';

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** @param {number | null | undefined} n */
export const formatCount = (n) => (typeof n === 'number' && Number.isFinite(n) ? integer.format(n) : UNKNOWN);

/** Messages per second: one decimal below 100. @param {number | null | undefined} n */
export const formatRate = (n) => (typeof n === 'number' && Number.isFinite(n) ? (Math.abs(n) < 100 ? oneDecimal : integer).format(n) : UNKNOWN);

/** @param {number | null | undefined} mb */
export const formatMb = (mb) => (typeof mb === 'number' && Number.isFinite(mb) ? oneDecimal.format(mb) : UNKNOWN);

/** @param {number | null | undefined} ms */
export function formatMs(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return UNKNOWN;
  return ms < 10 && ms !== 0 ? `${oneDecimal.format(ms)} ms` : `${integer.format(ms)} ms`;
}

/** @param {number} bytes */
export function formatBytes(bytes) {
  if (bytes < 1024) return `${integer.format(bytes)} B`;
  if (bytes < 1024 * 1024) return `${oneDecimal.format(bytes / 1024)} KB`;
  return `${oneDecimal.format(bytes / 1024 / 1024)} MB`;
}

/**
 * A duration as its two largest units: 45s, 12m 05s, 3h 04m, 3d 4h.
 * @param {number | null | undefined} seconds
 */
export function formatDuration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return UNKNOWN;
  const s = Math.floor(seconds);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/**
 * How long ago, from the server's clock: "just now", "4 min ago", "3 h ago", "2 d ago".
 * @param {number} at epoch ms
 * @param {number} now epoch ms
 */
export function formatAgo(at, now) {
  const s = Math.max(0, (now - at) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** @param {number | string} at epoch ms or ISO text */
export const formatDateTime = (at) => dateTime.format(new Date(at));

/** @param {number} at epoch ms */
export const formatClock = (at) => clock.format(new Date(at));

/**
 * Epoch ms of an ISO time, or null when absent or unreadable.
 * @param {string | null | undefined} iso
 */
export function parseTime(iso) {
  if (typeof iso !== 'string') return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * A `<time>` showing "x ago" with the full date on hover; `null` shows "–".
 * @param {HTMLElement} el a `<time>` element
 * @param {number | null} at
 * @param {number} now
 */
export function setTimeAgo(el, at, now) {
  if (at === null) {
    setText(el, UNKNOWN);
    setAttr(el, 'datetime', null);
    setAttr(el, 'title', null);
    return;
  }
  setText(el, formatAgo(at, now));
  setAttr(el, 'datetime', new Date(at).toISOString());
  setAttr(el, 'title', formatDateTime(at));
}
