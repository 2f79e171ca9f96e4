// Meetings: admin.meetings.list (docs/protocol.md §10), paged with
// after/next_after, filtered by state and by user, refreshed every 5 s.
// A row opens the meeting (#/meeting/<id>).

import {h, replaceChildren, table, text} from '../dom.js';
import {countdown, formatTime} from '../format.js';
import {loadPage, pageParts, wirePaging} from '../paged.js';
import {poll} from '../poll.js';

const PAGE_SIZE = 50;
const REFRESH_MS = 5000;

// Kept across visits: coming back from a meeting shows the same list.
const filter = {state: 'active', user: ''};
const pages = [null]; // the `after` of every page from the first to the one shown

export function meetingHash(id) {
  return `#/meeting/${encodeURIComponent(id)}`;
}

function row(m, ctx) {
  const id = typeof m.meeting === 'string' ? m.meeting : '';
  const open = () => ctx.navigate(meetingHash(id));
  const ended = m.state !== 'active';
  return h('tr', {
    class: 'clickable', testid: 'meeting-row', data: {meeting: id, state: text(m.state)}, tabindex: '0',
    on: {
      click: (e) => { if (!e.target.closest('a')) open(); },
      keydown: (e) => { if (e.key === 'Enter') open(); },
    },
  },
  h('td', {class: 'mono'}, h('a', {href: meetingHash(id), testid: 'meeting-link'}, id)),
  h('td', {testid: 'meeting-title'}, text(m.title)),
  h('td', {testid: 'meeting-host'}, text(m.host)),
  h('td', {class: 'num', testid: 'meeting-participants'}, text(m.participants)),
  h('td', {testid: 'meeting-state'}, h('span', {class: `badge ${ended ? 'ended' : 'active'}`}, text(m.state))),
  h('td', {}, formatTime(m.created_at)),
  h('td', {}, countdown(m.expires_at, {frozen: ended ? 'ended' : null, testid: 'meeting-expiry'})));
}

export function mount(root, ctx) {
  const stateSelect = h('select', {testid: 'meetings-state', id: 'meetings-state'},
    ['active', 'ended', 'all'].map((v) => h('option', {value: v, selected: v === filter.state}, v)));
  const userInput = h('input', {
    testid: 'meetings-user', id: 'meetings-user', value: filter.user, placeholder: 'any user',
    maxlength: '64', autocomplete: 'off', spellcheck: 'false',
  });
  const form = h('form', {class: 'toolbar', testid: 'meetings-filter'},
    h('label', {for: 'meetings-state'}, 'State'), stateSelect,
    h('label', {for: 'meetings-user'}, 'User'), userInput,
    h('button', {type: 'submit', testid: 'meetings-apply'}, 'Apply'));
  const parts = pageParts('meetings');
  replaceChildren(root, h('section', {testid: 'view-meetings'},
    h('h2', {}, 'Meetings'), form, parts.error, parts.holder, parts.pager, parts.info));

  let nextAfter = null;
  let shown = null; // the rows drawn, as JSON: redraw only on a change
  const load = async () => {
    const page = await loadPage(ctx.session, 'admin.meetings.list', {
      state: filter.state === 'all' ? undefined : filter.state,
      user: filter.user || undefined,
      limit: PAGE_SIZE,
    }, 'meetings', pages, parts, REFRESH_MS);
    if (!page) return;
    const meetings = page.items;
    nextAfter = page.nextAfter;
    const json = JSON.stringify(meetings);
    if (json === shown) return;
    shown = json;
    replaceChildren(parts.holder, table('meetings-table',
      ['Meeting', 'Title', 'Host', 'Participants#', 'State', 'Created', 'Expires'],
      meetings.map((m) => row(m, ctx)),
      filter.state === 'all' ? 'no meetings' : `no ${filter.state} meetings`));
  };
  const poller = poll(load, REFRESH_MS);

  const apply = () => {
    filter.state = stateSelect.value;
    filter.user = userInput.value.trim();
    pages.splice(1); // back to the first page (the array is shared with wirePaging)
    poller.now();
  };
  stateSelect.addEventListener('change', apply);
  form.addEventListener('submit', (e) => { e.preventDefault(); apply(); });
  wirePaging(pages, parts, () => nextAfter, () => poller.now());
  return () => poller.stop();
}
