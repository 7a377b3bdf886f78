// The body of one dead letter in a dialog: pretty JSON (with token colours) when the body parses as JSON,
// else the text as it is; a binary body is shown as its base64 with its byte count. The body is untrusted:
// it is only ever put into text nodes.

import { formatBytes, formatCount, formatDateTime, h, parseTime, UNKNOWN } from './dom.js';
import { openDialog, toast } from './ui.js';

/** Colouring a huge body would stall the page; past this it is shown plain. */
const HIGHLIGHT_LIMIT = 200_000;

const TOKEN = /("(?:\\.|[^"\\])*")(\s*:)?|\b(?:true|false|null)\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/**
 * What the viewer shows for a body.
 * @param {{ bodyEncoding: string, body: string }} message
 * @returns {{ kind: 'json' | 'text' | 'base64', text: string }}
 */
export function describeBody(message) {
  if (message.bodyEncoding === 'base64') return { kind: 'base64', text: message.body };
  try {
    return { kind: 'json', text: JSON.stringify(JSON.parse(message.body), null, 2) };
  } catch {
    return { kind: 'text', text: message.body };
  }
}

/**
 * Pretty JSON as text nodes and spans per token kind.
 * @param {string} json
 * @returns {Node[]}
 */
function highlight(json) {
  if (json.length > HIGHLIGHT_LIMIT) return [document.createTextNode(json)];
  /** @type {Node[]} */
  const nodes = [];
  let last = 0;
  for (const match of json.matchAll(TOKEN)) {
    const at = match.index ?? 0;
    if (at > last) nodes.push(document.createTextNode(json.slice(last, at)));
    const [token, string, colon] = match;
    if (string !== undefined) {
      nodes.push(h('span', { class: colon ? 'tok-key' : 'tok-str', text: string }));
      if (colon) nodes.push(document.createTextNode(colon));
    } else nodes.push(h('span', { class: /^[tfn]/.test(token) ? 'tok-lit' : 'tok-num', text: token }));
    last = at + token.length;
  }
  if (last < json.length) nodes.push(document.createTextNode(json.slice(last)));
  return nodes;
}

/**
 * Opens the viewer for one message of `queue`'s dead letters.
 * @param {any} message a DeadLetterInfo
 * @param {string} queue
 */
export function openBody(message, queue) {
  const body = describeBody(message);
  const kindLabel = { json: 'JSON', text: 'Text', base64: 'Binary, shown as base64' }[body.kind];
  const when = (/** @type {string | null} */ iso) => {
    const at = parseTime(iso);
    return at === null ? UNKNOWN : formatDateTime(at);
  };
  const item = (/** @type {string} */ label, /** @type {string} */ value, /** @type {string} */ cls = '') => h('div', { class: `meta-item ${cls}` }, h('dt', { text: label }), h('dd', { text: value }));
  const copy = h('button', { type: 'button', class: 'button button-small', testid: 'body-copy', text: 'Copy' });
  copy.addEventListener('click', () => {
    navigator.clipboard.writeText(body.text).then(
      () => toast('Body copied.', 'success'),
      () => toast('The browser refused the clipboard; select the text instead.', 'error'),
    );
  });
  const headerCount = Object.keys(message.headers ?? {}).length;
  openDialog({
    title: message.messageId === null ? 'Message without an id' : `Message ${message.messageId}`,
    testid: 'body-viewer',
    wide: true,
    content: [
      h(
        'dl',
        { class: 'meta' },
        item('Queue', `${queue}.dlq`, 'mono'),
        item('Size', message.bodyBytes < 1024 ? `${formatCount(message.bodyBytes)} bytes` : `${formatBytes(message.bodyBytes)} (${formatCount(message.bodyBytes)} bytes)`),
        item('Attempts', formatCount(message.attempts)),
        item('First failure', when(message.firstFailedAt)),
        item('Last failure', when(message.failedAt)),
      ),
      message.reason === null ? null : h('section', { class: 'viewer-block' }, h('h3', { class: 'subhead', text: 'Reason' }), h('p', { class: 'wrap', testid: 'body-reason', text: message.reason })),
      message.error === null ? null : h('section', { class: 'viewer-block' }, h('h3', { class: 'subhead', text: 'Error' }), h('pre', { class: 'code code-error', text: message.error })),
      h(
        'section',
        { class: 'viewer-block' },
        h('div', { class: 'viewer-bar' }, h('h3', { class: 'subhead', text: 'Body' }), h('span', { class: 'pill', testid: 'body-kind', data: { kind: body.kind }, text: kindLabel }), copy),
        h('pre', { class: `code code-body${body.kind === 'base64' ? ' code-wrap' : ''}`, testid: 'body-content', tabindex: '0' }, ...(body.kind === 'json' ? highlight(body.text) : [document.createTextNode(body.text)])),
      ),
      h(
        'details',
        { class: 'viewer-block' },
        h('summary', { text: `Headers (${headerCount})` }),
        h('pre', { class: 'code', testid: 'body-headers', text: JSON.stringify(message.headers ?? {}, null, 2) }),
      ),
    ].filter((x) => x !== null),
  });
}
