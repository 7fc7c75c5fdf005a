// The web console in real headless Chromium (puppeteer-core), against a
// real controller (its URL and admin token in the environment) holding
// the demo's objects, which this script makes through the API as the
// demo and the agents would: three hosts registered and heartbeating with
// agent tokens, two networks of one range, six ports, two VMs, security
// groups with hit counters, a QoS policy and a denied flow.
//
// The story: log in by keyboard; the topology shows the hosts, VMs and
// networks; a port that its agent reports down turns red without a
// reload; an invalid CIDR shows the controller's own message next to the
// field and creates nothing; a network and a port made through the forms
// are in the API, and the audit log names the user who made them; so are
// a security group with rules, a QoS policy set on a port and a VM made
// through their forms, and the controller's messages about a bad rule, a
// bad rate or a bad NIC address show under their fields, making nothing;
// the choice lists of an open form follow the collections they come from;
// a viewer sees no write action and the API refuses one anyway; the token
// lives in sessionStorage only; no Content-Security-Policy violation
// anywhere; axe-core finds no serious or critical accessibility violation
// in any view.  Each view's screenshot goes to ARTIFACTS.
'use strict';

const { ADMIN, BASE, WAIT_MS, ok, api, must, shot, accessible, view, newPage, noViolations, login, run } = require('./browser.js');

const XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';

async function token(name, role, host) {
  const t = await must('POST', '/v1/tokens', { name, role, ...(host ? { host } : {}) }, 201);
  return t.token;
}

// The demo's objects.
async function setup() {
  const t = {
    alice: await token('alice', 'admin'),
    ops: await token('ops', 'viewer'),
  };
  const hosts = ['host-a', 'host-b', 'host-c'];
  for (const [i, h] of hosts.entries()) {
    t[h] = await token(`agent-${h}`, 'agent', h);
    await must('POST', '/v1/hosts', {
      name: h, vtep: `192.0.2.${i + 1}`, underlay: 'eth0',
      capacity: { vcpus: 8, memory_mb: 8192, disk_gb: 100 },
    }, 201, t[h]);
  }
  // The agents heartbeat all along, as real ones do every few seconds: a
  // host silent for its HA lease would be declared failed.
  // host-a's agent counts 125000 bytes (1 Mbit) a second into vma1 and
  // half as many out, and reports its counters with each heartbeat.
  let beats = 0;
  const traffic = () => ({ vma1: { rx_bytes: 125000 * beats, rx_packets: 100 * beats, tx_bytes: 62500 * beats, tx_packets: 50 * beats } });
  const beat = () => {
    beats += 1;
    return Promise.all(hosts.map((h) => api('POST', `/v1/hosts/${h}/heartbeat`, h === 'host-a' ? { load: { load1: 0.1 }, traffic: traffic() } : { load: { load1: 0.1 } }, t[h])));
  };
  await beat();
  heartbeats = setInterval(() => beat().catch(() => {}), 1000);
  await must('POST', '/v1/networks', { name: 'blue', cidr: '10.0.0.0/24', vni: 100, description: 'the blue tenant' }, 201);
  await must('POST', '/v1/networks', { name: 'red', cidr: '10.0.0.0/24', vni: 200, description: 'the red tenant, same addresses' }, 201);
  await must('POST', '/v1/security-groups', { name: 'web' }, 201);
  await must('POST', '/v1/security-groups', { name: 'db' }, 201);
  const rule = await must('POST', '/v1/security-groups/db/rules', {
    direction: 'ingress', protocol: 'tcp', ports: '5432', peer_group: 'web', action: 'allow', log: true,
  }, 201);
  // A description that would run if the console ever took text for
  // markup.
  await must('POST', '/v1/qos-policies', { name: 'slow', egress: { rate: 10000000 }, description: XSS }, 201);
  const ports = [
    ['vma1', 'blue', 'host-a', ['web']], ['vmb1', 'blue', 'host-b', []], ['vmc1', 'blue', 'host-c', ['db']],
    ['vma2', 'red', 'host-a', []], ['vmb2', 'red', 'host-b', []], ['vmc2', 'red', 'host-c', []],
  ];
  for (const [name, network, host, groups] of ports) {
    await must('POST', '/v1/ports', { name, network, host, security_groups: groups }, 201);
  }
  await must('POST', '/v1/images', { name: 'tiny' }, 201);
  const img = await api('PUT', '/v1/images/tiny/file', Buffer.alloc(1024 * 1024), ADMIN, 'application/octet-stream');
  if (img.status !== 200) {
    throw new Error(`setup: image upload: ${img.status} ${img.text}`);
  }
  for (const vm of ['web1', 'web2']) {
    await must('POST', '/v1/vms', { name: vm, vcpus: 1, memory_mb: 128, image: 'tiny', nics: [{ network: 'blue' }] }, 201);
  }
  // Each agent reports its ports up and its VMs running.
  const vms = (await must('GET', '/v1/vms', undefined, 200)).items;
  const allPorts = (await must('GET', '/v1/ports?limit=1000', undefined, 200)).items;
  for (const h of hosts) {
    const status = {};
    for (const p of allPorts.filter((x) => x.host === h)) {
      status[p.name] = 'up';
    }
    const report = {};
    for (const v of vms.filter((x) => x.host === h)) {
      report[v.name] = { state: 'running', cpu_time_ns: 1000000, memory_kb: 1048576 };
    }
    await must('PUT', `/v1/hosts/${h}/port-status`, { ports: status, vms: report }, 204, t[h]);
  }
  await must('PUT', '/v1/hosts/host-c/rule-hits', { hits: { [rule.id]: 12 } }, 204, t['host-c']);
  await must('POST', '/v1/flowlogs', {
    host: 'host-c',
    records: [{
      time: new Date().toISOString(), network: 'blue', vni: 100, protocol: 'tcp',
      src_ip: '10.0.0.2', dst_ip: '10.0.0.4', src_port: 40000, dst_port: 22,
      port: 'vmc1', direction: 'ingress', verdict: 'deny', reason: 'default-deny',
    }],
  }, 204, t['host-c']);
  return t;
}

