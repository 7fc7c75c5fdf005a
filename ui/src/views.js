// The lists, forms and actions of the console, one view per collection,
// plus flow logs, trace and charts.  Every action is an ordinary API call
// with the user's token, so the audit log records it as that user's; a
// viewer sees no write action, and the API would refuse it anyway.
import uPlot from 'uplot';
import { call, enc, listAll } from './api.js';
import { data, refresh, subscribe } from './data.js';
import { h, newId, replace } from './dom.js';
import { actionButton, badge, choiceList, filterBox, form, matches, notify, table } from './ui.js';

// Whether the user may change things (GET /v1/whoami said admin).
let admin = false;
export function setAdmin(a) {
  admin = a;
}

// A view over collection NAME: a filter, a table that follows live
// updates, and (for admins) the forms FORMS() returns.
function listView(main, title, names, opts) {
  let text = '';
  const holder = h('div', { class: 'table-holder' });
  const render = () => replace(holder, opts.table(text));
  const parts = [h('h2', {}, title), opts.filters ? opts.filters(render) : null, filterBox(`Filter ${title}`, (t) => {
    text = t;
    render();
  }), holder];
  if (admin && opts.forms) {
    parts.push(h('div', { class: 'forms' }, opts.forms()));
  }
  if (opts.extra) {
    parts.push(opts.extra);
  }
  replace(main, ...parts);
  render();
  return subscribe((changed) => {
    if (changed.some((c) => names.includes(c))) {
      render();
    }
  });
}

const col = (label, get) => ({ label, get });

// The names in collection C, as a select's choices kept live (FROM).
const names = (c) => () => (data[c] || []).map((x) => x.name);
const namesOf = (c) => ({ options: names(c), from: [c] });
const actionsCol = (get) => (admin ? [col('Actions', get)] : []);

export function hostsView(main) {
  return listView(main, 'Hosts', ['hosts', 'vms'], {
    table: (text) =>
      table(
        'Hosts',
        [
          col('Name', (x) => x.name),
          col('Status', (x) => badge(x.status)),
          col('VTEP', (x) => x.vtep),
          col('VMs', (x) => String((data.vms || []).filter((v) => v.host === x.name).length)),
          col('vCPUs used', (x) => (x.allocated ? `${x.allocated.vcpus ?? 0} / ${x.capacity?.vcpus ?? '?'}` : '')),
          col('Memory used (MB)', (x) => (x.allocated ? `${x.allocated.memory_mb ?? 0} / ${x.capacity?.memory_mb ?? '?'}` : '')),
          col('Maintenance', (x) => (x.maintenance ? (x.maintenance_status?.state ?? 'yes') : 'no')),
          ...actionsCol((x) =>
            actionButton(x.maintenance ? 'Exit maintenance' : 'Enter maintenance', `${x.maintenance ? 'exit' : 'enter'} maintenance on host ${x.name}`, async () => {
              await call('POST', `/v1/hosts/${enc(x.name)}/maintenance`, { action: x.maintenance ? 'exit' : 'enter' });
              await refresh(['hosts']);
            }),
          ),
        ],
        (data.hosts || []).filter((x) => matches(x, ['name', 'status', 'vtep'], text)),
        (x) => ({ 'data-name': x.name, 'data-status': x.status }),
      ),
  });
}

