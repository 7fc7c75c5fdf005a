// The console's trace view against real agents (tests/ui/trace.sh): the
// firewall of doc/firewall.md between two hosts, web on host-a may reach
// db on host-b on TCP 5432 and nothing else.  A trace made in the form
// shows the verdict, the deciding rule and each hop as the API answers
// it: the port program on host-a, then the uplink program on host-b,
// each with its firewall decision and fate, run in the agents' fast paths
// by BPF_PROG_TEST_RUN.  TRACE_FROM names the source port, TRACE_TO the
// destination's address and TRACE_RULE the id of db's rule for 5432.
'use strict';

const { BASE, ADMIN, WAIT_MS, ok, api, shot, accessible, view, newPage, noViolations, login, run } = require('./browser.js');

const FROM = process.env.TRACE_FROM;
const TO = process.env.TRACE_TO;
const RULE = Number(process.env.TRACE_RULE);

// Traces DPORT through the form and returns what the page shows: the
// verdict line and the hops' rows.
async function traceInForm(page, dport) {
  const form = 'form[aria-label="Trace a packet"]';
  await page.evaluate(() => {
    document.querySelector('.trace-result').replaceChildren();
  });
  await page.select(`${form} select[name="from"]`, FROM);
  await page.$eval(`${form} input[name="to"]`, (e) => {
    e.value = '';
  });
  await page.type(`${form} input[name="to"]`, TO);
  await page.select(`${form} select[name="protocol"]`, 'tcp');
  await page.$eval(`${form} input[name="dport"]`, (e) => {
    e.value = '';
  });
  await page.type(`${form} input[name="dport"]`, String(dport));
  await page.click(`${form} button[type=submit]`);
  await page.waitForSelector('.trace-result .verdict', { timeout: WAIT_MS });
  return page.$eval('.trace-result', (r) => ({
    verdict: r.querySelector('.verdict').textContent,
    hops: [...r.querySelectorAll('table tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent)),
  }));
}

// Checks that SHOWN has each of the API's stages for DPORT as a hop, in
// order: its host, its program, and its firewall decision and fate in
// the words of the CLI.
async function sameAsApi(shown, dport) {
  const r = await api('POST', '/v1/trace', { from: FROM, to: TO, protocol: 'tcp', dport });
  ok(r.status === 200, `the API traces ${FROM} to ${TO}:${dport} too`);
  const t = r.json;
  ok(shown.verdict.includes(t.verdict) && shown.verdict.includes(t.reason), `the page shows the API's verdict: ${shown.verdict}`);
  ok(shown.hops.length === t.stages.length, `one hop per stage (${shown.hops.length})`);
  t.stages.forEach((s, i) => {
    const [n, host, program, text] = shown.hops[i];
    const fw = s.firewall ? `firewall ${s.firewall.direction} ${s.firewall.action} (${s.firewall.reason}` : 'no firewall';
    ok(n === String(i + 1) && host === s.host && program === s.program && text.startsWith(fw) && text.includes(s.tc_action),
      `hop ${i + 1}: ${host} ${program}: ${text}`);
  });
  return t;
}

run(async (browser) => {
  const page = await newPage(browser);
  await page.goto(`${BASE}/ui/#/trace`, { waitUntil: 'load' });
  await login(page, ADMIN);
  await view(page, 'trace', 'form[aria-label="Trace a packet"]');
  await page.waitForFunction((from) => [...document.querySelectorAll('form[aria-label="Trace a packet"] select[name="from"] option')].some((o) => o.value === from), { timeout: WAIT_MS }, FROM);

  const allowed = await traceInForm(page, 5432);
  const t = await sameAsApi(allowed, 5432);
  ok(t.verdict === 'allow' && t.rule && t.rule.id === RULE && allowed.verdict.includes(`rule ${RULE} of db (ingress allow)`), `5432 is allowed by db's rule ${RULE}, as the page says`);
  ok(allowed.hops.length === 2 && allowed.hops[0][1] === 'host-a' && allowed.hops[0][2] === 'port' && allowed.hops[1][1] === 'host-b' && allowed.hops[1][2] === 'uplink',
    'from the port program on host-a to the uplink program on host-b');
  ok(allowed.hops[1][3].startsWith(`firewall ingress allow (rule, rule ${RULE})`), `host-b's firewall lets it in: ${allowed.hops[1][3]}`);
  await shot(page, 'trace-agents-allow');

  const denied = await traceInForm(page, 22);
  const d = await sameAsApi(denied, 22);
  ok(d.verdict === 'deny' && d.reason === 'default-deny' && denied.verdict.includes('no rule'), `22 is denied by default: ${denied.verdict}`);
  ok(denied.hops.length === 2 && /firewall ingress deny \(default-deny\); shot, dropped: firewall-deny/.test(denied.hops[1][3]), `on host-b, by its firewall: ${denied.hops[1][3]}`);
  await shot(page, 'trace-agents-deny');
  await accessible(page, 'the trace through real agents');
  await noViolations(page, 'in the trace');
  await page.close();
});