let heartbeats = null;
// The status and colour of topology node ID.
function nodeState(page, id) {
  return page.evaluate((i) => {
    const n = window.fabricTopology && window.fabricTopology.getElementById(i);
    return n && n.nonempty() ? { status: n.data('status'), colour: n.style('background-color') } : null;
  }, id);
}

// Fills form FORM (its aria-label) with VALUES by name: selects are
// chosen, checkboxes ticked, text replaced by typing.
async function fill(page, form, values) {
  for (const [name, value] of Object.entries(values)) {
    const sel = `form[aria-label="${form}"] [name="${name}"]`;
    const kind = await page.$eval(sel, (e) => (e.tagName === 'SELECT' ? 'select' : e.type));
    if (kind === 'select') {
      await page.select(sel, value);
    } else if (kind === 'checkbox') {
      if ((await page.$eval(sel, (e) => e.checked)) !== value) {
        await page.click(sel);
      }
    } else {
      await page.$eval(sel, (e) => {
        e.value = '';
      });
      await page.type(sel, String(value));
    }
  }
}

// Submits form FORM and waits for the message under FIELD, which it
// returns.
async function refused(page, form, field) {
  await page.click(`form[aria-label="${form}"] button[type=submit]`);
  const sel = `form[aria-label="${form}"] .field-error[data-field="${field}"]:not(:empty)`;
  await page.waitForSelector(sel, { timeout: WAIT_MS });
  return page.$eval(sel, (e) => e.textContent);
}

// What the API answers to BODY at PATH: a 400 naming a field.
async function refusal(p, body) {
  const r = await api('POST', p, body);
  if (r.status !== 400 || !r.json.error.field) {
    throw new Error(`POST ${p} ${JSON.stringify(body)}: ${r.status}, expected a 400 naming a field: ${r.text}`);
  }
  return r.json.error;
}