export function vmsView(main) {
  const consoleOut = h('section', { class: 'console-log', 'aria-label': 'Console log', 'aria-live': 'polite' });
  const showConsole = async (vm) => {
    replace(consoleOut, h('h3', {}, `Console of ${vm}`), h('p', {}, 'Reading…'));
    try {
      const log = await call('GET', `/v1/vms/${enc(vm)}/console?bytes=16384`);
      const text = (typeof log === 'string' ? log : JSON.stringify(log, null, 1)) || '(the console has printed nothing yet)';
      replace(consoleOut, h('h3', {}, `Console of ${vm}`), h('pre', { tabindex: '0' }, text));
    } catch (e) {
      replace(consoleOut, h('h3', {}, `Console of ${vm}`), h('p', { class: 'form-error' }, e.message));
    }
  };
  const migrate = (vm) => {
    const hosts = (data.hosts || []).map((x) => x.name).filter((n) => n !== vm.host);
    const id = newId('migrate-to');
    const sel = h('select', { id }, h('option', { value: '' }, '(the scheduler chooses)'), hosts.map((n) => h('option', { value: n }, n)));
    return h(
      'span',
      { class: 'inline' },
      h('label', { for: id, class: 'visually-hidden' }, `Migrate ${vm.name} to`),
      sel,
      actionButton('Migrate', `migrate VM ${vm.name}`, async () => {
        await call('POST', `/v1/vms/${enc(vm.name)}/migrate`, sel.value ? { to: sel.value } : {});
        await refresh(['vms']);
      }),
    );
  };
  return listView(main, 'VMs', ['vms', 'hosts'], {
    table: (text) =>
      table(
        'VMs',
        [
          col('Name', (v) => v.name),
          col('Status', (v) => badge(v.status)),
          col('Host', (v) => v.host ?? ''),
          col('vCPUs', (v) => String(v.vcpus)),
          col('Memory (MB)', (v) => String(v.memory_mb)),
          col('Image', (v) => v.image),
          col('Console', (v) => h('button', { type: 'button', 'aria-label': `Console log of VM ${v.name}`, onclick: () => showConsole(v.name) }, 'Console log')),
          ...actionsCol((v) => [
            v.power === 'stopped'
              ? actionButton('Start', `start VM ${v.name}`, async () => {
                  await call('POST', `/v1/vms/${enc(v.name)}/start`, {});
                  await refresh(['vms']);
                })
              : actionButton('Stop', `stop VM ${v.name}`, async () => {
                  await call('POST', `/v1/vms/${enc(v.name)}/stop`, {});
                  await refresh(['vms']);
                }),
            ' ',
            migrate(v),
          ]),
        ],
        (data.vms || []).filter((v) => matches(v, ['name', 'status', 'host', 'image'], text)),
        (v) => ({ 'data-name': v.name, 'data-status': v.status }),
      ),
    forms: () =>
      form(
        'Create a VM',
        [
          { name: 'name', label: 'Name', required: true },
          { name: 'image', label: 'Image', required: true, ...namesOf('images') },
          { name: 'vcpus', label: 'vCPUs', type: 'number', required: true },
          { name: 'memory_mb', label: 'Memory (MB)', type: 'number', required: true },
          { name: 'disk_gb', label: 'Disk (GB)', type: 'number', hint: 'The image’s size when empty.' },
          {
            group: 'nics',
            legend: 'NICs',
            fields: [0, 1].flatMap((i) => [
              { name: `nics[${i}].network`, label: `NIC ${i + 1} network`, ...namesOf('networks') },
              { name: `nics[${i}].ip`, label: `NIC ${i + 1} IP address`, hint: 'Allocated when empty.' },
              { name: `nics[${i}].security_groups`, label: `NIC ${i + 1} security groups`, type: 'list', hint: 'Names, separated by commas.' },
              { name: `nics[${i}].qos`, label: `NIC ${i + 1} QoS policy`, ...namesOf('qos-policies') },
            ]),
          },
          { name: 'host', label: 'Host', empty: '(the scheduler chooses)', ...namesOf('hosts') },
          { name: 'placement', label: 'Placement', empty: '(the controller’s default)', options: ['spread', 'pack'] },
          { name: 'groups', label: 'VM groups', type: 'list', hint: 'Names, separated by commas.' },
          { name: 'power', label: 'Power', empty: '(running)', options: ['running', 'stopped'] },
          { name: 'ha', label: 'HA', empty: '(restart)', options: ['restart', 'off'] },
          { name: 'ha_priority', label: 'HA priority', type: 'number', placeholder: '100' },
          { name: 'hostname', label: 'Hostname', hint: 'The VM’s name when empty.' },
          { name: 'ssh_keys', label: 'SSH keys', type: 'lines', hint: 'One public key a line.' },
          { name: 'user_data', label: 'cloud-init user data', type: 'textarea', placeholder: '#cloud-config' },
          { name: 'description', label: 'Description' },
        ],
        'Create VM',
        async (v) => {
          const vm = await call('POST', '/v1/vms', v);
          notify(`VM ${vm.name} created${vm.host ? ` on ${vm.host}` : ''}`);
          await refresh(['vms', 'ports', 'hosts']);
        },
      ),
    extra: consoleOut,
  });
}

