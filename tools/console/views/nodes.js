// Nodes: admin.nodes every 5 s (every node that holds or held a shard
// lease; one row on SQLite); should the node refuse it, this node's
// admin.ping and admin.stats instead. Below, the figures of the last
// admin.stats and charts of commands/s and p50/p99 latency over the last
// 10 minutes (stats.js samples them from login on). docs/protocol.md §10.

import {lineChart, PALETTE} from '../chart.js';
import {h, replaceChildren, table, text} from '../dom.js';
import {countdown, formatTime, nowUnix} from '../format.js';
import {poll} from '../poll.js';
import {outcomeText} from '../status.js';
import {WINDOW_S, INTERVAL_MS} from '../stats.js';

const REFRESH_MS = 5000;

function fixed(x, digits) {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '-';
}

function nodeRow(n) {
  const node = text(n.node);
  return h('tr', {testid: 'node-row', data: {node}},
    h('td', {class: 'mono', testid: 'node-id'}, node),
    h('td', {testid: 'node-state'}, h('span', {class: `badge ${n.state === 'serving' || n.state === 'ready' ? 'active' : 'ended'}`}, text(n.state))),
    h('td', {}, text(n.version)),
    h('td', {class: 'num'}, text(n.shards)),
    h('td', {class: 'num'}, text(n.meetings)),
    h('td', {}, typeof n.lease_expires_at === 'number' ? countdown(n.lease_expires_at, {past: 'ran out', testid: 'node-lease'}) : '-'),
    h('td', {class: 'num'}, fixed(n.commands_per_s, 1)));
}

function figure(label, value, testid) {
  return h('div', {class: 'figure', testid}, h('div', {class: 'figure-value'}, value), h('div', {class: 'figure-label'}, label));
}

function figures(s) {
  const m = s.meetings && typeof s.meetings === 'object' ? s.meetings : {};
  const c = s.commands && typeof s.commands === 'object' ? s.commands : {};
  const r = s.rtc && typeof s.rtc === 'object' ? s.rtc : {};
  const st = s.store && typeof s.store === 'object' ? s.store : {};
  const w = s.webhooks && typeof s.webhooks === 'object' ? s.webhooks : {};
  return h('div', {class: 'figures', testid: 'stats-figures'},
    figure('active meetings', text(m.active), 'fig-active'),
    figure('ended meetings', text(m.ended), 'fig-ended'),
    figure('with an actor / dormant', `${text(m.with_actor)} / ${text(m.dormant)}`, 'fig-actors'),
    figure('participants', text(s.participants), 'fig-participants'),
    figure('ringing invitations', text(s.ringing_invitations), 'fig-ringing'),
    figure('devices online', text(s.devices_online), 'fig-devices'),
    figure('users', text(s.users), 'fig-users'),
    figure('commands since start', text(c.total), 'fig-commands'),
    figure('commands/s (10 s)', fixed(c.per_s, 1), 'fig-rate'),
    figure('p50 / p99 ms', `${fixed(c.p50_ms, 1)} / ${fixed(c.p99_ms, 1)}`, 'fig-latency'),
    figure('RTC calls / failures / retries', `${text(r.calls)} / ${text(r.failures)} / ${text(r.retries)}`, 'fig-rtc'),
    figure('RTC circuit', r.circuit_open === true ? 'open' : r.circuit_open === false ? 'closed' : '-', 'fig-circuit'),
    figure('store commits', text(st.commits), 'fig-commits'),
    figure('changes per commit', fixed(st.changes_per_commit, 1), 'fig-changes'),
    figure('webhooks delivered / pending / given up',
      `${text(w.delivered)} / ${text(w.pending)} / ${text(w.given_up)}`, 'fig-webhooks'));
}

