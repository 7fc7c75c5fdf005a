// The console's building blocks: status badges, tables with a filter,
// forms that put the API's own validation errors next to their field, and
// notices for people using screen readers as well.
import { ApiError } from './api.js';
import { subscribe } from './data.js';
import { h, newId, replace } from './dom.js';

// A status word as a badge whose colour class says it.
export function badge(status) {
  const s = status || 'unknown';
  return h('span', { class: `status status-${s.replace(/[^a-z-]/g, '')}` }, s);
}

// Announces TEXT in the page's live region ("error" for failures).
export function notify(text, kind) {
  const el = document.getElementById('notice');
  if (el) {
    el.className = `notice ${kind === 'error' ? 'notice-error' : 'notice-info'}`;
    replace(el, text);
  }
}

// A table of ITEMS with COLUMNS ([{label, get(item) -> node or text}]),
// captioned CAPTION; ROWATTRS(item) gives a row's attributes.
export function table(caption, columns, items, rowAttrs) {
  return h(
    'table',
    { class: 'list' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
    h(
      'tbody',
      {},
      items.length === 0
        ? h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, 'None.'))
        : items.map((it) =>
            h(
              'tr',
              rowAttrs ? rowAttrs(it) : {},
              columns.map((c) => h('td', {}, c.get(it) ?? '')),
            ),
          ),
    ),
  );
}

// A text filter: calls ONINPUT(text) as the user types.
export function filterBox(label, oninput) {
  const id = newId('filter');
  return h(
    'div',
    { class: 'filter' },
    h('label', { for: id }, label),
    h('input', { id, type: 'search', oninput: (e) => oninput(e.target.value.trim().toLowerCase()) }),
  );
}

// Whether ITEM matches filter TEXT in any of FIELDS.
export function matches(item, fields, text) {
  if (!text) {
    return true;
  }
  return fields.some((f) => String(item[f] ?? '').toLowerCase().includes(text));
}