export function networksView(main) {
  return listView(main, 'Networks', ['networks', 'ports'], {
    table: (text) =>
      table(
        'Networks',
        [
          col('Name', (n) => n.name),
          col('CIDR', (n) => n.cidr),
          col('VNI', (n) => String(n.vni)),
          col('MTU', (n) => String(n.mtu ?? '')),
          col('Ports', (n) => String((data.ports || []).filter((p) => p.network === n.name).length)),
          col('Description', (n) => n.description ?? ''),
          ...actionsCol((n) =>
            actionButton('Delete', `delete network ${n.name}`, async () => {
              await call('DELETE', `/v1/networks/${enc(n.name)}`);
              await refresh(['networks']);
            }),
          ),
        ],
        (data.networks || []).filter((n) => matches(n, ['name', 'cidr', 'description'], text)),
        (n) => ({ 'data-name': n.name }),
      ),
    forms: () =>
      form(
        'Create a network',
        [
          { name: 'name', label: 'Name', required: true },
          { name: 'cidr', label: 'CIDR', required: true, placeholder: '10.0.0.0/24' },
          { name: 'vni', label: 'VNI', type: 'number', hint: 'Allocated when empty.' },
          { name: 'description', label: 'Description' },
        ],
        'Create network',
        async (v) => {
          const net = await call('POST', '/v1/networks', v);
          notify(`network ${net.name} created (VNI ${net.vni})`);
          await refresh(['networks']);
        },
      ),
  });
}

export function portsView(main) {
  let network = '';
  return listView(main, 'Ports', ['ports', 'networks'], {
    filters: (render) => {
      const id = newId('port-network');
      return h(
        'div',
        { class: 'filter' },
        h('label', { for: id }, 'Network'),
        choiceList(
          {
            id,
            onchange: (e) => {
              network = e.target.value;
              render();
            },
          },
          { empty: '(all)', ...namesOf('networks') },
        ),
      );
    },
    table: (text) =>
      table(
        'Ports',
        [
          col('Name', (p) => p.name),
          col('Status', (p) => badge(p.status)),
          col('Network', (p) => p.network),
          col('Host', (p) => p.host ?? ''),
          col('IP', (p) => p.ip),
          col('MAC', (p) => p.mac),
          col('VM', (p) => p.vm ?? ''),
          col('Groups', (p) => (p.groups || []).join(', ')),
          ...actionsCol((p) =>
            p.vm
              ? ''
              : actionButton('Delete', `delete port ${p.name}`, async () => {
                  await call('DELETE', `/v1/ports/${enc(p.name)}`);
                  await refresh(['ports']);
                }),
          ),
        ],
        (data.ports || []).filter((p) => (!network || p.network === network) && matches(p, ['name', 'status', 'host', 'ip', 'mac', 'vm'], text)),
        (p) => ({ 'data-name': p.name, 'data-status': p.status }),
      ),
    forms: () =>
      form(
        'Create a port',
        [
          { name: 'name', label: 'Name', required: true },
          { name: 'network', label: 'Network', required: true, ...namesOf('networks') },
          { name: 'host', label: 'Host', ...namesOf('hosts') },
          { name: 'qos', label: 'QoS policy', ...namesOf('qos-policies') },
          { name: 'security_groups', label: 'Security groups', type: 'list', hint: 'Names, separated by commas.' },
          { name: 'ip', label: 'IP address', hint: 'Allocated when empty.' },
        ],
        'Create port',
        async (v) => {
          const port = await call('POST', '/v1/ports', v);
          notify(`port ${port.name} created (${port.ip}, ${port.mac})`);
          await refresh(['ports']);
        },
      ),
  });
}

