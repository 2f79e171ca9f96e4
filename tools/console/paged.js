// One page of an admin list (admin.meetings.list, admin.users.list): asks
// for the page after the last `after` of `pages`, shows an error or the
// page's line ("N on this page (page K) · refreshed ..."), enables the
// Previous/Next buttons. Returns {items, nextAfter}, or null on an error.

import {h} from './dom.js';
import {formatTime, nowUnix} from './format.js';
import {outcomeText} from './status.js';

/**
 * The parts of a paged list: its error line, the table's holder, the
 * Previous/Next buttons in their pager and the page's line. `name`
 * prefixes the test ids (meetings-prev, users-info, ...).
 */
export function pageParts(name) {
  const prev = h('button', {type: 'button', testid: `${name}-prev`, disabled: true}, '← Previous page');
  const next = h('button', {type: 'button', testid: `${name}-next`, disabled: true}, 'Next page →');
  return {
    error: h('p', {class: 'view-error', testid: 'view-error', role: 'alert', hidden: true}),
    holder: h('div', {class: 'table-wrap'}),
    prev,
    next,
    pager: h('div', {class: 'pager'}, prev, next),
    info: h('p', {class: 'muted', testid: `${name}-info`}),
  };
}

export async function loadPage(session, type, args, key, pages, parts, refreshMs) {
  const after = pages[pages.length - 1];
  const r = await session.request(type, {...args, after: after || undefined});
  if (r.code !== 0) {
    parts.error.hidden = false;
    parts.error.textContent = `${type}: ${outcomeText(r)}`;
    return null;
  }
  parts.error.hidden = true;
  const items = Array.isArray(r.data[key]) ? r.data[key] : [];
  const nextAfter = typeof r.data.next_after === 'string' ? r.data.next_after : null;
  parts.next.disabled = !nextAfter;
  parts.prev.disabled = pages.length <= 1;
  parts.info.textContent = `${items.length} on this page (page ${pages.length}) · refreshed `
    + `${formatTime(Math.floor(nowUnix())).slice(11)}, every ${refreshMs / 1000} s`;
  return {items, nextAfter};
}

/** Previous/Next: move through `pages` and load again at once. */
export function wirePaging(pages, parts, nextAfter, reload) {
  parts.next.addEventListener('click', () => {
    const after = nextAfter();
    if (!after) return;
    parts.next.disabled = true;
    pages.push(after);
    reload();
  });
  parts.prev.addEventListener('click', () => {
    if (pages.length <= 1) return;
    parts.prev.disabled = true;
    pages.pop();
    reload();
  });
}
