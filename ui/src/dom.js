// Building the page with the DOM API alone: text goes in as text, never
// as markup, so nothing an object holds can run as code; and no style
// attribute, which the Content-Security-Policy forbids.

// Creates element TAG with ATTRS (class, for, aria-*, data-*, on* as
// functions, or properties such as value) and CHILDREN (nodes, strings,
// arrays of them; null and false are skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) {
      continue;
    }
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) {
      continue;
    }
    if (Array.isArray(c)) {
      append(el, c);
    } else if (c instanceof Node) {
      el.appendChild(c);
    } else {
      el.appendChild(document.createTextNode(String(c)));
    }
  }
}

// Replaces the children of EL with CHILDREN.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let uid = 0;
// A fresh id for a label's "for".
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}