export function securityGroupsView(main) {
  // The rules of the group shown, and (for admins) the form that adds
  // one: the table is made again as rules change, the form stays, with
  // whatever the user is typing into it.
  const rulesTable = h('div', { class: 'table-holder', 'aria-live': 'polite' });
  const ruleForm = h('div', { class: 'forms' });
  const rulesOut = h('section', { class: 'rules', 'aria-label': 'Rules' }, rulesTable, ruleForm);
  let shown = null;
  const showRules = async (group) => {
    if (shown !== group) {
      replace(rulesTable);
      replace(ruleForm, admin ? addRuleForm(group) : null);
    }
    shown = group;
    try {
      const rules = await listAll(`/v1/security-groups/${enc(group)}/rules`);
      replace(
        rulesTable,
        table(
          `Rules of ${group}`,
          [
            col('ID', (r) => String(r.id)),
            col('Direction', (r) => r.direction),
            col('Protocol', (r) => r.protocol),
            col('Ports', (r) => r.ports ?? (r.icmp_type !== undefined ? `type ${r.icmp_type}` : 'any')),
            col('Peer', (r) => r.peer_group ?? r.peer_cidr ?? 'any'),
            col('Action', (r) => badge(r.action)),
            col('Log', (r) => (r.log ? 'yes' : 'no')),
            col('Hits', (r) => String(r.hits ?? 0)),
            ...actionsCol((r) =>
              actionButton('Delete', `delete rule ${r.id} of security group ${group}`, async () => {
                await call('DELETE', `/v1/security-groups/${enc(group)}/rules/${r.id}`);
                await refresh(['security-groups']);
              }),
            ),
          ],
          rules,
          (r) => ({ 'data-rule': r.id }),
        ),
      );
    } catch (e) {
      replace(rulesTable, h('p', { class: 'form-error' }, e.message));
    }
  };
  const addRuleForm = (group) =>
    form(
      `Add a rule to ${group}`,
      [
        { name: 'direction', label: 'Direction', required: true, options: ['ingress', 'egress'] },
        { name: 'protocol', label: 'Protocol', required: true, options: ['tcp', 'udp', 'icmp', 'icmpv6', 'any'] },
        { name: 'ports', label: 'Ports', placeholder: '443 or 8000-8080', hint: 'tcp and udp only; every port when empty.' },
        { name: 'icmp_type', label: 'ICMP type', type: 'number', hint: 'icmp and icmpv6 only; every type when empty.' },
        { name: 'peer_group', label: 'Peer group', ...namesOf('security-groups') },
        { name: 'peer_cidr', label: 'Peer CIDR', placeholder: '10.0.0.0/24', hint: 'Not with a peer group; any peer when both are empty.' },
        { name: 'action', label: 'Action', required: true, options: ['allow', 'deny'] },
        { name: 'log', label: 'Log the connections it decides', type: 'checkbox' },
      ],
      'Add rule',
      async (v) => {
        const rule = await call('POST', `/v1/security-groups/${enc(group)}/rules`, v);
        notify(`rule ${rule.id} added to security group ${group}`);
        await refresh(['security-groups']);
      },
    );
  const unsubscribe = listView(main, 'Security groups', ['security-groups'], {
    table: (text) =>
      table(
        'Security groups',
        [
          col('Name', (g) => g.name),
          col('Description', (g) => g.description ?? ''),
          col('Selector', (g) => Object.entries(g.selector || {}).map(([k, v]) => `${k}=${v}`).join(', ')),
          col('Members', (g) => (g.members || []).join(', ')),
          col('Rules', (g) => h('button', { type: 'button', 'aria-label': `Rules and hits of security group ${g.name}`, onclick: () => showRules(g.name) }, 'Rules and hits')),
          ...actionsCol((g) =>
            actionButton('Delete', `delete security group ${g.name}`, async () => {
              await call('DELETE', `/v1/security-groups/${enc(g.name)}`);
              await refresh(['security-groups']);
            }),
          ),
        ],
        (data['security-groups'] || []).filter((g) => matches(g, ['name', 'description'], text)),
        (g) => ({ 'data-name': g.name }),
      ),
    forms: () =>
      form(
        'Create a security group',
        [
          { name: 'name', label: 'Name', required: true },
          { name: 'description', label: 'Description' },
          { name: 'selector', label: 'Selector', type: 'map', placeholder: 'tier=web, env=prod', hint: 'Ports whose labels hold every pair are members.' },
        ],
        'Create security group',
        async (v) => {
          const g = await call('POST', '/v1/security-groups', v);
          notify(`security group ${g.name} created`);
          await refresh(['security-groups']);
          showRules(g.name);
        },
      ),
    extra: rulesOut,
  });
  const unsub2 = subscribe((changed) => {
    if (shown && changed.includes('security-groups')) {
      if ((data['security-groups'] || []).some((g) => g.name === shown)) {
        showRules(shown);
      } else {
        shown = null;
        replace(rulesTable);
        replace(ruleForm);
      }
    }
  });
  return () => {
    unsubscribe();
    unsub2();
  };
}

