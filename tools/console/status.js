// The status area: the outcome of the last action, in plain words, with the
// reply's code (`0 ok` in green, `403 not_host: ...` in red), and a short
// history of the ones before. Tests read data-action, data-code and
// data-seq of [data-testid=status].

import {h, replaceChildren} from './dom.js';
import {formatTime, nowUnix} from './format.js';

const HISTORY = 8;
let seq = 0;
let current = null; // the outcome shown now, moved to the history by the next

/** One line for an outcome: "0 ok: kicked bob", "403 not_host: ...", "no reply: ...". */
export function outcomeText(outcome, done) {
  if (outcome.code === 0) return done ? `0 ok: ${done}` : '0 ok';
  if (outcome.code === null) {
    return `${outcome.reason === 'timeout' ? 'no reply' : 'not sent'}: ${outcome.message}`;
  }
  const reason = outcome.reason || 'error';
  return outcome.message ? `${outcome.code} ${reason}: ${outcome.message}` : `${outcome.code} ${reason}`;
}

/**
 * Shows the outcome of `outcome.type` (a Session.request result); `done`
 * says in words what succeeded ("kicked bob from m-1").
 */
export function showOutcome(outcome, done) {
  const area = document.getElementById('status');
  const log = document.getElementById('status-log');
  if (!area) return;
  seq += 1;
  const ok = outcome.code === 0;
  area.className = ok ? 'status ok' : 'status error';
  area.dataset.action = outcome.type;
  area.dataset.code = outcome.code === null ? 'none' : String(outcome.code);
  area.dataset.seq = String(seq);
  replaceChildren(area,
    h('span', {class: 'status-type'}, outcome.type),
    ' ',
    h('span', {class: 'status-text', testid: 'status-text'}, outcomeText(outcome, done)));
  if (log && current) {
    log.prepend(h('li', {class: current.ok ? 'ok' : 'error'}, current.line));
    while (log.children.length > HISTORY) log.lastChild.remove();
    log.closest('details').hidden = false;
  }
  current = {ok, line: `${formatTime(Math.floor(nowUnix())).slice(11)} ${outcome.type} ${outcomeText(outcome, done)}`};
}

/** Shows a local problem (nothing was sent), e.g. a form that does not check out. */
export function showProblem(type, message) {
  showOutcome({type, code: null, reason: 'invalid', message}, '');
}

export function clearStatus() {
  const area = document.getElementById('status');
  const log = document.getElementById('status-log');
  if (area) {
    area.className = 'status';
    area.textContent = '';
    for (const k of ['action', 'code', 'seq']) delete area.dataset[k];
  }
  if (log) {
    log.textContent = '';
    log.closest('details').hidden = true;
  }
  current = null;
}
