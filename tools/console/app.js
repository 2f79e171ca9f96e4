// The console's boot: reads config.json (where the broker is, from the
// node), logs in (the form, or at once from the URL fragment
// #client=...&username=...&password=...), then shows the header and the
// view the hash names: #/meetings, #/meeting/<id>, #/users, #/nodes.

import {LoginError, Session} from './session.js';
import {StatsHistory} from './stats.js';
import {formatDuration, nowUnix, onTick, startTicker} from './format.js';
import {clearStatus} from './status.js';
import * as meetingsView from './views/meetings.js';
import * as meetingView from './views/meeting.js';
import * as usersView from './views/users.js';
import * as nodesView from './views/nodes.js';

const $ = (id) => document.getElementById(id);
const PING_EVERY_MS = 30000;

const config = {broker: '', parent_topic: 'MeetingCtrl', node: '', version: ''};
let session = null;
let stats = null;
let unmountView = null;
let pingTimer = null;
let uptime = null; // {base: uptime_s, at: unix s}
let untick = null;
let loginBusy = false;

// -- config.json ---------------------------------------------------------------------

async function loadConfig() {
  const box = $('config-error');
  try {
    const response = await fetch('config.json', {cache: 'no-store'});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const j = await response.json();
    for (const k of Object.keys(config)) if (typeof j[k] === 'string' && j[k]) config[k] = j[k];
    box.hidden = true;
    if (!config.broker) {
      box.hidden = false;
      box.textContent = 'The node does not say where the broker\'s WebSocket listener is (meetingd --console-broker): '
        + 'type its URL under "Broker" below, e.g. ws://127.0.0.1:9001.';
    }
  } catch (e) {
    box.hidden = false;
    box.textContent = `Could not read config.json from the node (${e.message}): type the broker's WebSocket URL under "Broker" below.`;
  }
  if (!config.broker) $('login-broker').closest('details').open = true;
  $('login-broker').value = config.broker;
  $('login-node').textContent = config.node ? `node ${config.node}, version ${config.version || '?'}` : '';
}

// -- login ---------------------------------------------------------------------------

/**
 * The login fragment #client=...&username=...&password=... (for kiosks and
 * tests): read once, then taken out of the address bar and of the history
 * entry, so the password does not stay in location.href. The broker always
 * comes from config.json (or the form), never from the URL: a link must not
 * be able to send the credentials elsewhere.
 */