export function qosView(main) {
  const rate = (r) => (r === undefined || r === null ? '' : typeof r === 'object' ? Object.entries(r).map(([k, v]) => `${k} ${v}`).join(', ') : String(r));
  return listView(main, 'QoS policies', ['qos-policies', 'ports'], {
    table: (text) =>
      table(
        'QoS policies',
        [
          col('Name', (q) => q.name),
          col('Egress', (q) => rate(q.egress)),
          col('Ingress', (q) => rate(q.ingress)),
          col('DSCP', (q) => (q.dscp === undefined ? '' : String(q.dscp))),
          col('Priority', (q) => (q.priority === undefined ? '' : String(q.priority))),
          col('Ports', (q) => (data.ports || []).filter((p) => p.qos === q.name).map((p) => p.name).join(', ')),
          col('Description', (q) => q.description ?? ''),
          ...actionsCol((q) =>
            actionButton('Delete', `delete QoS policy ${q.name}`, async () => {
              await call('DELETE', `/v1/qos-policies/${enc(q.name)}`);
              await refresh(['qos-policies']);
            }),
          ),
        ],
        (data['qos-policies'] || []).filter((q) => matches(q, ['name', 'description'], text)),
        (q) => ({ 'data-name': q.name }),
      ),
    forms: () => [
      form(
        'Create a QoS policy',
        [
          { name: 'name', label: 'Name', required: true },
          {
            group: 'egress',
            legend: 'Egress (what the VM sends)',
            fields: [
              { name: 'egress.rate', label: 'Egress rate (bit/s)', type: 'number', placeholder: '100000000' },
              { name: 'egress.burst', label: 'Egress burst (bytes)', type: 'number' },
              { name: 'egress.min_rate', label: 'Egress guaranteed rate (bit/s)', type: 'number' },
            ],
          },
          {
            group: 'ingress',
            legend: 'Ingress (what the VM receives)',
            fields: [
              { name: 'ingress.rate', label: 'Ingress rate (bit/s)', type: 'number' },
              { name: 'ingress.burst', label: 'Ingress burst (bytes)', type: 'number' },
            ],
          },
          { name: 'dscp', label: 'DSCP', type: 'number', hint: '0..63; the VM’s own marks are kept when empty.' },
          { name: 'priority', label: 'Priority', type: 'number', hint: '0..7, 0 the highest; 4 when empty.' },
          { name: 'description', label: 'Description' },
        ],
        'Create QoS policy',
        async (v) => {
          const q = await call('POST', '/v1/qos-policies', v);
          notify(`QoS policy ${q.name} created`);
          await refresh(['qos-policies']);
        },
      ),
      form(
        'Attach a QoS policy to a port',
        [
          { name: 'port', label: 'Port', required: true, ...namesOf('ports') },
          { name: 'qos', label: 'QoS policy', empty: '(none: the network’s default)', ...namesOf('qos-policies') },
        ],
        'Set the port’s policy',
        async (v) => {
          const port = await call('PATCH', `/v1/ports/${enc(v.port)}`, { qos: v.qos ?? null });
          notify(port.qos ? `port ${port.name} now uses QoS policy ${port.qos}` : `port ${port.name} has no QoS policy of its own`);
          await refresh(['ports']);
        },
      ),
    ],
  });
}

