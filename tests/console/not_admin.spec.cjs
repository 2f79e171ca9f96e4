// The web console logging in with a broker login that the broker takes but
// whose client id is not in the node's --admins: the node answers the
// page's first admin.ping with 403 not_admin, and the page says so and
// disconnects. Same environment as console.spec.cjs (CONSOLE_URL,
// CONSOLE_CLIENT, CONSOLE_USERNAME, CONSOLE_PASSWORD; SCREENSHOT_DIR).
'use strict';

const {env, tid, launch, Run, openConsole, fillLogin} = require('./common.cjs');

const URL = env('CONSOLE_URL');
const CLIENT = env('CONSOLE_CLIENT');
const USERNAME = env('CONSOLE_USERNAME');
const PASSWORD = env('CONSOLE_PASSWORD');

async function main() {
  const run = new Run('not_admin.spec');
  const browser = await launch();
  const page = await run.newPage(browser);

  await run.step('not_admin_refused', async () => {
    await openConsole(page, URL);
    await fillLogin(page, {client: CLIENT, username: USERNAME, password: PASSWORD});
    await page.click(tid('login-submit'));
    const error = page.locator(`${tid('login-error')}[data-kind="not_admin"]`);
    await error.waitFor({state: 'visible', timeout: 30000});
    const text = await error.textContent();
    if (!text.includes("this client id is not in the node's --admins")) throw new Error(`login error says "${text}"`);
    if (await page.locator(tid('app')).isVisible()) throw new Error('the app shows for a client id that is not an admin');
    await run.shot(page, 'not-admin.png');
  });

  await run.step('fragment_not_admin_refused', async () => {
    const fresh = await run.newPage(browser);
    const fragment = new URLSearchParams({client: CLIENT, username: USERNAME, password: PASSWORD}).toString();
    await openConsole(fresh, `${URL}#${fragment}`);
    await fresh.locator(`${tid('login-error')}[data-kind="not_admin"]`).waitFor({state: 'visible', timeout: 30000});
    const href = await fresh.evaluate(() => location.href);
    if (href.includes('password=')) throw new Error('the password stayed in location.href');
  });

  await browser.close();
  run.done();
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