// The forms that make security groups and their rules, QoS policies and
// VMs: what they make is in the API, and what the API refuses shows
// under the field it names, word for word, and makes nothing.
async function formsStory(page) {
  // A security group, and rules in it.
  await view(page, 'security-groups', 'form[aria-label="Create a security group"]');
  await fill(page, 'Create a security group', { name: 'api', description: 'the API servers', selector: 'tier=api' });
  await page.click('form[aria-label="Create a security group"] button[type=submit]');
  await page.waitForSelector('table.list tr[data-name="api"]', { timeout: WAIT_MS });
  const api1 = (await api('GET', '/v1/security-groups/api')).json;
  ok(api1 && api1.description === 'the API servers' && api1.selector.tier === 'api', 'security group api, made through the form, is in the API with its selector');
  const ruleForm = 'Add a rule to api';
  await page.waitForSelector(`form[aria-label="${ruleForm}"]`, { timeout: WAIT_MS });
  const badPorts = await refusal('/v1/security-groups/api/rules', { direction: 'ingress', protocol: 'tcp', ports: '8080-80', action: 'allow' });
  await fill(page, ruleForm, { direction: 'ingress', protocol: 'tcp', ports: '8080-80', action: 'allow' });
  const portsSaid = await refused(page, ruleForm, badPorts.field);
  ok(badPorts.field === 'ports' && portsSaid === badPorts.message, `a port range backwards: the controller's message under Ports: ${portsSaid}`);
  const badCidr = await refusal('/v1/security-groups/api/rules', { direction: 'ingress', protocol: 'tcp', ports: '443', peer_cidr: '10.1.0.0/33', action: 'allow' });
  await fill(page, ruleForm, { ports: '443', peer_cidr: '10.1.0.0/33' });
  const cidrSaid = await refused(page, ruleForm, badCidr.field);
  ok(badCidr.field === 'peer_cidr' && cidrSaid === badCidr.message, `a peer CIDR of /33: the controller's message under Peer CIDR: ${cidrSaid}`);
  ok(await page.$eval(`form[aria-label="${ruleForm}"] [name="ports"]`, (e) => !e.hasAttribute('aria-invalid')), 'the ports are no longer marked invalid once they are right');
  ok((await api('GET', '/v1/security-groups/api/rules')).json.items.length === 0, 'and no rule was made');
  await shot(page, 'security-groups-invalid-rule');
  await accessible(page, 'the rule form with an error');
  await fill(page, ruleForm, { peer_cidr: '10.0.0.0/24', log: true });
  await page.click(`form[aria-label="${ruleForm}"] button[type=submit]`);
  await page.waitForSelector('.rules tr[data-rule]', { timeout: WAIT_MS });
  await fill(page, ruleForm, { direction: 'egress', protocol: 'udp', ports: '53', action: 'deny' });
  await page.click(`form[aria-label="${ruleForm}"] button[type=submit]`);
  await page.waitForFunction(() => document.querySelectorAll('.rules tr[data-rule]').length === 2, { timeout: WAIT_MS });
  let rules = (await api('GET', '/v1/security-groups/api/rules')).json.items;
  const https = rules.find((r) => r.protocol === 'tcp');
  const dns = rules.find((r) => r.protocol === 'udp');
  ok(rules.length === 2 && https && https.direction === 'ingress' && https.ports === '443' && https.peer_cidr === '10.0.0.0/24' && https.action === 'allow' && https.log === true,
    `the rule made through the form is in the API: ${JSON.stringify(https)}`);
  ok(dns && dns.direction === 'egress' && dns.ports === '53' && dns.action === 'deny' && !dns.log, 'and the second, without the first one\'s log box');
  await shot(page, 'security-groups-rules');
  await page.click(`button[aria-label="delete rule ${dns.id} of security group api"]`);
  await page.waitForFunction(() => document.querySelectorAll('.rules tr[data-rule]').length === 1, { timeout: WAIT_MS });
  rules = (await api('GET', '/v1/security-groups/api/rules')).json.items;
  ok(rules.length === 1 && rules[0].id === https.id, `the Delete button removed rule ${dns.id} and only it`);
  await accessible(page, 'the security groups with their forms');

  // A QoS policy, and a port that uses it.
  await view(page, 'qos', 'form[aria-label="Create a QoS policy"]');
  const qosForm = 'Create a QoS policy';
  const badRate = await refusal('/v1/qos-policies', { name: 'gold', egress: { rate: 0 } });
  await fill(page, qosForm, { name: 'gold', 'egress.rate': 0 });
  const rateSaid = await refused(page, qosForm, badRate.field);
  ok(badRate.field === 'egress' && rateSaid === badRate.message, `a rate of 0: the controller's message under Egress: ${rateSaid}`);
  ok(await page.$eval(`form[aria-label="${qosForm}"] [name="egress.rate"]`, (e) => e.getAttribute('aria-invalid') === 'true'), 'the rate given is marked invalid');
  const badMin = await refusal('/v1/qos-policies', { name: 'gold', egress: { rate: 1000000, min_rate: 2000000 } });
  await fill(page, qosForm, { 'egress.rate': 1000000, 'egress.min_rate': 2000000 });
  const minSaid = await refused(page, qosForm, badMin.field);
  ok(badMin.field === 'egress.min_rate' && minSaid === badMin.message, `a guaranteed rate above the limit: the controller's message under it: ${minSaid}`);
  ok((await api('GET', '/v1/qos-policies/gold')).status === 404, 'and no policy was made');
  await shot(page, 'qos-invalid-rate');
  await accessible(page, 'the QoS form with an error');
  await fill(page, qosForm, { 'egress.rate': 100000000, 'egress.burst': 65536, 'egress.min_rate': 10000000, 'ingress.rate': 50000000, dscp: 46, priority: 1 });
  await page.click(`form[aria-label="${qosForm}"] button[type=submit]`);
  await page.waitForSelector('table.list tr[data-name="gold"]', { timeout: WAIT_MS });
  const gold = (await api('GET', '/v1/qos-policies/gold')).json;
  ok(gold && gold.egress.rate === 100000000 && gold.egress.burst === 65536 && gold.egress.min_rate === 10000000 && gold.ingress.rate === 50000000 && gold.dscp === 46 && gold.priority === 1,
    `QoS policy gold, made through the form, is in the API: ${JSON.stringify(gold)}`);
  await fill(page, 'Attach a QoS policy to a port', { port: 'vmd1', qos: 'gold' });
  await page.click('form[aria-label="Attach a QoS policy to a port"] button[type=submit]');
  await page.waitForFunction(() => document.querySelector('table.list tr[data-name="gold"]').textContent.includes('vmd1'), { timeout: WAIT_MS });
  ok((await api('GET', '/v1/ports/vmd1')).json.qos === 'gold', 'port vmd1 uses gold, set through the form');
  await shot(page, 'qos-forms');
  await accessible(page, 'the QoS policies with their forms');

  // A VM, on a chosen host, with a NIC in green.
  await view(page, 'vms', 'form[aria-label="Create a VM"]');
  const vmForm = 'Create a VM';
  const badIp = await refusal('/v1/vms', { name: 'db1', image: 'tiny', vcpus: 1, memory_mb: 128, nics: [{ network: 'green', ip: '10.99.0.5' }] });
  await fill(page, vmForm, { name: 'db1', image: 'tiny', vcpus: 1, memory_mb: 128, 'nics[0].network': 'green', 'nics[0].ip': '10.99.0.5', host: 'host-c' });
  const ipSaid = await refused(page, vmForm, badIp.field);
  ok(badIp.field === 'nics[0].ip' && ipSaid === badIp.message, `an address outside the NIC's network: the controller's message under NIC 1's address: ${ipSaid}`);
  ok((await api('GET', '/v1/vms/db1')).status === 404 && (await api('GET', '/v1/ports/db1-0')).status === 404, 'and neither the VM nor its port was made');
  await shot(page, 'vms-invalid-nic');
  const keys = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA1 ops@example', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA2 dba@example'];
  const userData = '#cloud-config\nruncmd:\n  - [touch, /etc/db1]\n';
  await fill(page, vmForm, {
    'nics[0].ip': '10.9.0.20', 'nics[0].security_groups': 'api, web', 'nics[0].qos': 'gold',
    description: 'a database', hostname: 'db-one', ssh_keys: `${keys[0]}\n\n${keys[1]}\n`, user_data: userData,
  });
  await page.click(`form[aria-label="${vmForm}"] button[type=submit]`);
  await page.waitForSelector('table.list tr[data-name="db1"]', { timeout: WAIT_MS });
  const db1 = (await api('GET', '/v1/vms/db1')).json;
  const nic = (await api('GET', '/v1/ports/db1-0')).json;
  ok(db1 && db1.host === 'host-c' && db1.vcpus === 1 && db1.memory_mb === 128 && db1.image === 'tiny' && db1.description === 'a database',
    `VM db1, made through the form, is in the API on the chosen host: ${db1 && db1.host}`);
  ok(nic && nic.network === 'green' && nic.ip === '10.9.0.20' && nic.security_groups.join() === 'api,web' && nic.qos === 'gold',
    `with its NIC in green, at the address, in the groups and under the policy given: ${JSON.stringify(nic && [nic.ip, nic.security_groups, nic.qos])}`);
  ok(db1.hostname === 'db-one' && JSON.stringify(db1.ssh_keys) === JSON.stringify(keys) && db1.user_data === userData,
    'its hostname, its SSH keys one a line (the empty line left out) and its user data as typed');
  await shot(page, 'vms-form');
  await accessible(page, 'the VMs with their form');

  // The choice lists follow the collections they come from: a network
  // and a policy made elsewhere appear in the open port form.
  await view(page, 'ports', 'form[aria-label="Create a port"]');
  const options = (name) => page.$$eval(`form[aria-label="Create a port"] select[name="${name}"] option`, (o) => o.map((x) => x.value));
  ok(!(await options('network')).includes('violet'), 'the port form offers no network violet yet');
  await page.select('form[aria-label="Create a port"] select[name="network"]', 'green');
  await must('POST', '/v1/networks', { name: 'violet', cidr: '10.6.0.0/24' }, 201);
  await must('POST', '/v1/qos-policies', { name: 'bronze', egress: { rate: 1000000 } }, 201);
  await page.waitForFunction(() => [...document.querySelectorAll('form[aria-label="Create a port"] select[name="network"] option')].some((o) => o.value === 'violet'), { timeout: WAIT_MS });
  await page.waitForFunction(() => [...document.querySelectorAll('form[aria-label="Create a port"] select[name="qos"] option')].some((o) => o.value === 'bronze'), { timeout: WAIT_MS });
  ok(await page.$eval('form[aria-label="Create a port"] select[name="network"]', (e) => e.value === 'green'), 'network violet and policy bronze, made through the API, are offered in the open port form, and green stays chosen');

  const audit = (await api('GET', '/v1/audit?limit=100')).json.items.filter((e) => e.who === 'alice');
  const did = (method, p, status) => audit.some((e) => e.method === method && e.path === p && e.status === status);
  ok(did('POST', '/v1/security-groups', 201) && did('POST', '/v1/security-groups/api/rules', 201) && did('DELETE', `/v1/security-groups/api/rules/${dns.id}`, 204)
    && did('POST', '/v1/qos-policies', 201) && did('PATCH', '/v1/ports/vmd1', 200) && did('POST', '/v1/vms', 201),
    'the audit log records the group, the rules, the policy, the port\'s policy and the VM as alice\'s');
}

