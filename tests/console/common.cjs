// Helpers shared by the console's browser tests (console.spec.cjs,
// not_admin.spec.cjs): the browser, steps that print `step <name> ok` and
// stop at the first failure with a screenshot, and waits on the page's
// data-testid selectors. playwright-core only (no test runner, no browser
// download): NODE_PATH points at the build's npm install of tools/console.
'use strict';

const fs = require('fs');
const path = require('path');
const {chromium} = require('playwright-core');

const VIEWPORT = {width: 1280, height: 800};

function env(name, fallback) {
  const v = process.env[name];
  if (v !== undefined && v !== '') return v;
  if (fallback !== undefined) return fallback;
  console.error(`missing environment variable ${name}`);
  process.exit(2);
}

function tid(id) {
  return `[data-testid="${id}"]`;
}

/** A CSS attribute value in double quotes. */
function q(value) {
  return `"${String(value).replace(/["\\]/g, '\\$&')}"`;
}

async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
    headless: true,
  });
}

class Run {
  constructor(name) {
    this.name = name;
    this.started = Date.now();
    this.page = null; // for the failure screenshot
    this.browserErrors = [];
    this.shotDir = process.env.SCREENSHOT_DIR || '';
    this.timings = [];
  }

  /** A fresh context and page, its errors recorded. */
  async newPage(browser) {
    const context = await browser.newContext({viewport: VIEWPORT});
    const page = await context.newPage();
    page.setDefaultTimeout(30000);
    page.on('pageerror', (e) => this.browserErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') this.browserErrors.push(`console: ${m.text()}`);
    });
    this.page = page;
    return page;
  }

  /** Saves a PNG of the page as `file` in $SCREENSHOT_DIR (nothing without it). */
  async shot(page, file) {
    if (!this.shotDir) return;
    fs.mkdirSync(this.shotDir, {recursive: true});
    await page.screenshot({path: path.join(this.shotDir, file)});
  }

  /** Runs one step: `step <name> ok`, or a screenshot, the reason and exit 1. */
  async step(name, fn) {
    const t0 = Date.now();
    try {
      await fn();
    } catch (e) {
      await this.fail(name, e);
    }
    this.timings.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    console.log(`step ${name} ok`);
  }

  async fail(name, e) {
    const dir = this.shotDir || '/tmp';
    const file = path.join(dir, `${this.name}-failed-${name}.png`);
    let status = '';
    if (this.page) {
      try {
        fs.mkdirSync(dir, {recursive: true});
        await this.page.screenshot({path: file, fullPage: true});
        status = await this.page.evaluate(() => {
          const s = document.querySelector('[data-testid="status"]');
          const l = document.querySelector('[data-testid="login-error"]');
          return `status: ${s ? s.textContent : '-'}; login error: ${l && !l.hidden ? l.textContent : '-'}; url: ${location.href.replace(/password=[^&]*/, 'password=***')}`;
        });
      } catch (shotError) {
        status = `(no screenshot: ${shotError.message})`;
      }
    }
    console.log(`step ${name} FAILED: ${e && e.message ? e.message.split('\n')[0] : e}`);
    console.error(`${this.name}: step ${name} failed after ${((Date.now() - this.started) / 1000).toFixed(1)} s`);
    console.error(e && e.stack ? e.stack : String(e));
    console.error(`page ${status}`);
    console.error(`screenshot: ${file}`);
    for (const line of this.browserErrors) console.error(`browser ${line}`);
    process.exit(1);
  }

  done() {
    console.log(`${this.name}: all steps ok in ${((Date.now() - this.started) / 1000).toFixed(1)} s (${this.timings.join(', ')})`);
  }
}

/**
 * Opens the console: the page and every module it imports must come within
 * 30 s (they come from the node's HTTP port; a slow load there is a bug).
 */
async function openConsole(page, url) {
  const t0 = Date.now();
  try {
    await page.goto(url, {timeout: 30000});
  } catch (e) {
    throw new Error(`the page and its files did not load within 30 s from ${url.replace(/password=[^&]*/, 'password=***')} `
      + `(${e.message.split('\n')[0]}); does the node's HTTP port answer several browser connections at once?`);
  }
  return Date.now() - t0;
}

/** Fills the login form (it is not submitted). */
async function fillLogin(page, {client, username, password}) {
  await page.fill(tid('login-client'), client);
  await page.fill(tid('login-username'), username);
  await page.fill(tid('login-password'), password);
}

/** The status area's sequence number now (0 before any outcome). */
async function statusSeq(page) {
  return page.evaluate(() => Number(document.querySelector('[data-testid="status"]').dataset.seq || 0));
}

/**
 * Waits until the status area shows an outcome of `action` newer than
 * `afterSeq`; {code, text, seq}.
 */
async function outcome(page, action, afterSeq, timeout = 30000) {
  const handle = await page.waitForFunction(([a, s]) => {
    const el = document.querySelector('[data-testid="status"]');
    if (!el || el.dataset.action !== a || Number(el.dataset.seq || 0) <= s) return null;
    return {code: el.dataset.code, text: el.textContent, seq: Number(el.dataset.seq)};
  }, [action, afterSeq], {timeout});
  return handle.jsonValue();
}

/** Clicks `selector` and waits for the outcome of `action`; fails unless code 0. */
async function clickExpectOk(page, selector, action, {confirm = false, reason = null} = {}) {
  const before = await statusSeq(page);
  await page.click(selector);
  if (confirm) {
    await page.locator(tid('confirm-dialog')).waitFor({state: 'visible'});
    if (reason !== null) await page.fill(tid('confirm-reason'), reason);
    await page.click(tid('confirm-ok'));
  }
  const o = await outcome(page, action, before);
  if (o.code !== '0') throw new Error(`${action} answered "${o.text}", expected 0`);
  if (!o.text.includes('0 ok')) throw new Error(`the status of ${action} does not say "0 ok": "${o.text}"`);
  return o;
}

/** Waits until `fn` (run in the page with `arg`) is truthy. */
async function until(page, what, fn, arg, timeout = 30000) {
  try {
    await page.waitForFunction(fn, arg, {timeout});
  } catch (e) {
    throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}`);
  }
}

module.exports = {env, tid, q, launch, Run, openConsole, fillLogin, statusSeq, outcome, clickExpectOk, until, VIEWPORT};