export function flowLogsView(main) {
  const out = h('div', { class: 'table-holder' });
  const search = async (v) => {
    const q = new URLSearchParams(v).toString();
    const ans = await call('GET', `/v1/flowlogs${q ? `?${q}` : ''}`);
    const items = ans.items || [];
    replace(
      out,
      table(
        `Flow logs (${items.length}, newest first)`,
        [
          col('Time', (r) => r.time),
          col('Host', (r) => r.host),
          col('Port', (r) => r.port),
          col('Direction', (r) => r.direction),
          col('Protocol', (r) => r.protocol),
          col('Source', (r) => `${r.src_ip}${r.src_port !== undefined ? `:${r.src_port}` : ''}`),
          col('Destination', (r) => `${r.dst_ip}${r.dst_port !== undefined ? `:${r.dst_port}` : ''}`),
          col('Verdict', (r) => badge(r.verdict)),
          col('Reason', (r) => r.reason + (r.rule ? ` (rule ${r.rule})` : '')),
          col('Count', (r) => String(r.count ?? 1)),
        ],
        items,
        (r) => ({ 'data-verdict': r.verdict }),
      ),
    );
  };
  replace(
    main,
    h('h2', {}, 'Flow logs'),
    h('p', {}, 'Connections the firewall denied, and those allowed by a rule that logs.'),
    form(
      'Filter flow logs',
      [
        { name: 'verdict', label: 'Verdict', options: ['deny', 'allow'] },
        { name: 'port', label: 'Port', ...namesOf('ports') },
        { name: 'host', label: 'Host', ...namesOf('hosts') },
        { name: 'network', label: 'Network', ...namesOf('networks') },
        { name: 'since', label: 'Since', placeholder: '2026-01-01T00:00:00Z' },
        { name: 'limit', label: 'At most', type: 'number', placeholder: '100' },
      ],
      'Show flow logs',
      search,
      true,
    ),
    out,
  );
  search({}).catch((e) => notify(e.message, 'error'));
  return () => {};
}

// One stage of a trace as the CLI prints it.
function stageText(s) {
  const fw = s.firewall ? `firewall ${s.firewall.direction} ${s.firewall.action} (${s.firewall.reason}${s.firewall.rule ? `, rule ${s.firewall.rule}` : ''})` : 'no firewall';
  return `${fw}; ${s.tc_action}${s.drop_reason ? `, dropped: ${s.drop_reason}` : ''}`;
}

