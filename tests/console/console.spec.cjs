// The web console (tools/console) in a real browser against a real node:
// headless Chromium driven by playwright-core, run by node with NODE_PATH at
// the build's npm install (tests/integration/console_test.cpp does that).
//
// Input (environment):
//   CONSOLE_URL       http://127.0.0.1:PORT/console/
//   CONSOLE_CLIENT    an admin client id (in the node's --admins)
//   CONSOLE_USERNAME  its broker login
//   CONSOLE_PASSWORD  and password
//   MEETING_ID        an active meeting with alice (host) and bob
//   KICK_USER         the participant to kick (bob)
//   SCREENSHOT_DIR    optional: login.png, meetings.png, meeting.png,
//                     users.png, nodes.png go there (docs/console.md)
//   CHROMIUM          the browser (default /usr/bin/chromium; never downloaded)
//
// Prints `step <name> ok` per step; stops at the first failure with exit
// code 1, the reason on stderr and a screenshot (in SCREENSHOT_DIR or /tmp).
'use strict';

const {env, tid, q, launch, Run, openConsole, fillLogin, statusSeq, outcome, clickExpectOk, until} = require('./common.cjs');

const URL = env('CONSOLE_URL');
const CLIENT = env('CONSOLE_CLIENT');
const USERNAME = env('CONSOLE_USERNAME');
const PASSWORD = env('CONSOLE_PASSWORD');
const MEETING = env('MEETING_ID');
const KICK = env('KICK_USER', 'bob');
const HOST = env('HOST_USER', 'alice');
const NEW_USER = 'carol';

const meetingRow = (id) => `${tid('meeting-row')}[data-meeting=${q(id)}]`;
const participantRow = (user) => `${tid('participants')} ${tid('participant-row')}[data-user=${q(user)}]`;
const userRow = (user) => `${tid('user-row')}[data-user=${q(user)}]`;

const login = (password) => ({client: CLIENT, username: USERNAME, password});

