// What the console's stories in headless Chromium share (console.js,
// trace.js): the controller's API as a client, the browser and its pages,
// logging in, the checks every view goes through (no Content-Security-
// Policy violation, no script error, axe-core), screenshots, and the
// count of checks passed, printed at the end as "N passed, M failed".
// The environment names the controller (CONSOLE_URL), an admin token
// (ADMIN_TOKEN), Chromium (CHROMIUM) and where screenshots go (ARTIFACTS).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const puppeteer = require('puppeteer-core');

const BASE = process.env.CONSOLE_URL; // http://127.0.0.1:PORT
const ADMIN = process.env.ADMIN_TOKEN;
const ARTIFACTS = process.env.ARTIFACTS;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const WAIT_MS = 20000;

let passed = 0;
// Counts check WHAT, or fails the story with it.
function ok(cond, what) {
  if (!cond) {
    throw new Error(`FAIL: ${what}`);
  }
  passed += 1;
  console.log(`ok ${passed} - ${what}`);
}

async function api(method, p, body, token = ADMIN, type = 'application/json') {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) {
    headers['Content-Type'] = type;
  }
  const res = await fetch(`${BASE}${p}`, {
    method,
    headers,
    body: body === undefined ? undefined : type === 'application/json' ? JSON.stringify(body) : body,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

async function must(method, p, body, want, token) {
  const r = await api(method, p, body, token);
  if (r.status !== want) {
    throw new Error(`setup: ${method} ${p}: ${r.status}, expected ${want}: ${r.text}`);
  }
  return r.json;
}

const shots = [];
// Keeps a screenshot of PAGE as ARTIFACTS/NAME.png.
async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
}

// Runs axe-core in the page (through the DevTools protocol, which the
// page's Content-Security-Policy does not apply to) and fails on serious
// or critical violations.
async function accessible(page, view) {
  const has = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!has) {
    await page.evaluate(AXE);
  }
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of result) {
    console.log(`# axe ${view}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.join(', ')})`);
  }
  ok(bad.length === 0, `axe-core: no serious or critical violation in ${view}`);
}

// Opens view NAME by its link and waits for selector READY.
async function view(page, name, ready) {
  await page.click(`nav a[data-view="${name}"]`);
  await page.waitForSelector(ready, { timeout: WAIT_MS });
}

// A page in a fresh context of BROWSER that collects its CSP violations
// and script errors for noViolations().
async function newPage(browser) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 860 });
  // CSP violations are events of the page: collect them from its start.
  await page.evaluateOnNewDocument(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__csp.push(`${e.violatedDirective}: ${e.blockedURI}`);
    });
  });
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  // The API's refusals are logged by the browser as failed loads, and
  // several are part of the story: a failed load of the console's own
  // files is caught by its response instead.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      page.errors.push(m.text());
    }
  });
  page.on('response', (r) => {
    if (!r.url().includes('/v1/') && r.status() >= 400) {
      page.errors.push(`${r.url()}: ${r.status()}`);
    }
  });
  return page;
}

// Checks that PAGE met no CSP violation and no script error.
async function noViolations(page, where) {
  const csp = await page.evaluate(() => window.__csp);
  ok(csp.length === 0, `no Content-Security-Policy violation ${where}${csp.length ? `: ${csp.join('; ')}` : ''}`);
  ok(page.errors.length === 0, `no script error ${where}${page.errors.length ? `: ${page.errors.join('; ')}` : ''}`);
}

// Logs in with token SECRET on the login page PAGE shows.
async function login(page, secret) {
  await page.waitForSelector('form[aria-label="Log in"] input[type=password]', { timeout: WAIT_MS });
  // By keyboard: the page focuses the field, Enter submits.
  await page.keyboard.type(secret);
  await page.keyboard.press('Enter');
  await page.waitForSelector('nav a[data-view="topology"]', { timeout: WAIT_MS });
}


// Runs STORY(browser) in a fresh headless Chromium, then FINALLY(),
// lists the screenshots and says how many checks passed; exits 1 on a
// failure.
function run(story, finally_) {
  const main = async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    try {
      await story(browser);
    } finally {
      if (finally_) {
        finally_();
      }
      await browser.close();
      console.log('# screenshots:');
      for (const s of shots) {
        console.log(`#   ${s}`);
      }
    }
    console.log(`${passed} passed, 0 failed`);
  };
  main().catch((e) => {
    console.error(e.stack || String(e));
    console.log(`${passed} passed, 1 failed`);
    process.exit(1);
  });
}

module.exports = { BASE, ADMIN, WAIT_MS, ok, api, must, shot, accessible, view, newPage, noViolations, login, run };