export function traceView(main) {
  const out = h('section', { class: 'trace-result', 'aria-live': 'polite', 'aria-label': 'Trace result' });
  replace(
    main,
    h('h2', {}, 'Trace'),
    h('p', {}, 'Runs the first packet of a connection through the fast path of each host it crosses, changing nothing.'),
    form(
      'Trace a packet',
      [
        { name: 'from', label: 'From port', required: true, ...namesOf('ports') },
        { name: 'to', label: 'To address', required: true, placeholder: '10.0.0.3' },
        { name: 'protocol', label: 'Protocol', required: true, options: ['tcp', 'udp', 'icmp'] },
        { name: 'dport', label: 'Destination port', type: 'number', hint: 'Required for tcp and udp.' },
      ],
      'Trace',
      async (v) => {
        const t = await call('POST', '/v1/trace', v);
        const rule = t.rule ? `rule ${t.rule.id} of ${t.rule.group} (${t.rule.direction} ${t.rule.action})` : 'no rule';
        replace(
          out,
          h('p', { class: 'verdict' }, 'Verdict: ', badge(t.verdict), ` ${t.reason}, ${rule}`),
          t.source ? h('p', {}, `From ${t.source.port} (${t.source.ip}) on ${t.source.host}, network ${t.source.network}`) : null,
          t.destination ? h('p', {}, `To ${t.destination.port} (${t.destination.ip}) on ${t.destination.host}`) : null,
          table(
            'Hops',
            [col('Hop', (s) => String(s.i)), col('Host', (s) => s.host), col('Program', (s) => s.program), col('Verdict', (s) => stageText(s))],
            (t.stages || []).map((s, i) => ({ ...s, i: i + 1 })),
          ),
        );
      },
      true,
    ),
    out,
  );
  return () => {};
}

// Host load over time: the balancer's view of each host (GET
// /v1/drs/recommendations: its VMs' CPU use over its vCPUs, or their
// memory over its memory, whichever is larger), sampled every
// SAMPLE_MS while the console is open.
const SAMPLE_MS = 5000;
const KEEP = 360;
const samples = { t: [], hosts: {} };
let sampler = null;

async function sample() {
  const plan = await call('GET', '/v1/drs/recommendations');
  const now = Date.now() / 1000;
  samples.t.push(now);
  for (const x of plan.hosts || []) {
    if (!samples.hosts[x.name]) {
      samples.hosts[x.name] = samples.t.slice(0, -1).map(() => null);
    }
  }
  for (const [name, series] of Object.entries(samples.hosts)) {
    const x = (plan.hosts || []).find((y) => y.name === name);
    series.push(x ? Math.round(x.load * 1000) / 10 : null);
  }
  if (samples.t.length > KEEP) {
    samples.t.shift();
    Object.values(samples.hosts).forEach((s) => s.shift());
  }
  samples.plan = plan;
  return plan;
}

export function startSampling() {
  if (!sampler) {
    sample().catch(() => {});
    sampler = setInterval(() => sample().catch(() => {}), SAMPLE_MS);
  }
}

const palette = ['#1f5fbf', '#c62828', '#1a7f37', '#b26a00', '#6d28d9', '#0e7490'];

