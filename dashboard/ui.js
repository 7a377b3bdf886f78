// Small shared widgets: toasts, modal dialogs (confirm, type-to-confirm), and tips (a popover that opens
// on hover and toggles on a click, a tap or Enter, so that a description is reachable on a phone and from
// the keyboard too).

import { h, setAttr, setText } from './dom.js';

const TOAST_MS = { info: 5_000, success: 5_000, error: 9_000 };

/**
 * Shows a toast. Errors stay longer and are announced at once (role=alert).
 * @param {string} message
 * @param {'info' | 'success' | 'error'} [kind]
 */
export function toast(message, kind = 'info') {
  const region = document.querySelector('[data-testid="toasts"]');
  if (region === null) return;
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', text: '×' });
  const el = h('div', { class: `toast toast-${kind}`, testid: 'toast', role: kind === 'error' ? 'alert' : 'status', data: { kind } }, h('span', { class: 'toast-text', text: message }), close);
  const remove = () => el.remove();
  close.addEventListener('click', remove);
  region.append(el);
  // a toast under the pointer or the focus waits until left
  let timer = setTimeout(remove, TOAST_MS[kind]);
  el.addEventListener('pointerenter', () => clearTimeout(timer));
  el.addEventListener('pointerleave', () => (timer = setTimeout(remove, 2_000)));
}

/**
 * A modal `<dialog>` with a title, content and a row of actions, removed from the page when closed.
 * Escape and the close button cancel (the dialog's returnValue is then '').
 * @param {object} spec
 * @param {string} spec.title
 * @param {string} spec.testid
 * @param {Node[]} spec.content
 * @param {HTMLElement[]} [spec.actions] buttons; give them `value` and they close the dialog with it
 * @param {boolean} [spec.wide]
 * @returns {HTMLDialogElement}
 */
export function openDialog({ title, testid, content, actions = [], wide = false }) {
  const titleId = `dialog-title-${Math.random().toString(36).slice(2)}`;
  const form = h('form', { method: 'dialog', class: 'dialog-actions' }, ...actions);
  const dialog = /** @type {HTMLDialogElement} */ (
    h(
      'dialog',
      { class: wide ? 'dialog dialog-wide' : 'dialog', testid, 'aria-labelledby': titleId },
      h('header', { class: 'dialog-head' }, h('h2', { id: titleId, text: title }), h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close', text: '×', testid: 'dialog-close', on: { click: () => dialog.close('') } })),
      h('div', { class: 'dialog-body' }, ...content),
      actions.length > 0 ? form : null,
    )
  );
  dialog.addEventListener('close', () => dialog.remove());
  // a click on the backdrop (outside the box) cancels, as users expect of a modal
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close('');
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/**
 * Asks before doing something. With `requireText`, the confirm button stays disabled until exactly that
 * text is typed (used before purging: the queue name).
 * @param {object} spec
 * @param {string} spec.title
 * @param {string} spec.message
 * @param {string} spec.confirmLabel
 * @param {boolean} [spec.danger]
 * @param {string} [spec.requireText]
 * @returns {Promise<string | null>} null when cancelled, else what was typed ('' without requireText)
 */
export function confirmDialog({ title, message, confirmLabel, danger = false, requireText }) {
  return new Promise((resolve) => {
    const ok = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', value: 'ok', class: danger ? 'button button-danger' : 'button button-primary', testid: 'confirm-ok', text: confirmLabel }));
    const cancel = h('button', { type: 'submit', value: '', class: 'button', testid: 'confirm-cancel', text: 'Cancel', formnovalidate: true });
    const content = [h('p', { text: message })];
    /** @type {HTMLInputElement | null} */
    let input = null;
    if (requireText !== undefined) {
      const id = `confirm-input-${Math.random().toString(36).slice(2)}`;
      input = /** @type {HTMLInputElement} */ (h('input', { id, type: 'text', class: 'input input-mono', testid: 'confirm-input', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off' }));
      const field = input;
      content.push(h('label', { class: 'field', for: id }, 'Type ', h('code', { text: requireText }), ' to confirm'), field);
      ok.toggleAttribute('disabled', true);
      field.addEventListener('input', () => ok.toggleAttribute('disabled', field.value !== requireText));
      // Enter confirms once the text is right (the field is outside the form, so it never submits by itself)
      field.addEventListener('keydown', (event) => {
        if (event.key !== 'Enter') return;
        event.preventDefault();
        if (!ok.disabled) dialog.close('ok');
      });
    }
    const dialog = openDialog({ title, testid: 'confirm-dialog', content, actions: [cancel, ok] });
    (input ?? cancel).focus();
    dialog.addEventListener('close', () => {
      if (dialog.returnValue !== 'ok') return resolve(null);
      resolve(input === null ? '' : input.value);
    });
  });
}

let tipSeq = 0;

/**
 * A trigger button with a popover description: opens on mouse hover, toggles on click, tap or Enter, closes
 * on Escape or a click elsewhere. The popover lives in the top layer, so a scrolling table does not clip it.
 * @param {string} testid
 * @returns {{ el: HTMLElement, set(label: string, description: string | null): void }}
 */
export function tip(testid) {
  const id = `tip-${++tipSeq}`;
  const body = h('div', { id, popover: 'auto', class: 'tip-body', role: 'tooltip', testid: `${testid}-tip` });
  const trigger = h('button', { type: 'button', class: 'tip-trigger', testid, popovertarget: id, 'aria-describedby': id });
  const el = h('span', { class: 'tip' }, trigger, body);
  // below the trigger, or above it when the viewport ends first (CSSOM positions are allowed by the CSP)
  const place = () => {
    const r = trigger.getBoundingClientRect();
    const below = r.bottom + 6 + body.offsetHeight <= window.innerHeight - 8;
    body.style.left = `${Math.max(8, Math.min(r.left, window.innerWidth - body.offsetWidth - 8))}px`;
    body.style.top = `${below ? r.bottom + 6 : Math.max(8, r.top - 6 - body.offsetHeight)}px`;
  };
  body.addEventListener('toggle', (event) => {
    if (/** @type {ToggleEvent} */ (event).newState === 'open') place();
  });
  const show = () => {
    if (!body.matches(':popover-open') && !trigger.hasAttribute('data-empty')) body.showPopover();
  };
  const hide = () => {
    if (body.matches(':popover-open')) body.hidePopover();
  };
  trigger.addEventListener('pointerenter', (e) => e.pointerType === 'mouse' && show());
  trigger.addEventListener('pointerleave', (e) => e.pointerType === 'mouse' && hide());
  // hover already opened it: a mouse click must not toggle it shut under the pointer
  trigger.addEventListener('click', (e) => {
    if (/** @type {PointerEvent} */ (e).pointerType === 'mouse' && body.matches(':popover-open')) e.preventDefault();
  });
  return {
    el,
    set(label, description) {
      setText(trigger, label);
      setText(body, description ?? '');
      // without a description it is plain text, not a control
      trigger.toggleAttribute('data-empty', description === null);
      setAttr(trigger, 'popovertarget', description === null ? null : id);
      setAttr(trigger, 'tabindex', description === null ? '-1' : null);
      if (description === null) hide();
    },
  };
}
