// One meeting: admin.meeting.get (the reply of meeting.get, docs/protocol.md
// §7.4, §10), refreshed every 5 s, and what an admin may do to it:
//   End        admin.meeting.end {meeting, reason?}   (asks first)
//   Mute all   admin.mute_all {meeting, audio: true}  (asks first)
//   Lock       admin.lock {meeting}
//   Unlock     admin.unlock {meeting}
//   Mute       admin.mute {meeting, user, audio: true} (a participant)
//   Unmute     admin.unmute {meeting, user, audio: true} (one shown muted)
//   Kick       admin.kick {meeting, user}              (a participant; asks first)

import {commandButton} from '../actions.js';
import {confirmAction} from '../confirm.js';
import {h, replaceChildren, table, text} from '../dom.js';
import {countdown, formatTime, nowUnix} from '../format.js';
import {poll} from '../poll.js';
import {outcomeText} from '../status.js';

const REFRESH_MS = 5000;

function muteText(muted) {
  if (muted === true) return 'muted';
  if (muted === false) return 'on';
  return '-';
}

function detail(label, value, testid) {
  return [h('dt', {}, label), h('dd', {testid}, value)];
}

export function mount(root, ctx, params) {
  const id = params.id;
  const session = ctx.session;
  const error = h('p', {class: 'view-error', testid: 'view-error', role: 'alert', hidden: true});
  const body = h('div');
  const info = h('p', {class: 'muted', testid: 'meeting-info'});
  replaceChildren(root, h('section', {testid: 'view-meeting', data: {meeting: id}},
    h('p', {}, h('a', {href: '#/meetings', testid: 'back-to-meetings'}, '← Meetings')),
    h('h2', {}, 'Meeting ', h('span', {class: 'mono', testid: 'meeting-id'}, id)),
    error, body, info));

  let poller = null;
  const reload = () => poller.now();

  const act = (opts) => commandButton({...opts, after: reload});

  const meetingActions = (m) => {
    const ended = m.state !== 'active';
    return h('div', {class: 'toolbar actions', testid: 'meeting-actions'},
      act({
        label: 'End meeting', testid: 'action-end', className: 'danger', key: `admin.meeting.end ${id}`, disabled: ended,
        confirm: () => confirmAction({
          title: 'End this meeting?',
          message: `Every participant of ${id} gets event.ended (reason admin) and leaves; the meeting cannot be reopened.`,
          confirmLabel: 'End meeting', askReason: true,
        }),
        send: (c) => session.request('admin.meeting.end', {meeting: id, reason: c.reason || undefined}),
        done: `ended ${id}`,
      }),
      act({
        label: 'Mute all', testid: 'action-mute-all', key: `admin.mute_all ${id}`, disabled: ended,
        confirm: () => confirmAction({
          title: 'Mute everyone?',
          message: `Every member of ${id} (not the host or cohosts) is asked to mute their audio.`,
          confirmLabel: 'Mute all',
        }),
        send: () => session.request('admin.mute_all', {meeting: id, audio: true}),
        done: `asked the members of ${id} to mute`,
      }),
      act({
        label: 'Lock', testid: 'action-lock', key: `admin.lock ${id}`, disabled: ended,
        title: 'only earlier participants and ringing invitees may join a locked meeting',
        send: () => session.request('admin.lock', {meeting: id}),
        done: `locked ${id}`,
      }),
      act({
        label: 'Unlock', testid: 'action-unlock', key: `admin.unlock ${id}`, disabled: ended,
        send: () => session.request('admin.unlock', {meeting: id}),
        done: `unlocked ${id}`,
      }));
  };

  const kickButton = (user, ended, kicked) => act({
    label: 'Kick', testid: 'participant-kick', className: 'danger', key: `admin.kick ${id} ${user}`,
    data: {user}, disabled: ended || kicked,
    confirm: () => confirmAction({
      title: `Kick ${user}?`,
      message: `${user} is removed from ${id} and cannot come back into it.`,
      confirmLabel: 'Kick',
    }),
    send: () => session.request('admin.kick', {meeting: id, user}),
    done: `kicked ${user} from ${id}`,
  });

  const participantRow = (p, ended) => {
    const user = text(p.user);
    return h('tr', {testid: 'participant-row', data: {user}},
      h('td', {testid: 'participant-user'}, user),
      h('td', {testid: 'participant-role'}, text(p.role)),
      h('td', {testid: 'participant-online'}, p.online === true ? 'online' : p.online === false ? 'offline' : '-'),
      h('td', {testid: 'participant-audio'}, muteText(p.audio_muted)),
      h('td', {testid: 'participant-video'}, muteText(p.video_muted)),
      h('td', {}, formatTime(p.joined_at)),
      h('td', {class: 'row-actions'},
        p.audio_muted === true
          ? act({
            label: 'Unmute', testid: 'participant-unmute', key: `admin.unmute ${id} ${user}`, data: {user}, disabled: ended,
            title: 'ask this participant to turn their audio back on',
            send: () => session.request('admin.unmute', {meeting: id, user, audio: true}),
            done: `asked ${user} to unmute`,
          })
          : act({
            label: 'Mute', testid: 'participant-mute', key: `admin.mute ${id} ${user}`, data: {user}, disabled: ended,
            title: 'ask this participant to mute their audio',
            send: () => session.request('admin.mute', {meeting: id, user, audio: true}),
            done: `asked ${user} to mute`,
          }),
        kickButton(user, ended, false)));
  };

  const formerRow = (p, ended) => {
    const user = text(p.user);
    return h('tr', {testid: 'former-row', data: {user, state: text(p.state)}},
      h('td', {}, user),
      h('td', {}, text(p.role)),
      h('td', {testid: 'former-state'}, text(p.state)),
      h('td', {}, formatTime(p.joined_at)),
      h('td', {class: 'row-actions'}, p.state === 'left' ? kickButton(user, ended, false) : null));
  };

  const invitationRow = (inv) => h('tr', {testid: 'invitation-row', data: {user: text(inv.user)}},
    h('td', {}, text(inv.user)),
    h('td', {}, text(inv.inviter)),
    h('td', {testid: 'invitation-state'}, text(inv.state)),
    h('td', {}, inv.state === 'ringing'
      ? countdown(inv.ring_expires_at, {past: 'timing out', testid: 'ring-expiry'})
      : formatTime(inv.ring_expires_at)));

  const draw = (m) => {
    const ended = m.state !== 'active';
    const participants = Array.isArray(m.participants) ? m.participants : [];
    const joined = participants.filter((p) => p && p.state === 'joined');
    const former = participants.filter((p) => p && p.state !== 'joined');
    const invitations = Array.isArray(m.invitations) ? m.invitations : [];
    replaceChildren(body,
      h('dl', {class: 'details', testid: 'meeting-details'},
        detail('Title', text(m.title), 'meeting-title'),
        detail('Host', text(m.host), 'meeting-host'),
        detail('State', [h('span', {class: `badge ${ended ? 'ended' : 'active'}`}, text(m.state)),
          m.end_reason ? ` (${m.end_reason})` : ''], 'meeting-state'),
        detail('Locked', m.locked === true ? 'locked' : m.locked === false ? 'no' : '-', 'meeting-locked'),
        detail('Created', formatTime(m.created_at), 'meeting-created'),
        detail('Expires', [countdown(m.expires_at, {frozen: ended ? 'ended' : null, testid: 'meeting-expiry'}),
          ` (${formatTime(m.expires_at)})`], 'meeting-expires'),
        detail('Invite policy', text(m.invite_policy), 'meeting-policy'),
        detail('Max participants', text(m.max_participants), 'meeting-max')),
      meetingActions(m),
      h('h3', {}, `In the meeting (${joined.length})`),
      h('div', {class: 'table-wrap'}, table('participants',
        ['User', 'Role', 'Online', 'Audio', 'Video', 'Joined', ''],
        joined.map((p) => participantRow(p, ended)), ended ? 'the meeting ended' : 'nobody is in the meeting')),
      former.length ? [
        h('h3', {}, `Left or kicked (${former.length})`),
        h('div', {class: 'table-wrap'}, table('former-participants', ['User', 'Role', 'State', 'Joined', ''],
          former.map((p) => formerRow(p, ended)))),
      ] : null,
      h('h3', {}, `Invitations (${invitations.length})`),
      h('div', {class: 'table-wrap'}, table('invitations', ['User', 'Invited by', 'State', 'Rings until'],
        invitations.map(invitationRow), 'no invitations')));
  };

  let shown = null;
  const load = async () => {
    const r = await session.request('admin.meeting.get', {meeting: id});
    if (r.code !== 0) {
      error.hidden = false;
      error.textContent = r.code === 404
        ? `There is no meeting ${id} (404 ${r.reason}); it may have ended long ago.`
        : `admin.meeting.get: ${outcomeText(r)}`;
      if (r.code === 404) {
        shown = null;
        body.textContent = '';
      }
      return;
    }
    error.hidden = true;
    info.textContent = `refreshed ${formatTime(Math.floor(nowUnix())).slice(11)}, every ${REFRESH_MS / 1000} s`;
    const json = JSON.stringify(r.data);
    if (json === shown) return;
    shown = json;
    draw(r.data);
  };
  poller = poll(load, REFRESH_MS);
  return () => poller.stop();
}
