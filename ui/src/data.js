// What the console shows, read from the API and kept up to date through
// GET /v1/changes: a long poll that answers which collections changed past
// the revision the console has read; only those are read again.  Host
// liveness comes from heartbeats kept in the controller's memory, which no
// revision records, so hosts are also read again every HOSTS_EVERY_MS.
import { call, listAll } from './api.js';

const HOSTS_EVERY_MS = 10000;
const POLL_TIMEOUT_S = 25;

// Collections by name, as /v1/changes names them, and how to read each.
const readers = {
  hosts: () => listAll('/v1/hosts'),
  vms: () => listAll('/v1/vms'),
  networks: () => listAll('/v1/networks'),
  ports: () => listAll('/v1/ports'),
  'security-groups': () => listAll('/v1/security-groups'),
  'qos-policies': () => listAll('/v1/qos-policies'),
  images: () => listAll('/v1/images'),
  'vm-groups': () => listAll('/v1/vm-groups'),
};

export const data = {};
const listeners = new Set();
let revision = null;
let running = false;
let controller = null;
let hostsTimer = null;

// Calls FN(changedNames) after collections were read again.
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(names) {
  for (const fn of listeners) {
    try {
      fn(names);
    } catch (e) {
      console.error(e);
    }
  }
}

// Reads the collections NAMES (those the console keeps) again.
export async function refresh(names) {
  const wanted = names.filter((n) => readers[n]);
  const results = await Promise.all(wanted.map((n) => readers[n]()));
  wanted.forEach((n, i) => {
    data[n] = results[i];
  });
  if (wanted.length) {
    emit(wanted);
  }
}

function setLive(text, ok) {
  const el = document.getElementById('live');
  if (el) {
    el.textContent = text;
    el.className = ok ? 'live live-ok' : 'live live-bad';
  }
}

async function loop() {
  while (running) {
    try {
      const ans = await call(
        'GET',
        `/v1/changes?revision=${revision}&timeout=${POLL_TIMEOUT_S}`,
        undefined,
        controller.signal,
      );
      // Revisions grow by one or more: the answer's is the one to poll
      // from next, whatever the step.
      if (ans.changed.length) {
        await refresh(ans.changed);
      }
      revision = ans.revision;
      setLive('Live', true);
    } catch (e) {
      if (!running || e.name === 'AbortError') {
        return;
      }
      setLive(`Not live: ${e.message}; retrying`, false);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

// Reads everything at the current revision and starts following changes.
export async function start() {
  stop();
  running = true;
  controller = new AbortController();
  const first = await call('GET', '/v1/changes');
  revision = first.revision;
  await refresh(Object.keys(readers));
  setLive('Live', true);
  loop();
  hostsTimer = setInterval(() => {
    refresh(['hosts']).catch(() => {});
  }, HOSTS_EVERY_MS);
}

export function stop() {
  running = false;
  if (controller) {
    controller.abort();
    controller = null;
  }
  clearInterval(hostsTimer);
  hostsTimer = null;
}
