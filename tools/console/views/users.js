// Users: admin.users.list (paged with after/next_after), refreshed every
// 10 s; Add (admin.user.add {user, password, display_name?}) and Remove
// (admin.user.remove {user}, asks first). docs/protocol.md §10.

import {commandButton, runExclusive} from '../actions.js';
import {confirmAction} from '../confirm.js';
import {h, replaceChildren, table, text} from '../dom.js';
import {formatTime} from '../format.js';
import {loadPage, pageParts, wirePaging} from '../paged.js';
import {poll} from '../poll.js';
import {showOutcome, showProblem} from '../status.js';

const PAGE_SIZE = 50;
const REFRESH_MS = 10000;
const USER_ID = /^[A-Za-z0-9_.@-]{1,64}$/;

const pages = [null];

function bytes(s) {
  return new TextEncoder().encode(s).length;
}

export function mount(root, ctx) {
  const session = ctx.session;
  const userInput = h('input', {id: 'add-user', testid: 'add-user', required: true, maxlength: '64', autocomplete: 'off', spellcheck: 'false', placeholder: 'dave'});
  const nameInput = h('input', {id: 'add-display-name', testid: 'add-display-name', maxlength: '100', autocomplete: 'off', placeholder: 'Dave D. (optional)'});
  const passwordInput = h('input', {id: 'add-password', testid: 'add-password', type: 'password', required: true, autocomplete: 'new-password', placeholder: 'at least 8 characters'});
  const submit = h('button', {type: 'submit', testid: 'add-submit'}, 'Add user');
  const form = h('form', {class: 'toolbar add-user', testid: 'add-user-form', novalidate: true},
    h('label', {for: 'add-user'}, 'User'), userInput,
    h('label', {for: 'add-display-name'}, 'Display name'), nameInput,
    h('label', {for: 'add-password'}, 'Password'), passwordInput,
    submit);
  const parts = pageParts('users');
  replaceChildren(root, h('section', {testid: 'view-users'},
    h('h2', {}, 'Users'),
    h('h3', {}, 'Add a user'), form,
    h('h3', {}, 'All users'), parts.error, parts.holder, parts.pager, parts.info));

  let poller = null;
  const row = (u) => {
    const user = text(u.user);
    return h('tr', {testid: 'user-row', data: {user}},
      h('td', {testid: 'user-id'}, user),
      h('td', {testid: 'user-display-name'}, text(u.display_name)),
      h('td', {}, formatTime(u.created_at)),
      h('td', {class: 'num', testid: 'user-devices'}, text(u.devices_online)),
      h('td', {class: 'row-actions'}, commandButton({
        label: 'Remove', testid: 'user-remove', className: 'danger', key: `admin.user.remove ${user}`, data: {user},
        confirm: () => confirmAction({
          title: `Remove ${user}?`,
          message: `Every device logged in as ${user} is logged out, and ${user} leaves its meetings. admin.user.add can make the user again.`,
          confirmLabel: 'Remove',
        }),
        send: () => session.request('admin.user.remove', {user}),
        done: `removed ${user}`,
        after: () => poller.now(),
      })));
  };

  let nextAfter = null;
  let shown = null;
  const load = async () => {
    const page = await loadPage(session, 'admin.users.list', {limit: PAGE_SIZE}, 'users', pages,
      parts, REFRESH_MS);
    if (!page) return;
    const users = page.items;
    nextAfter = page.nextAfter;
    const json = JSON.stringify(users);
    if (json === shown) return;
    shown = json;
    replaceChildren(parts.holder, table('users-table', ['User', 'Display name', 'Created', 'Devices online#', ''],
      users.map(row), 'no users'));
  };
  poller = poll(load, REFRESH_MS);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const user = userInput.value.trim();
    const password = passwordInput.value;
    const displayName = nameInput.value.trim();
    if (!USER_ID.test(user)) {
      showProblem('admin.user.add', 'a user id is 1 to 64 characters of A-Z a-z 0-9 _ . @ -');
      userInput.focus();
      return;
    }
    if (bytes(password) < 8 || bytes(password) > 256) {
      showProblem('admin.user.add', 'the password needs 8 to 256 bytes');
      passwordInput.focus();
      return;
    }
    await runExclusive('admin.user.add', async () => {
      submit.disabled = true;
      submit.classList.add('busy');
      try {
        const r = await session.request('admin.user.add', {user, password, display_name: displayName || undefined});
        showOutcome(r, `added ${user}`);
        if (r.code === 0) {
          form.reset();
          await poller.now();
        }
      } finally {
        submit.disabled = false;
        submit.classList.remove('busy');
      }
    });
  });
  wirePaging(pages, parts, () => nextAfter, () => poller.now());
  return () => poller.stop();
}