// The value of input INPUT of field F as the API takes it, or undefined
// when it is empty (left out).  'map' fields take "k=v, k2=v2", 'list'
// fields "a, b", 'lines' fields one item a line; a 'textarea' is sent
// as typed.  A malformed pair throws an error for the field.
function fieldValue(f, input) {
  if (f.type === 'checkbox') {
    return input.checked ? true : undefined;
  }
  if (f.type === 'textarea') {
    return input.value.trim() === '' ? undefined : input.value;
  }
  if (f.type === 'lines') {
    const lines = input.value.split('\n').map((x) => x.trim()).filter((x) => x !== '');
    return lines.length ? lines : undefined;
  }
  const v = input.value.trim();
  if (v === '') {
    return undefined;
  }
  if (f.type === 'number') {
    return Number(v);
  }
  if (f.type === 'list') {
    return v.split(',').map((x) => x.trim());
  }
  if (f.type === 'map') {
    const m = {};
    for (const pair of v.split(',')) {
      const i = pair.indexOf('=');
      if (i < 1) {
        throw new ApiError(0, `${f.name}: "${pair.trim()}": expected key=value (pairs separated by commas)`, f.name);
      }
      m[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
    }
    return m;
  }
  return v;
}

// Sets VALUE at PATH ("egress.rate", "nics[0].network") in object OBJ.
function setPath(obj, path, value) {
  const keys = path.split(/\.|\[(\d+)\]\.?/).filter((k) => k !== undefined && k !== '');
  let o = obj;
  keys.forEach((k, i) => {
    if (i === keys.length - 1) {
      o[k] = value;
    } else {
      if (o[k] === undefined) {
        o[k] = /^\d+$/.test(keys[i + 1]) ? [] : {};
      }
      o = o[k];
    }
  });
}

// The choices of a select field F (an array, or a function of the data
// the console keeps), each a value or a [value, label] pair.
function choices(f) {
  return (typeof f.options === 'function' ? f.options() : f.options).map((o) => (Array.isArray(o) ? o : [o, o]));
}

function fillSelect(select, f) {
  const was = select.value;
  replace(
    select,
    f.required ? null : h('option', { value: '' }, f.empty || '(none)'),
    choices(f).map(([v, label]) => h('option', { value: v }, label)),
  );
  if ([...select.options].some((o) => o.value === was)) {
    select.value = was;
  }
}

// A select with ATTRS offering the choices of F ({options, required,
// empty, from}, as a form's field): when OPTIONS is a function, its
// choices are made again whenever the collections FROM change, while the
// select is on the page, and the chosen one stays chosen.
export function choiceList(attrs, f) {
  const select = h('select', attrs);
  fillSelect(select, f);
  if (f.from) {
    const unsubscribe = subscribe((changed) => {
      if (!select.isConnected) {
        unsubscribe();
      } else if (f.from.some((c) => changed.includes(c))) {
        fillSelect(select, f);
      }
    });
  }
  return select;
}

// A form of FIELDS titled TITLE.  A field is {name, label, type ('text',
// 'number', 'checkbox', 'map', 'list', 'lines', 'textarea'), required,
// options, empty,
// placeholder, hint}; NAME may be a path ("egress.rate",
// "nics[0].network") and the values are sent nested so.  OPTIONS makes a
// select (choiceList): an array, or a function of the data the console
// keeps, called again whenever the collections in its field's FROM
// change.  {group, legend, fields} is a
// fieldset whose fields' errors about the whole group ("egress") show
// under it.  SUBMIT(values) returns a promise; an ApiError whose "field"
// is one of the form's (or lies within one: "nics[0].labels.x") shows its
// message next to that field, any other error above the button.  Empty
// optional fields are left out.  A form that makes something is emptied
// once it succeeded; a filter or a query ('keep') keeps what it asked.
export function form(title, fields, submitLabel, submit, keep) {
  const inputs = {};
  const errors = {};
  const flat = [];
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit' }, submitLabel);
  const errorSlot = (name, id) => {
    errors[name] = h('p', { class: 'field-error', id: `${id}-error`, 'data-field': name });
    return errors[name];
  };
  const row = (f) => {
    if (f.group) {
      const id = newId(`g-${f.group}`);
      const set = h('fieldset', { id }, h('legend', {}, f.legend), f.fields.map(row), errorSlot(f.group, id));
      inputs[f.group] = set;
      return set;
    }
    const id = newId(`f-${f.name.replace(/[^a-z0-9_-]/gi, '-')}`);
    const hintId = f.hint ? `${id}-hint` : null;
    let input;
    if (f.options) {
      input = choiceList({ id, name: f.name, required: f.required, 'aria-describedby': hintId }, f);
    } else if (f.type === 'textarea' || f.type === 'lines') {
      input = h('textarea', { id, name: f.name, rows: 3, 'aria-describedby': hintId, placeholder: f.placeholder });
    } else {
      input = h('input', {
        id,
        name: f.name,
        type: f.type === 'number' || f.type === 'checkbox' ? f.type : 'text',
        required: f.required,
        placeholder: f.placeholder,
        'aria-describedby': hintId,
        autocomplete: 'off',
      });
    }
    inputs[f.name] = input;
    flat.push(f);
    const label = h('label', { for: id }, f.label, f.required ? ' (required)' : '');
    return h(
      'div',
      { class: f.type === 'checkbox' ? 'field field-check' : 'field' },
      f.type === 'checkbox' ? [input, label] : [label, input],
      hintId ? h('p', { class: 'hint', id: hintId }, f.hint) : null,
      errorSlot(f.name, id),
    );
  };
  const rows = fields.map(row);
  // The field an error names, or the nearest one holding it.
  const slotOf = (field) => {
    for (let f = field; f; f = f.replace(/(\.[^.[\]]*|\[\d+\])$/, '') || null) {
      if (errors[f]) {
        return f;
      }
      if (!/(\.[^.[\]]*|\[\d+\])$/.test(f)) {
        break;
      }
    }
    return null;
  };
  const describe = (input, id, on) => {
    const ids = (input.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== id);
    if (on) {
      ids.push(id);
    }
    if (ids.length) {
      input.setAttribute('aria-describedby', ids.join(' '));
    } else {
      input.removeAttribute('aria-describedby');
    }
  };
  const el = h(
    'form',
    {
      class: 'form',
      'aria-label': title,
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        for (const [name, p] of Object.entries(errors)) {
          replace(p);
          inputs[name].removeAttribute('aria-invalid');
          describe(inputs[name], p.id, false);
        }
        for (const input of el.querySelectorAll('[aria-invalid]')) {
          input.removeAttribute('aria-invalid');
        }
        replace(formError);
        button.disabled = true;
        try {
          const values = {};
          for (const f of flat) {
            const v = fieldValue(f, inputs[f.name]);
            if (v !== undefined) {
              setPath(values, f.name, v);
            }
          }
          await submit(values);
          if (!keep) {
            el.reset();
          }
        } catch (err) {
          const field = err instanceof ApiError && err.field ? slotOf(err.field) : null;
          if (field) {
            const input = inputs[field];
            replace(errors[field], err.message);
            describe(input, errors[field].id, true);
            if (input.tagName === 'FIELDSET') {
              // The group is wrong as a whole: its filled fields are.
              const filled = [...input.querySelectorAll('input, select')].filter((i) => i.value !== '');
              filled.forEach((i) => i.setAttribute('aria-invalid', 'true'));
              (filled[0] || input.querySelector('input, select')).focus();
            } else {
              input.setAttribute('aria-invalid', 'true');
              input.focus();
            }
          } else {
            replace(formError, err.message);
          }
        } finally {
          button.disabled = false;
        }
      },
    },
    h('h3', {}, title),
    rows,
    formError,
    button,
  );
  return el;
}

// A button that runs ACTION (a promise) and reports how it went.
export function actionButton(label, description, action) {
  return h(
    'button',
    {
      type: 'button',
      class: 'action',
      'aria-label': description,
      onclick: async (e) => {
        const b = e.currentTarget;
        b.disabled = true;
        try {
          await action();
          notify(`${description}: done`);
        } catch (err) {
          notify(`${description}: ${err.message}`, 'error');
        } finally {
          b.disabled = false;
        }
      },
    },
    label,
  );
}