async function adminStory(browser, t) {
  const page = await newPage(browser);
  const res = await page.goto(`${BASE}/ui/`, { waitUntil: 'load' });
  const h = res.headers();
  ok(/script-src 'self'/.test(h['content-security-policy'] || '') && /frame-ancestors 'none'/.test(h['content-security-policy']), 'the page comes with its Content-Security-Policy');
  ok(h['cache-control'] === 'no-cache', 'index.html is revalidated on every use');
  await page.waitForSelector('input[type=password]');
  await shot(page, 'login');
  await accessible(page, 'the login page');

  await login(page, t.alice);
  ok(await page.evaluate(() => sessionStorage.getItem('fabric-token') !== null && localStorage.length === 0 && document.cookie === ''),
    'the token is in sessionStorage only (no localStorage, no cookie)');

  // The topology: every host, VM and network of the demo.
  await page.waitForSelector('.topology-list li[data-kind="host"][data-name="host-c"]', { timeout: WAIT_MS });
  for (const [kind, name] of [['host', 'host-a'], ['host', 'host-b'], ['host', 'host-c'], ['vm', 'web1'], ['vm', 'web2'], ['network', 'blue'], ['network', 'red'], ['port', 'vma1'], ['port', 'vmc2']]) {
    const inList = await page.$(`.topology-list li[data-kind="${kind}"][data-name="${name}"]`);
    const inGraph = await nodeState(page, `${kind}/${name}`);
    ok(inList && inGraph, `the topology shows ${kind} ${name}`);
  }
  const web1 = (await api('GET', '/v1/vms/web1')).json;
  ok(await page.$(`.topology-list li[data-name="${web1.host}"] li[data-kind="vm"][data-name="web1"]`), `VM web1 is shown on its host, ${web1.host}`);
  const edges = await page.evaluate(() => window.fabricTopology.edges().map((e) => `${e.source().id()}>${e.target().id()}`));
  ok(edges.includes('vm/web1>network/blue') && edges.includes('port/vma2>network/red'), 'networks join the VMs and ports that have a port in them');
  await page.click('.topology-list li[data-kind="host"][data-name="host-b"] > button');
  await page.waitForFunction(() => document.querySelector('#details').textContent.includes('192.0.2.2'), { timeout: WAIT_MS });
  ok(true, 'selecting host-b shows its details (its VTEP)');
  await shot(page, 'topology');
  await accessible(page, 'the topology');

  // A port its agent reports down turns red, live.
  const before = await nodeState(page, 'port/vma1');
  ok(before.status === 'up', 'port vma1 is up');
  await page.evaluate(() => {
    window.__notReloaded = true;
  });
  const down = await api('PUT', '/v1/hosts/host-a/port-status', { ports: { vma1: 'down', vma2: 'up' } }, t['host-a']);
  ok(down.status === 204, 'host-a\'s agent reports vma1 down');
  await page.waitForSelector('.topology-list li[data-name="vma1"][data-status="down"]', { timeout: WAIT_MS });
  await page.waitForFunction(() => window.fabricTopology.getElementById('port/vma1').data('status') === 'down', { timeout: WAIT_MS });
  const after = await nodeState(page, 'port/vma1');
  ok(after.colour !== before.colour && /198, ?40, ?40|c62828/i.test(after.colour), `port vma1 changed colour (${before.colour} -> ${after.colour})`);
  ok(await page.evaluate(() => window.__notReloaded === true), 'without a reload');
  await shot(page, 'topology-port-down');

  // Hosts, VMs and the other lists.
  await view(page, 'hosts', 'table.list tr[data-name="host-a"]');
  ok(await page.$('button[aria-label="enter maintenance on host host-a"]'), 'an admin sees the hosts\' actions');
  await shot(page, 'hosts');
  await accessible(page, 'the hosts');
  await view(page, 'vms', 'table.list tr[data-name="web1"]');
  ok(await page.$('button[aria-label="stop VM web1"]') && await page.$('button[aria-label="migrate VM web1"]'), 'an admin sees the VMs\' actions (stop, migrate)');
  await page.click('button[aria-label="stop VM web1"]');
  await page.waitForFunction(() => document.querySelector('#notice').textContent.includes('stop VM web1: done'), { timeout: WAIT_MS });
  ok((await api('GET', '/v1/vms/web1')).json.power === 'stopped', 'the Stop button stopped web1 through the API');
  await page.waitForSelector('button[aria-label="start VM web1"]', { timeout: WAIT_MS });
  // Migrate web2: the hosts here run no hypervisor, so the controller
  // refuses, and the console says why in the controller's words.
  const refusal = await api('POST', '/v1/vms/web2/migrate', {}, t.ops);
  ok(refusal.status === 403, 'a viewer may not migrate (403)');
  await page.click('button[aria-label="migrate VM web2"]');
  await page.waitForFunction(() => /^migrate VM web2: /.test(document.querySelector('#notice').textContent), { timeout: WAIT_MS });
  const said = await page.$eval('#notice', (e) => e.textContent);
  const last = (await api('GET', '/v1/audit?limit=20')).json.items.find((e) => e.path === '/v1/vms/web2/migrate');
  ok(last && last.who === 'alice' && said.includes(last.status < 300 ? 'done' : last.message), `the Migrate button asked the API as alice, and the console says how it went: ${said}`);
  await page.click('button[aria-label="Console log of VM web1"]');
  await page.waitForFunction(() => !document.querySelector('.console-log').textContent.includes('Reading'), { timeout: WAIT_MS });
  ok((await page.$eval('.console-log', (e) => e.textContent)).includes('web1'), 'the console log of web1 is asked for (its agent has no address here: the controller says so)');
  await shot(page, 'vms');
  await accessible(page, 'the VMs');
  await view(page, 'security-groups', 'table.list tr[data-name="db"]');
  await page.click('button[aria-label="Rules and hits of security group db"]');
  await page.waitForSelector('.rules tr[data-rule]', { timeout: WAIT_MS });
  const hits = await page.$eval('.rules tr[data-rule]', (tr) => {
    const col = [...tr.closest('table').querySelectorAll('th')].findIndex((th) => th.textContent === 'Hits');
    return tr.children[col].textContent;
  });
  ok(hits === '12', `the rule of db shows its hit counter (${hits})`);
  await shot(page, 'security-groups');
  await accessible(page, 'the security groups');
  await view(page, 'qos', 'table.list tr[data-name="slow"]');
  const cell = await page.$eval('table.list tr[data-name="slow"]', (tr) => ({
    text: tr.textContent,
    markup: tr.querySelectorAll('img, script').length,
    ran: window.__xss,
  }));
  ok(cell.text.includes(XSS) && cell.markup === 0 && cell.ran === undefined, 'a description holding markup shows as text and runs nothing');
  await shot(page, 'qos');
  await accessible(page, 'the QoS policies');
  await view(page, 'flowlogs', 'table.list tr[data-verdict="deny"]');
  ok(true, 'the flow logs show the denied flow');
  await shot(page, 'flowlogs');
  await accessible(page, 'the flow logs');
  await view(page, 'trace', 'form[aria-label="Trace a packet"]');
  await page.select('form[aria-label="Trace a packet"] select[name="from"]', 'vmb1');
  await page.type('form[aria-label="Trace a packet"] input[name="to"]', '10.0.0.250');
  await page.select('form[aria-label="Trace a packet"] select[name="protocol"]', 'icmp');
  await page.click('form[aria-label="Trace a packet"] button[type=submit]');
  await page.waitForSelector('.trace-result .verdict', { timeout: WAIT_MS });
  const verdict = await page.$eval('.trace-result .verdict', (e) => e.textContent);
  ok(/drop/.test(verdict) && /unknown-destination/.test(verdict), `a trace to an address nobody has: ${verdict}`);
  await shot(page, 'trace');
  await accessible(page, 'the trace');
  await view(page, 'charts', '#load-chart canvas');
  await page.waitForSelector('table.list caption', { timeout: WAIT_MS });
  ok((await page.$$eval('table.list tbody tr', (r) => r.length)) === 3, 'the charts show the load of the three hosts');
  // A host's load is its running VMs' memory over its own (1 GiB of
  // 8 GiB): web2's host shows 12.5 %, a host without VMs none.
  const loads = Object.fromEntries(await page.$$eval('table.list tbody tr', (rows) => rows.map((r) => [r.children[0].textContent, r.children[1].textContent])));
  const web2Host = (await api('GET', '/v1/vms/web2')).json.host;
  const idle = ['host-a', 'host-b', 'host-c'].find((x) => x !== web2Host && x !== web1.host);
  ok(loads[web2Host] === '12.5' && loads[idle] === '0.0', `the load of each host, from its VMs' reported use (${JSON.stringify(loads)})`);
  // Port traffic: vma1's rate, from two reports of its agent.
  await page.select('#load-chart ~ section select', 'vma1');
  await page.waitForFunction(() => /received [0-9.]+ Mbit\/s/.test(document.querySelector('#traffic-now').textContent), { timeout: WAIT_MS });
  const rate = await page.$eval('#traffic-now', (e) => e.textContent);
  const rx = Number(/received ([0-9.]+) Mbit/.exec(rate)[1]);
  const tx = Number(/sent ([0-9.]+) Mbit/.exec(rate)[1]);
  // The rate depends on when the heartbeats came (a loaded machine
  // bunches them), but both directions are over the same reports: in is
  // twice out.
  ok(rx > 0 && tx > 0 && Math.abs(rx / tx - 2) < 0.05, `vma1's traffic from its agent's counters: ${rate}`);
  ok(await page.$('#traffic-chart canvas'), 'and its chart');
  await shot(page, 'charts');
  await accessible(page, 'the charts');

  // An invalid CIDR: the controller's own message, next to the field.
  await view(page, 'networks', 'form[aria-label="Create a network"]');
  const expected = (await api('POST', '/v1/networks', { name: 'green', cidr: '10.9.0.0/33' }, t.ops)).status;
  ok(expected === 403, 'a viewer\'s token cannot create a network (403)');
  const direct = await api('POST', '/v1/networks', { name: 'green', cidr: '10.9.0.0/33' }, t.alice);
  ok(direct.status === 400 && direct.json.error.field === 'cidr', 'the API refuses cidr 10.9.0.0/33 on field cidr');
  await page.type('form[aria-label="Create a network"] input[name="name"]', 'green');
  await page.type('form[aria-label="Create a network"] input[name="cidr"]', '10.9.0.0/33');
  await page.click('form[aria-label="Create a network"] button[type=submit]');
  await page.waitForSelector('.field-error[data-field="cidr"]:not(:empty)', { timeout: WAIT_MS });
  const shown = await page.$eval('.field-error[data-field="cidr"]', (e) => e.textContent);
  ok(shown === direct.json.error.message, `the form shows the controller's message next to the CIDR: ${shown}`);
  ok(await page.$eval('form[aria-label="Create a network"] input[name="cidr"]', (e) => e.getAttribute('aria-invalid') === 'true' && e.getAttribute('aria-describedby').includes(document.querySelector('.field-error[data-field="cidr"]').id)),
    'the field is marked invalid and described by the message');
  ok((await api('GET', '/v1/networks/green')).status === 404, 'and nothing was created');
  await shot(page, 'networks-invalid-cidr');
  await accessible(page, 'the networks with an error');

  // Creating through the forms: the API has them.
  await page.$eval('form[aria-label="Create a network"] input[name="cidr"]', (e) => {
    e.value = '';
  });
  await page.type('form[aria-label="Create a network"] input[name="cidr"]', '10.9.0.0/24');
  await page.click('form[aria-label="Create a network"] button[type=submit]');
  await page.waitForSelector('table.list tr[data-name="green"]', { timeout: WAIT_MS });
  const green = await api('GET', '/v1/networks/green');
  ok(green.status === 200 && green.json.cidr === '10.9.0.0/24', 'network green, made through the form, is in the API');
  await shot(page, 'networks');
  await view(page, 'ports', 'form[aria-label="Create a port"]');
  await page.type('form[aria-label="Create a port"] input[name="name"]', 'vmd1');
  await page.select('form[aria-label="Create a port"] select[name="network"]', 'green');
  await page.select('form[aria-label="Create a port"] select[name="host"]', 'host-b');
  await page.click('form[aria-label="Create a port"] button[type=submit]');
  await page.waitForSelector('table.list tr[data-name="vmd1"]', { timeout: WAIT_MS });
  const vmd1 = await api('GET', '/v1/ports/vmd1');
  ok(vmd1.status === 200 && vmd1.json.network === 'green' && vmd1.json.host === 'host-b', `port vmd1, made through the form, is in the API (${vmd1.json && vmd1.json.ip})`);
  await shot(page, 'ports');
  await accessible(page, 'the ports');
  const audit = (await api('GET', '/v1/audit?limit=50')).json.items;
  const made = audit.filter((e) => e.who === 'alice' && e.method === 'POST' && e.status === 201);
  ok(made.some((e) => e.path === '/v1/networks') && made.some((e) => e.path === '/v1/ports'), 'the audit log records the console\'s changes as alice\'s');
  await formsStory(page);

  // The topology took the new objects in, live.
  await view(page, 'topology', '.topology-list li[data-kind="network"][data-name="green"]');
  ok(await nodeState(page, 'port/vmd1'), 'the topology shows the new port and network without a reload');
  ok(await page.evaluate(() => window.__notReloaded === true), 'still the same page');
  await noViolations(page, 'as admin');

  // Logging out forgets the token.
  await page.click('header button');
  await page.waitForSelector('form[aria-label="Log in"]', { timeout: WAIT_MS });
  ok(await page.evaluate(() => sessionStorage.getItem('fabric-token') === null), 'logging out forgets the token');
  await page.close();
}

