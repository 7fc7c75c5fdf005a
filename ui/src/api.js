// The REST API of doc/api.md, called with the user's bearer token.  The
// token lives in this tab's sessionStorage only: it goes when the tab
// closes, and never into localStorage or a cookie.
const TOKEN_KEY = 'fabric-token';

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// An error answer of the API: {"error": {"status", "reason", "message",
// "field"}}, or a failure to reach it.
export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || null;
  }
}

// Calls METHOD PATH with BODY (an object, sent as JSON; undefined for
// none) and resolves to the decoded answer (null for 204), or rejects with
// an ApiError.  'signal' aborts it.
export async function call(method, path, body, signal) {
  const headers = { Authorization: `Bearer ${getToken() || ''}` };
  const init = { method, headers, signal, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') {
      throw e;
    }
    throw new ApiError(0, `the controller cannot be reached (${e.message})`);
  }
  if (res.status === 204) {
    return null;
  }
  const text = await res.text();
  if (res.ok && !(res.headers.get('Content-Type') || '').includes('json')) {
    // A VM's console log is text/plain.
    return text;
  }
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const err = json && json.error;
    if (res.status === 401 && onUnauthorized) {
      onUnauthorized(err ? err.message : 'unauthenticated');
    }
    throw new ApiError(res.status, err ? err.message : `${method} ${path}: HTTP ${res.status}`, err && err.field);
  }
  return json;
}

let onUnauthorized = null;

// Sets what happens when the API says the token is not (or no longer)
// valid: back to the login page.
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// Every item of a paged list (GET /v1/KIND), following next_page_token.
export async function listAll(path) {
  const items = [];
  let token = null;
  const sep = path.includes('?') ? '&' : '?';
  do {
    const page = await call('GET', `${path}${sep}limit=1000${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
    items.push(...(page.items || []));
    token = page.next_page_token;
  } while (token);
  return items;
}

export const enc = encodeURIComponent;
