// fabric's web console: a login page that takes an API token, then the
// views of the fabric, kept live through the API's change stream.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { call, clearToken, getToken, setToken, setUnauthorizedHandler } from './api.js';
import { start, stop } from './data.js';
import { h, newId, replace } from './dom.js';
import { topologyView } from './topology.js';
import {
  chartsView,
  flowLogsView,
  hostsView,
  networksView,
  portsView,
  qosView,
  securityGroupsView,
  setAdmin,
  startSampling,
  traceView,
  vmsView,
} from './views.js';

const views = [
  ['topology', 'Topology', topologyView],
  ['hosts', 'Hosts', hostsView],
  ['vms', 'VMs', vmsView],
  ['networks', 'Networks', networksView],
  ['ports', 'Ports', portsView],
  ['security-groups', 'Security groups', securityGroupsView],
  ['qos', 'QoS policies', qosView],
  ['flowlogs', 'Flow logs', flowLogsView],
  ['trace', 'Trace', traceView],
  ['charts', 'Charts', chartsView],
];

const app = document.getElementById('app');
let leave = null;

function loginPage(message) {
  stop();
  if (leave) {
    leave();
    leave = null;
  }
  const id = newId('token');
  const errId = `${id}-error`;
  const input = h('input', { id, name: 'token', type: 'password', required: true, autocomplete: 'off', 'aria-describedby': `${id}-hint ${errId}` });
  const error = h('p', { id: errId, class: 'field-error', role: 'alert' }, message || '');
  const button = h('button', { type: 'submit' }, 'Log in');
  replace(
    app,
    h(
      'main',
      { class: 'login' },
      h('h1', {}, 'fabric console'),
      h(
        'form',
        {
          'aria-label': 'Log in',
          onsubmit: async (e) => {
            e.preventDefault();
            const token = input.value.trim();
            if (!token) {
              replace(error, 'Give an API token.');
              return;
            }
            setToken(token);
            button.disabled = true;
            try {
              await enter();
            } catch (err) {
              clearToken();
              loginPage(`This token was refused: ${err.message}`);
            }
          },
        },
        h('label', { for: id }, 'API token'),
        input,
        h('p', { class: 'hint', id: `${id}-hint` }, 'An admin or viewer token (fabricctl token create). It is kept for this tab only, and forgotten when the tab closes.'),
        error,
        button,
      ),
    ),
  );
  input.focus();
}

function route() {
  const name = (location.hash.replace(/^#\/?/, '') || 'topology').split('?')[0];
  const view = views.find((v) => v[0] === name) || views[0];
  const main = document.getElementById('main');
  if (!main) {
    return;
  }
  if (leave) {
    leave();
  }
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.view === view[0]) {
      a.setAttribute('aria-current', 'page');
    } else {
      a.removeAttribute('aria-current');
    }
  }
  document.title = `${view[1]} · fabric console`;
  leave = view[2](main) || null;
  main.focus();
}

async function enter() {
  const me = await call('GET', '/v1/whoami');
  setAdmin(me.role === 'admin');
  replace(
    app,
    h('a', { class: 'skip', href: '#main' , onclick: (e) => { e.preventDefault(); document.getElementById('main').focus(); } }, 'Skip to content'),
    h(
      'header',
      { class: 'top' },
      h('h1', {}, 'fabric'),
      h('nav', { 'aria-label': 'Views' }, h('ul', {}, views.map(([id, label]) => h('li', {}, h('a', { href: `#/${id}`, 'data-view': id }, label))))),
      h(
        'div',
        { class: 'user' },
        h('span', { id: 'live', class: 'live', role: 'status' }, 'Connecting…'),
        h('span', { class: 'who', 'data-role': me.role }, `${me.name} (${me.role})`),
        h(
          'button',
          {
            type: 'button',
            onclick: () => {
              clearToken();
              loginPage('Logged out.');
            },
          },
          'Log out',
        ),
      ),
    ),
    h('p', { id: 'notice', class: 'notice', role: 'status', 'aria-live': 'polite' }),
    h('main', { id: 'main', tabindex: '-1' }),
  );
  await start();
  startSampling();
  route();
}

setUnauthorizedHandler((message) => {
  clearToken();
  loginPage(`The controller refused the token: ${message}`);
});
window.addEventListener('hashchange', route);

if (getToken()) {
  enter().catch((err) => {
    clearToken();
    loginPage(`This token was refused: ${err.message}`);
  });
} else {
  loginPage();
}
