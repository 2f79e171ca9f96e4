// Buttons that send a command. A button is disabled from the click until
// the reply (or the timeout), and while its confirmation is open; clicks in
// between do nothing, so a double click never sends a command twice. The
// key names the action and its target ("admin.kick m-1 bob"): a view that
// redraws while the command is in flight draws that button disabled too.

import {h} from './dom.js';
import {showOutcome} from './status.js';

const inflight = new Set();

function buttonsFor(key) {
  return [...document.querySelectorAll('button[data-action-key]')].filter((b) => b.dataset.actionKey === key);
}

/**
 * opts:
 *   label, testid, key, className, title, data (extra data-* attributes)
 *   disabled: drawn disabled regardless (e.g. the meeting ended)
 *   confirm: async () => {ok, reason}  (optional; confirm.js)
 *   send: async (confirmation) => outcome  (a Session.request result)
 *   done: the words for success ("kicked bob from m-1")
 *   after: async (outcome) => {}  (e.g. reload the view)
 */
export function commandButton(opts) {
  const button = h('button', {
    type: 'button',
    class: opts.className || '',
    testid: opts.testid,
    title: opts.title,
    data: {actionKey: opts.key, ...(opts.data || {})},
    disabled: opts.disabled || inflight.has(opts.key),
  }, opts.label);
  if (opts.disabled) button.dataset.off = '1';
  button.addEventListener('click', async (event) => {
    event.preventDefault();
    if (inflight.has(opts.key) || button.dataset.off) return;
    inflight.add(opts.key);
    for (const b of buttonsFor(opts.key)) b.disabled = true;
    button.disabled = true;
    try {
      let confirmation = {ok: true, reason: ''};
      if (opts.confirm) confirmation = await opts.confirm();
      if (!confirmation.ok) return;
      button.classList.add('busy');
      const outcome = await opts.send(confirmation);
      showOutcome(outcome, opts.done);
      if (opts.after) await opts.after(outcome);
    } finally {
      inflight.delete(opts.key);
      button.classList.remove('busy');
      for (const b of [button, ...buttonsFor(opts.key)]) if (!b.dataset.off) b.disabled = false;
    }
  });
  return button;
}

/** Whether a command with this key is in flight (forms check before sending). */
export function inFlight(key) {
  return inflight.has(key);
}

/** Runs `fn` as the in-flight command `key` (forms): false if it already is. */
export async function runExclusive(key, fn) {
  if (inflight.has(key)) return false;
  inflight.add(key);
  try {
    await fn();
  } finally {
    inflight.delete(key);
  }
  return true;
}