function takeLoginFragment() {
  const hash = location.hash.replace(/^#/, '');
  if (!/(^|&)(client|username|password)=/.test(hash)) return null;
  const p = new URLSearchParams(hash);
  history.replaceState(null, '', `${location.pathname}${location.search}#/meetings`);
  return {clientId: p.get('client') || '', username: p.get('username') || '', password: p.get('password') || ''};
}

function showLoginError(kind, message) {
  const box = $('login-error');
  box.hidden = !message;
  box.textContent = message || '';
  if (kind) box.dataset.kind = kind;
  else delete box.dataset.kind;
}

function showLogin() {
  $('app').hidden = true;
  $('login').hidden = false;
  document.title = 'meetingd console';
}

async function login({clientId, username, password}) {
  if (loginBusy) return;
  const broker = $('login-broker').value.trim();
  clientId = clientId || username;
  if (!clientId) {
    showLoginError('form', 'Give a client id (an id in the node\'s --admins) or a username.');
    return;
  }
  if (!/^wss?:\/\/./.test(broker)) {
    showLoginError('form', `The broker's address must be a ws:// or wss:// URL (now: "${broker}").`);
    return;
  }
  loginBusy = true;
  const submit = $('login-submit');
  submit.disabled = true;
  showLoginError(null, '');
  const progress = $('login-progress');
  const s = new Session({broker, parent: config.parent_topic, clientId, username, password});
  try {
    const ping = await s.open((text) => { progress.textContent = `${text}…`; });
    progress.textContent = '';
    $('login-password').value = '';
    startApp(s, ping);
  } catch (e) {
    progress.textContent = '';
    showLoginError(e instanceof LoginError ? e.kind : 'setup', e.message);
  } finally {
    loginBusy = false;
    submit.disabled = false;
  }
}

// -- the logged-in page ----------------------------------------------------------------

function setConnState(state) {
  const el = $('conn-state');
  el.dataset.state = state;
  el.textContent = state === 'live' ? 'live' : state === 'reconnecting' ? 'reconnecting…' : state;
  el.className = `conn ${state}`;
}

function setUptime() {
  if (!uptime) return;
  $('hdr-uptime').textContent = `up ${formatDuration(uptime.base + nowUnix() - uptime.at)}`;
}

function showNode(ping) {
  $('hdr-node').textContent = typeof ping.node === 'string' ? ping.node : '?';
  $('hdr-version').textContent = typeof ping.version === 'string' ? `v${ping.version}` : '';
  if (typeof ping.uptime_s === 'number') uptime = {base: ping.uptime_s, at: nowUnix()};
  setUptime();
  document.title = `meetingd console · ${$('hdr-node').textContent}`;
}

function startApp(s, ping) {
  session = s;
  $('login').hidden = true;
  $('app').hidden = false;
  $('hdr-client').textContent = s.clientId;
  showNode(ping);
  setConnState(s.state);
  let wasDown = false;
  s.addEventListener('state', (e) => {
    setConnState(e.detail);
    if (e.detail === 'reconnecting') wasDown = true;
    if (e.detail === 'live' && wasDown) {
      wasDown = false;
      route(); // back: read the view afresh instead of waiting for its next round
    }
  });
  s.addEventListener('takeover', () => logout('takeover',
    `Logged out: the broker closed this console's connection three times in a short while. Most likely another console `
    + `(a browser tab, meetctl) is logged in with the client id ${s.clientId}, and the broker keeps one connection per `
    + 'client id (or the broker keeps restarting). Log in again to take it back, or give each console its own client id.'));
  stats = new StatsHistory(s);
  stats.start();
  untick = onTick(setUptime);
  pingTimer = setInterval(async () => {
    const r = await s.request('admin.ping');
    if (r.code === 0) showNode(r.data);
  }, PING_EVERY_MS);
  clearStatus();
  route();
}

function logout(kind, message) {
  if (unmountView) unmountView();
  unmountView = null;
  if (stats) stats.stop();
  stats = null;
  clearInterval(pingTimer);
  if (untick) untick();
  uptime = null;
  const s = session;
  session = null;
  if (s) s.close();
  clearStatus();
  showLogin();
  showLoginError(kind, message);
}

// -- routing -------------------------------------------------------------------------

const routes = [
  {re: /^#\/meetings$/, view: meetingsView, tab: 'meetings'},
  {re: /^#\/meeting\/(.+)$/, view: meetingView, tab: 'meetings', param: 'id'},
  {re: /^#\/users$/, view: usersView, tab: 'users'},
  {re: /^#\/nodes$/, view: nodesView, tab: 'nodes'},
];

function route() {
  if (!session) return;
  let match = null;
  let params = {};
  for (const r of routes) {
    const m = r.re.exec(location.hash);
    if (!m) continue;
    try {
      if (r.param) params = {[r.param]: decodeURIComponent(m[1])};
    } catch {
      continue; // a malformed %-escape
    }
    match = r;
    break;
  }
  if (!match) {
    history.replaceState(null, '', `${location.pathname}${location.search}#/meetings`);
    match = routes[0];
    params = {};
  }
  if (unmountView) unmountView();
  for (const tab of document.querySelectorAll('nav a[data-tab]')) {
    if (tab.dataset.tab === match.tab) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  const root = $('view');
  root.textContent = '';
  root.dataset.view = match.tab;
  unmountView = match.view.mount(root, {
    session, stats, config,
    navigate: (hash) => { location.hash = hash; },
  }, params);
}

// -- boot ----------------------------------------------------------------------------

async function loginFromFragment(creds) {
  $('login-client').value = creds.clientId;
  $('login-username').value = creds.username;
  await login(creds);
}

async function boot() {
  startTicker();
  const fromFragment = takeLoginFragment();
  window.addEventListener('hashchange', () => {
    // A login fragment typed or linked into an open page: taken out at
    // once; it logs in unless a console is logged in already.
    const creds = takeLoginFragment();
    if (creds && !session) loginFromFragment(creds);
    else route();
  });
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    login({
      clientId: $('login-client').value.trim(),
      username: $('login-username').value.trim(),
      password: $('login-password').value,
    });
  });
  $('logout').addEventListener('click', () => logout(null, ''));
  await loadConfig();
  showLogin();
  if (fromFragment) await loginFromFragment(fromFragment);
}

boot();
