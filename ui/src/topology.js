// The topology: hosts as boxes holding the VMs (and the plain ports)
// placed on them, networks as nodes joined to what has a port in them,
// each coloured by its status.  Cytoscape.js lays it out and draws it; a
// list beside it says the same in text, for keyboards and screen readers,
// and selecting in either shows the object's details.
import cytoscape from 'cytoscape';
import fcose from 'cytoscape-fcose';
import { data, subscribe } from './data.js';
import { h, replace } from './dom.js';
import { badge } from './ui.js';

// fCoSE lays out compound graphs (hosts holding VMs) compactly.
cytoscape.use(fcose);

// Status colours, shared with the style sheet's badges.
const GREEN = '#1a7f37';
const RED = '#c62828';
const AMBER = '#b26a00';
const GREY = '#6b7280';
const BLUE = '#1f5fbf';

const style = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'font-size': 11,
      color: '#111827',
      'text-valign': 'bottom',
      'text-margin-y': 4,
      'background-color': GREY,
      'border-width': 2,
      'border-color': '#ffffff',
      width: 26,
      height: 26,
    },
  },
  {
    selector: 'node.host',
    style: {
      shape: 'round-rectangle',
      'background-color': '#eef2f7',
      'background-opacity': 1,
      'border-width': 3,
      'border-color': GREY,
      'text-valign': 'top',
      'text-margin-y': -4,
      'font-weight': 'bold',
      padding: 14,
    },
  },
  { selector: 'node.host[status="ready"]', style: { 'border-color': GREEN } },
  { selector: 'node.host[status="degraded"]', style: { 'border-color': AMBER } },
  { selector: 'node.host[status="unreachable"], node.host[status="failed"]', style: { 'border-color': RED } },
  { selector: 'node.network', style: { shape: 'diamond', 'background-color': BLUE, width: 34, height: 34 } },
  { selector: 'node.vm', style: { shape: 'round-rectangle', width: 34, height: 24 } },
  { selector: 'node.port', style: { shape: 'ellipse', width: 20, height: 20 } },
  { selector: 'node[status="up"], node[status="running"]', style: { 'background-color': GREEN } },
  { selector: 'node[status="down"], node[status="failed"]', style: { 'background-color': RED } },
  {
    selector: 'node[status="refused"], node[status="starting"], node[status="stopping"], node[status="migrating"]',
    style: { 'background-color': AMBER },
  },
  { selector: 'edge', style: { width: 2, 'line-color': '#9aa5b1', 'curve-style': 'bezier' } },
  { selector: 'edge[status="down"]', style: { 'line-color': RED, 'line-style': 'dashed' } },
  { selector: ':selected', style: { 'border-color': '#111827', 'border-width': 4 } },
];

// The graph's elements from the data: id -> element.
function elements() {
  const els = new Map();
  const add = (group, d, classes) => els.set(d.id, { group, data: d, classes });
  for (const host of data.hosts || []) {
    add('nodes', { id: `host/${host.name}`, label: host.name, status: host.status, kind: 'host', name: host.name }, 'host');
  }
  const hostIds = new Set((data.hosts || []).map((x) => `host/${x.name}`));
  const parentOf = (host) => (host && hostIds.has(`host/${host}`) ? `host/${host}` : undefined);
  for (const net of data.networks || []) {
    add('nodes', { id: `network/${net.name}`, label: net.name, kind: 'network', name: net.name }, 'network');
  }
  for (const vm of data.vms || []) {
    add('nodes', { id: `vm/${vm.name}`, label: vm.name, status: vm.status, kind: 'vm', name: vm.name, parent: parentOf(vm.host) }, 'vm');
  }
  for (const port of data.ports || []) {
    const net = `network/${port.network}`;
    if (port.vm) {
      // A VM's NIC: the VM joins the network.
      add('edges', { id: `edge/${port.name}`, source: `vm/${port.vm}`, target: net, status: port.status, kind: 'port', name: port.name });
    } else {
      add('nodes', { id: `port/${port.name}`, label: port.name, status: port.status, kind: 'port', name: port.name, parent: parentOf(port.host) }, 'port');
      add('edges', { id: `edge/${port.name}`, source: `port/${port.name}`, target: net, status: port.status, kind: 'port', name: port.name });
    }
  }
  // An edge to an object that is not there (yet) would fail.
  for (const [id, el] of els) {
    if (el.group === 'edges' && (!els.has(el.data.source) || !els.has(el.data.target))) {
      els.delete(id);
    }
  }
  return els;
}

const collection = { host: 'hosts', vm: 'vms', network: 'networks', port: 'ports' };