async function main() {
  const run = new Run('console.spec');
  const browser = await launch();
  const page = await run.newPage(browser);

  await run.step('wrong_password_refused', async () => {
    await openConsole(page, URL);
    await page.locator(tid('login-form')).waitFor();
    await fillLogin(page, login(`${PASSWORD}-wrong`));
    await page.click(tid('login-submit'));
    const error = page.locator(`${tid('login-error')}[data-kind="credentials"]`);
    await error.waitFor({state: 'visible', timeout: 30000});
    const text = await error.textContent();
    if (!/wrong username or password/i.test(text)) throw new Error(`login error says "${text}"`);
    if (await page.locator(tid('app')).isVisible()) throw new Error('the app shows after a refused login');
    await run.shot(page, 'login.png');
  });

  await run.step('login', async () => {
    await fillLogin(page, login(PASSWORD));
    await page.click(tid('login-submit'));
    await page.locator(tid('app')).waitFor({state: 'visible', timeout: 30000});
    await page.locator(`${tid('conn-state')}[data-state="live"]`).waitFor();
    const node = (await page.textContent(tid('hdr-node'))).trim();
    if (!node) throw new Error('the header names no node');
    if (await page.locator(tid('login-error')).isVisible()) throw new Error('a login error shows after logging in');
  });

  await run.step('meeting_listed_active', async () => {
    await page.locator(tid('view-meetings')).waitFor();
    const row = page.locator(meetingRow(MEETING));
    await row.waitFor({timeout: 30000});
    if ((await row.getAttribute('data-state')) !== 'active') throw new Error(`${MEETING} is not shown as active`);
    const host = (await row.locator(tid('meeting-host')).textContent()).trim();
    if (host !== HOST) throw new Error(`host shown as "${host}", expected ${HOST}`);
    const expiry = (await row.locator(tid('meeting-expiry')).textContent()).trim();
    if (!expiry.startsWith('in ')) throw new Error(`expiry shown as "${expiry}"`);
    await run.shot(page, 'meetings.png');
  });

  await run.step('meeting_participants', async () => {
    await page.click(meetingRow(MEETING));
    await page.locator(`${tid('view-meeting')}[data-meeting=${q(MEETING)}]`).waitFor();
    await page.locator(participantRow(HOST)).waitFor();
    await page.locator(participantRow(KICK)).waitFor();
    const role = (await page.locator(`${participantRow(HOST)} ${tid('participant-role')}`).textContent()).trim();
    if (role !== 'host') throw new Error(`${HOST}'s role shown as "${role}"`);
    await run.shot(page, 'meeting.png');
  });

  await run.step('kick', async () => {
    const kick = `${participantRow(KICK)} ${tid('participant-kick')}`;
    // Cancel first: nothing is sent.
    const before = await statusSeq(page);
    await page.click(kick);
    await page.locator(tid('confirm-dialog')).waitFor({state: 'visible'});
    await page.click(tid('confirm-cancel'));
    await page.locator(tid('confirm-dialog')).waitFor({state: 'hidden'});
    if ((await statusSeq(page)) !== before) throw new Error('Cancel sent the kick');
    await clickExpectOk(page, kick, 'admin.kick', {confirm: true});
    await page.locator(participantRow(KICK)).waitFor({state: 'detached'});
    await page.locator(`${tid('former-row')}[data-user=${q(KICK)}][data-state="kicked"]`).waitFor();
  });

  await run.step('mute_lock_unlock', async () => {
    // A double click on Mute sends one command: the button is disabled at once.
    const before = await statusSeq(page);
    await page.dblclick(`${participantRow(HOST)} ${tid('participant-mute')}`);
    const mute = await outcome(page, 'admin.mute', before);
    if (mute.code !== '0') throw new Error(`admin.mute answered "${mute.text}", expected 0`);
    await page.waitForTimeout(1000);
    const after = await statusSeq(page);
    if (after !== mute.seq) throw new Error(`a double click on Mute gave ${after - before} outcomes`);
    // The node records the mute: the row says so and offers Unmute.
    await until(page, `${HOST}'s audio shown muted`, (sel) => {
      const cell = document.querySelector(sel);
      return cell && cell.textContent === 'muted';
    }, `${participantRow(HOST)} ${tid('participant-audio')}`);
    await clickExpectOk(page, `${participantRow(HOST)} ${tid('participant-unmute')}`, 'admin.unmute');
    await until(page, `${HOST}'s audio shown on`, (sel) => {
      const cell = document.querySelector(sel);
      return cell && cell.textContent === 'on';
    }, `${participantRow(HOST)} ${tid('participant-audio')}`);
    await clickExpectOk(page, tid('action-mute-all'), 'admin.mute_all', {confirm: true});
    await clickExpectOk(page, tid('action-lock'), 'admin.lock');
    await until(page, 'the meeting shown locked',
      () => document.querySelector('[data-testid="meeting-locked"]').textContent === 'locked');
    await clickExpectOk(page, tid('action-unlock'), 'admin.unlock');
    await until(page, 'the meeting shown unlocked',
      () => document.querySelector('[data-testid="meeting-locked"]').textContent === 'no');
  });

  await run.step('end', async () => {
    await clickExpectOk(page, tid('action-end'), 'admin.meeting.end', {confirm: true, reason: 'console test'});
    await until(page, 'the meeting shown ended',
      () => document.querySelector('[data-testid="meeting-state"]').textContent.startsWith('ended'));
    if (!(await page.isDisabled(tid('action-end')))) throw new Error('End is still enabled on an ended meeting');
    await page.click(tid('back-to-meetings'));
    await page.locator(tid('view-meetings')).waitFor();
    await page.locator(meetingRow(MEETING)).waitFor({state: 'detached'}); // the list shows active meetings
    await page.selectOption(tid('meetings-state'), 'all');
    await page.locator(`${meetingRow(MEETING)}[data-state="ended"]`).waitFor();
  });

  await run.step('users', async () => {
    await page.click(tid('tab-users'));
    await page.locator(userRow(HOST)).waitFor();
    await page.locator(userRow(KICK)).waitFor();
    // A short password is refused in the page; nothing is sent.
    await page.fill(tid('add-user'), NEW_USER);
    await page.fill(tid('add-password'), 'short');
    const before = await statusSeq(page);
    await page.click(tid('add-submit'));
    const refused = await outcome(page, 'admin.user.add', before);
    if (refused.code !== 'none' || !refused.text.includes('8')) throw new Error(`a short password gave "${refused.text}"`);
    await page.fill(tid('add-display-name'), 'Carol C.');
    await page.fill(tid('add-password'), 'carol-password-1');
    await clickExpectOk(page, tid('add-submit'), 'admin.user.add');
    await page.locator(userRow(NEW_USER)).waitFor();
    const name = (await page.locator(`${userRow(NEW_USER)} ${tid('user-display-name')}`).textContent()).trim();
    if (name !== 'Carol C.') throw new Error(`display name shown as "${name}"`);
    await run.shot(page, 'users.png');
    await clickExpectOk(page, `${userRow(NEW_USER)} ${tid('user-remove')}`, 'admin.user.remove', {confirm: true});
    await page.locator(userRow(NEW_USER)).waitFor({state: 'detached'});
  });

  await run.step('nodes', async () => {
    const node = (await page.textContent(tid('hdr-node'))).trim();
    await page.click(tid('tab-nodes'));
    await page.locator(`${tid('node-row')}[data-node=${q(node)}]`).waitFor();
    await until(page, 'the charts drawn with at least 2 samples', () => {
      const rate = document.querySelector('[data-testid="chart-rate"]');
      const latency = document.querySelector('[data-testid="chart-latency"]');
      return rate && latency && Number(rate.dataset.points) >= 2 && Number(latency.dataset.points) >= 2
        && rate.querySelector('polyline') && latency.querySelector('polyline');
    }, undefined, 30000);
    await page.locator(tid('stats-figures')).waitFor();
    await run.shot(page, 'nodes.png');
  });

  // The broker keeps one connection per client id: close this page's first.
  await page.context().close();

  await run.step('fragment_login', async () => {
    const fresh = await run.newPage(browser);
    const fragment = new URLSearchParams({client: CLIENT, username: USERNAME, password: PASSWORD}).toString();
    await openConsole(fresh, `${URL}#${fragment}`);
    await fresh.locator(tid('view-meetings')).waitFor({timeout: 30000});
    await fresh.locator(`${tid('conn-state')}[data-state="live"]`).waitFor();
    const href = await fresh.evaluate(() => location.href);
    if (href.includes(encodeURIComponent(PASSWORD)) || href.includes(PASSWORD) || href.includes('password=')) {
      throw new Error(`the password is still in location.href: ${href.replace(PASSWORD, '***')}`);
    }
    if (!href.endsWith('#/meetings')) throw new Error(`location.href is ${href}`);
    await fresh.context().close();
  });

  await browser.close();
  run.done();
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