// A port's traffic in Mbit/s, from the counters its host's agent reports
// in heartbeats (GET /v1/ports/NAME/traffic): the rate between two
// successive reports.
function portTraffic() {
  const id = newId('traffic-port');
  const chartBox = h('div', { class: 'chart', id: 'traffic-chart' });
  const now = h('p', { id: 'traffic-now', 'aria-live': 'polite' });
  let port = '';
  let last = null;
  let series = [[], [], []];
  let plot = null;
  const draw = () => {
    plot?.destroy();
    plot = new uPlot(
      {
        width: Math.max(320, chartBox.clientWidth || 640),
        height: 220,
        series: [{}, { label: 'received', stroke: palette[0], width: 2 }, { label: 'sent', stroke: palette[1], width: 2 }],
        axes: [{}, { label: 'Mbit/s' }],
      },
      series,
      chartBox,
    );
  };
  const poll = async () => {
    if (!port) {
      return;
    }
    let t;
    try {
      t = await call('GET', `/v1/ports/${enc(port)}/traffic`);
    } catch (e) {
      replace(now, e.message);
      return;
    }
    const at = Date.parse(t.time) / 1000;
    if (last && last.port === port && at > last.at) {
      const dt = at - last.at;
      const rx = ((t.rx_bytes - last.rx_bytes) * 8) / dt / 1e6;
      const tx = ((t.tx_bytes - last.tx_bytes) * 8) / dt / 1e6;
      series[0].push(at);
      series[1].push(rx);
      series[2].push(tx);
      if (series[0].length > KEEP) {
        series = series.map((x) => x.slice(1));
      }
      plot.setData(series);
      replace(now, `Port ${port} on ${t.host}: received ${rx.toFixed(3)} Mbit/s, sent ${tx.toFixed(3)} Mbit/s (${t.rx_packets} and ${t.tx_packets} packets in all)`);
    } else if (!last || last.at !== at) {
      replace(now, `Port ${port} on ${t.host}: ${t.rx_bytes} bytes received, ${t.tx_bytes} sent in all; the rate comes with the next report.`);
    }
    last = { port, at, rx_bytes: t.rx_bytes, tx_bytes: t.tx_bytes };
  };
  const el = h(
    'section',
    { 'aria-label': 'Port traffic' },
    h('h3', {}, 'Port traffic (Mbit/s)'),
    h('p', {}, 'From the counters its host’s agent reports with every heartbeat.'),
    h(
      'div',
      { class: 'filter' },
      h('label', { for: id }, 'Port'),
      choiceList(
        {
          id,
          onchange: (e) => {
            port = e.target.value;
            last = null;
            series = [[], [], []];
            draw();
            poll();
          },
        },
        { empty: '(choose a port)', ...namesOf('ports') },
      ),
    ),
    chartBox,
    now,
  );
  const timer = setInterval(() => poll(), SAMPLE_MS / 2);
  return { el, draw, stop: () => clearInterval(timer) };
}

export function chartsView(main) {
  const chartBox = h('div', { class: 'chart', id: 'load-chart' });
  const tableBox = h('div', { class: 'table-holder' });
  const traffic = portTraffic();
  replace(
    main,
    h('h2', {}, 'Charts'),
    h('h3', {}, 'Host load (%)'),
    h('p', {}, 'Each host’s load as the balancer sees it: its VMs’ CPU use over its vCPUs, or their memory over its memory, whichever is larger; sampled every 5 s.'),
    chartBox,
    tableBox,
    traffic.el,
  );
  traffic.draw();
  let plot = null;
  // The sampler that runs while the console is open takes the samples;
  // this only draws them.
  const draw = async () => {
    const plan = samples.plan || (await sample());
    const names = Object.keys(samples.hosts);
    const series = [{}, ...names.map((n, i) => ({ label: n, stroke: palette[i % palette.length], width: 2 }))];
    const d = [samples.t.slice(), ...names.map((n) => samples.hosts[n].slice())];
    if (!plot || plot.series.length !== series.length) {
      plot?.destroy();
      plot = new uPlot({ width: Math.max(320, chartBox.clientWidth || 640), height: 260, series, scales: { y: { range: [0, 100] } }, axes: [{}, { label: '%' }] }, d, chartBox);
    } else {
      plot.setData(d);
    }
    replace(
      tableBox,
      table(
        'Host load now',
        [col('Host', (x) => x.name), col('Load (%)', (x) => (x.load * 100).toFixed(1)), col('CPU used (vCPUs)', (x) => (x.cpu_used ?? 0).toFixed(2)), col('Memory (KiB)', (x) => String(x.memory_kb ?? 0)), col('In service', (x) => (x.in_service ? 'yes' : 'no'))],
        plan.hosts || [],
      ),
    );
  };
  draw().catch((e) => notify(e.message, 'error'));
  const timer = setInterval(() => draw().catch(() => {}), SAMPLE_MS);
  return () => {
    clearInterval(timer);
    traffic.stop();
    plot?.destroy();
  };
}