// The object of KIND named NAME, from the data.
function find(kind, name) {
  return (data[collection[kind]] || []).find((o) => o.name === name);
}

function details(kind, name) {
  const obj = find(kind, name);
  if (!obj) {
    return h('p', {}, 'Select an object to see its details.');
  }
  const rows = Object.entries(obj)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v))]);
  return [h('h3', {}, `${kind} ${name}`), h('dl', { class: 'details' }, rows)];
}

export function topologyView(main) {
  const graph = h('div', { id: 'topology', class: 'graph', role: 'img', 'aria-label': 'Topology graph of hosts, VMs, ports and networks; the list beside it says the same' });
  const side = h('div', { class: 'side' });
  const list = h('div', { class: 'topology-list' });
  const panel = h('section', { id: 'details', class: 'details-panel', 'aria-live': 'polite', 'aria-label': 'Details' });
  replace(side, panel, list);
  replace(main, h('h2', {}, 'Topology'), h('div', { class: 'topology' }, graph, side));

  const cy = cytoscape({ container: graph, style, elements: [], wheelSensitivity: 0.2, minZoom: 0.2, maxZoom: 3 });
  // The running instance, for whoever debugs the page (and the tests).
  window.fabricTopology = cy;
  let selected = null;

  const select = (kind, name) => {
    selected = { kind, name };
    replace(panel, details(kind, name));
    cy.$(':selected').unselect();
    const id = kind === 'port' && find('port', name)?.vm ? `edge/${name}` : `${kind}/${name}`;
    cy.getElementById(id).select();
  };
  cy.on('tap', 'node, edge', (e) => select(e.target.data('kind'), e.target.data('name')));

  const item = (kind, obj, children) =>
    h(
      'li',
      { 'data-kind': kind, 'data-name': obj.name, 'data-status': obj.status || '' },
      h('button', { type: 'button', class: 'link', onclick: () => select(kind, obj.name) }, `${kind} ${obj.name}`),
      ' ',
      obj.status ? badge(obj.status) : null,
      children,
    );

  const renderList = () => {
    const hosts = data.hosts || [];
    const onHost = (host) => ({
      vms: (data.vms || []).filter((v) => v.host === host),
      ports: (data.ports || []).filter((p) => p.host === host && !p.vm),
    });
    const unplaced = {
      vms: (data.vms || []).filter((v) => !hosts.some((x) => x.name === v.host)),
      ports: (data.ports || []).filter((p) => !p.vm && !hosts.some((x) => x.name === p.host)),
    };
    const sub = (g) =>
      g.vms.length || g.ports.length
        ? h('ul', {}, g.vms.map((v) => item('vm', v)), g.ports.map((p) => item('port', p)))
        : null;
    replace(
      list,
      h('h3', {}, 'Hosts'),
      h('ul', { class: 'tree' }, hosts.map((x) => item('host', x, sub(onHost(x.name))))),
      unplaced.vms.length || unplaced.ports.length ? [h('h3', {}, 'Not placed'), h('ul', { class: 'tree' }, sub(unplaced))] : null,
      h('h3', {}, 'Networks'),
      h('ul', { class: 'tree' }, (data.networks || []).map((n) => item('network', { name: n.name }))),
    );
  };

  const render = () => {
    const want = elements();
    let structural = false;
    cy.batch(() => {
      cy.elements().forEach((el) => {
        const w = want.get(el.id());
        if (!w || (w.data.parent || null) !== (el.data('parent') || null)) {
          el.remove();
          structural = true;
        }
      });
      // Nodes before edges, parents before children.
      const order = [...want.values()].sort((a, b) => (a.group === b.group ? (a.data.parent ? 1 : 0) - (b.data.parent ? 1 : 0) : a.group === 'nodes' ? -1 : 1));
      for (const w of order) {
        const el = cy.getElementById(w.data.id);
        if (el.nonempty()) {
          // A status changes colour in place: no layout, no reload.
          el.data(w.data);
        } else {
          cy.add(w);
          structural = true;
        }
      }
    });
    if (structural) {
      cy.layout({
        name: 'fcose',
        animate: false,
        randomize: true,
        quality: 'proof',
        nodeDimensionsIncludeLabels: true,
        padding: 24,
        idealEdgeLength: 90,
        nodeRepulsion: 6000,
        nestingFactor: 0.3,
        tile: true,
      }).run();
    }
    renderList();
    if (selected) {
      replace(panel, details(selected.kind, selected.name));
    } else {
      replace(panel, details(null, null));
    }
  };

  render();
  const unsubscribe = subscribe(render);
  return () => {
    unsubscribe();
    cy.destroy();
    delete window.fabricTopology;
  };
}