export function mount(root, ctx) {
  const {session, stats} = ctx;
  const error = h('p', {class: 'view-error', testid: 'view-error', role: 'alert', hidden: true});
  const note = h('p', {class: 'muted', testid: 'nodes-note'});
  const nodesHolder = h('div', {class: 'table-wrap'});
  const figuresHolder = h('div');
  const chartsHolder = h('div', {class: 'charts', testid: 'charts'});
  replaceChildren(root, h('section', {testid: 'view-nodes'},
    h('h2', {}, 'Nodes'), error, nodesHolder, note,
    h('h3', {}, 'Figures'), figuresHolder,
    h('h3', {}, `Over time: up to the last ${WINDOW_S / 60} minutes (admin.stats every ${INTERVAL_MS / 1000} s)`), chartsHolder));

  let shown = null;
  const drawNodes = (rows, answeredBy, fallback) => {
    const json = JSON.stringify([rows, answeredBy, fallback]);
    if (json === shown) return;
    shown = json;
    replaceChildren(nodesHolder, table('nodes-table',
      ['Node', 'State', 'Version', 'Shards#', 'Meetings#', 'Lease ends', 'Commands/s#'], rows.map(nodeRow), 'no nodes'));
  };

  const load = async () => {
    const r = await session.request('admin.nodes');
    const time = formatTime(Math.floor(nowUnix())).slice(11);
    if (r.code === 0) {
      error.hidden = true;
      const rows = Array.isArray(r.data.nodes) ? r.data.nodes : [];
      drawNodes(rows, r.data.answered_by, false);
      note.textContent = `answered by ${text(r.data.answered_by)} · refreshed ${time}, every ${REFRESH_MS / 1000} s`;
      return;
    }
    // A node that cannot answer admin.nodes: what it says of itself.
    const ping = await session.request('admin.ping');
    if (ping.code !== 0) {
      error.hidden = false;
      error.textContent = `admin.nodes: ${outcomeText(r)}; admin.ping: ${outcomeText(ping)}`;
      return;
    }
    error.hidden = true;
    const s = stats.latest || {};
    const commands = s.commands && typeof s.commands === 'object' ? s.commands : {};
    drawNodes([{
      node: ping.data.node, state: 'answering', version: ping.data.version,
      meetings: s.meetings && typeof s.meetings === 'object' ? s.meetings.active : undefined,
      commands_per_s: commands.per_s,
    }], ping.data.node, true);
    note.textContent = `admin.nodes: ${outcomeText(r)} — showing the node's own admin.ping and admin.stats · refreshed ${time}`;
  };
  const poller = poll(load, REFRESH_MS);

  const drawStats = () => {
    if (stats.latest) replaceChildren(figuresHolder, figures(stats.latest),
      h('p', {class: 'muted'}, `admin.stats answered by ${text(stats.latest.node)}`,
        stats.error ? ` · last try: ${outcomeText(stats.error)}` : ''));
    else if (stats.error) replaceChildren(figuresHolder, h('p', {class: 'view-error'}, `admin.stats: ${outcomeText(stats.error)}`));
    const now = nowUnix();
    // The time shown: since the first sample, at least 2 and at most 10 minutes.
    const first = stats.samples.length ? stats.samples[0].t : now;
    const span = Math.min(WINDOW_S, Math.max(120, Math.ceil((now - first) / 60) * 60));
    const nodes = stats.nodes();
    const rate = nodes.map((n, i) => ({name: nodes.length > 1 ? n : 'commands/s', color: PALETTE[i % PALETTE.length], points: stats.series(n, 'rate')}));
    const latency = nodes.flatMap((n, i) => [
      {name: nodes.length > 1 ? `${n} p50` : 'p50', color: PALETTE[(2 * i) % PALETTE.length], dashed: true, points: stats.series(n, 'p50')},
      {name: nodes.length > 1 ? `${n} p99` : 'p99', color: PALETTE[(2 * i + 1) % PALETTE.length], points: stats.series(n, 'p99')},
    ]);
    replaceChildren(chartsHolder,
      lineChart({testid: 'chart-rate', title: 'Commands per second', unit: '/s', windowS: span, now, series: rate}),
      lineChart({testid: 'chart-latency', title: 'Handling time', unit: 'ms', windowS: span, now, series: latency}));
  };
  drawStats();
  stats.addEventListener('sample', drawStats);
  return () => {
    poller.stop();
    stats.removeEventListener('sample', drawStats);
  };
}