async function viewerStory(browser, t) {
  const page = await newPage(browser);
  await page.goto(`${BASE}/ui/#/networks`, { waitUntil: 'load' });
  await login(page, t.ops);
  await page.waitForSelector('table.list tr[data-name="blue"]', { timeout: WAIT_MS });
  ok(await page.$eval('.who', (e) => e.textContent) === 'ops (viewer)', 'the viewer is named with its role');
  ok(!(await page.$('form[aria-label="Create a network"]')) && !(await page.$('button.action')), 'a viewer sees no form and no action on the networks');
  await shot(page, 'viewer-networks');
  await view(page, 'vms', 'table.list tr[data-name="web2"]');
  ok(!(await page.$('form')) && !(await page.$('button.action')), 'nor on the VMs');
  ok(await page.$('button[aria-label="Console log of VM web2"]'), 'but may read a console log');
  await view(page, 'security-groups', 'table.list tr[data-name="api"]');
  await page.click('button[aria-label="Rules and hits of security group api"]');
  await page.waitForSelector('.rules tr[data-rule]', { timeout: WAIT_MS });
  ok(!(await page.$('form')) && !(await page.$('button.action')), 'nor on the security groups and their rules');
  await shot(page, 'viewer-security-groups');
  await view(page, 'qos', 'table.list tr[data-name="gold"]');
  ok(!(await page.$('form')) && !(await page.$('button.action')), 'nor on the QoS policies');
  await view(page, 'hosts', 'table.list tr[data-name="host-a"]');
  ok(!(await page.$('button.action')), 'nor on the hosts');
  await view(page, 'ports', 'table.list tr[data-name="vma1"]');
  ok(!(await page.$('form')) && !(await page.$('button.action')), 'nor on the ports');
  // The page's own token, replayed: the API refuses the write.
  const status = await page.evaluate(async () => {
    const r = await fetch('/v1/networks', {
      method: 'POST',
      headers: { Authorization: `Bearer ${sessionStorage.getItem('fabric-token')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'viewer-net', cidr: '10.8.0.0/24' }),
    });
    return r.status;
  });
  ok(status === 403, 'the API refuses a write with the viewer\'s token (403)');
  ok((await api('GET', '/v1/networks/viewer-net')).status === 404, 'and nothing was created');
  await accessible(page, 'the viewer\'s ports');
  await noViolations(page, 'as viewer');
  await page.close();
}

async function keyboardStory(browser, t) {
  const page = await newPage(browser);
  await page.goto(`${BASE}/ui/`, { waitUntil: 'load' });
  await login(page, t.alice);
  // The view has the focus; Shift+Tab goes back up to the views' links:
  // to Networks, and Enter.
  let reached = false;
  for (let i = 0; i < 20 && !reached; i++) {
    await page.keyboard.down('Shift');
    await page.keyboard.press('Tab');
    await page.keyboard.up('Shift');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.dataset && document.activeElement.dataset.view === 'networks');
  }
  ok(reached, 'the Networks link is reached with Shift+Tab');
  await page.keyboard.press('Enter');
  await page.waitForSelector('form[aria-label="Create a network"]', { timeout: WAIT_MS });
  // Then to the form's name field, type, and on to the CIDR.
  reached = false;
  for (let i = 0; i < 60 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.name === 'name');
  }
  ok(reached, 'the form\'s fields are reached with Tab');
  await page.keyboard.type('yellow');
  await page.keyboard.press('Tab');
  await page.keyboard.type('10.7.0.0/24');
  await page.keyboard.press('Enter');
  await page.waitForSelector('table.list tr[data-name="yellow"]', { timeout: WAIT_MS });
  ok((await api('GET', '/v1/networks/yellow')).status === 200, 'a network is made with the keyboard alone');
  await noViolations(page, 'by keyboard');
  await page.close();
}

run(async (browser) => {
  const t = await setup();
  await adminStory(browser, t);
  await viewerStory(browser, t);
  await keyboardStory(browser, t);
}, () => clearInterval(heartbeats));
