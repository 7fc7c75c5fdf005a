// The console's building blocks: status badges, tables with a filter,
// forms that put the API's own validation errors next to their field, and
// notices for people using screen readers as well.
import { ApiError } from './api.js';
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

// A form of FIELDS ([{name, label, type, required, options, placeholder,
// hint}]) titled TITLE.  SUBMIT(values) returns a promise; an ApiError
// whose "field" is one of the form's shows its message next to that field,
// any other error above the button.  Empty optional fields are left out.
// A form that makes something is emptied once it succeeded; a filter or a
// query ('keep') keeps what it asked.
export function form(title, fields, submitLabel, submit, keep) {
  const inputs = {};
  const errors = {};
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit' }, submitLabel);
  const rows = fields.map((f) => {
    const id = newId(`f-${f.name}`);
    const errId = `${id}-error`;
    const hintId = f.hint ? `${id}-hint` : null;
    let input;
    if (f.options) {
      input = h(
        'select',
        { id, name: f.name, required: f.required },
        f.required ? null : h('option', { value: '' }, '(none)'),
        f.options.map((o) => h('option', { value: o }, o)),
      );
    } else {
      input = h('input', {
        id,
        name: f.name,
        type: f.type || 'text',
        required: f.required,
        placeholder: f.placeholder,
        'aria-describedby': hintId,
        autocomplete: 'off',
      });
    }
    inputs[f.name] = input;
    errors[f.name] = h('p', { class: 'field-error', id: errId, 'data-field': f.name });
    return h(
      'div',
      { class: 'field' },
      h('label', { for: id }, f.label, f.required ? ' (required)' : ''),
      input,
      hintId ? h('p', { class: 'hint', id: hintId }, f.hint) : null,
      errors[f.name],
    );
  });
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
          inputs[name].setAttribute('aria-describedby', inputs[name].getAttribute('aria-describedby')?.replace(/\S+-error/, '').trim() || '');
        }
        replace(formError);
        const values = {};
        for (const f of fields) {
          const v = inputs[f.name].value.trim();
          if (v !== '') {
            values[f.name] = f.type === 'number' ? Number(v) : v;
          }
        }
        button.disabled = true;
        try {
          await submit(values);
          if (!keep) {
            el.reset();
          }
        } catch (err) {
          const field = err instanceof ApiError && err.field ? err.field : null;
          if (field && errors[field]) {
            replace(errors[field], err.message);
            inputs[field].setAttribute('aria-invalid', 'true');
            const d = inputs[field].getAttribute('aria-describedby');
            inputs[field].setAttribute('aria-describedby', `${d ? `${d} ` : ''}${errors[field].id}`);
            inputs[field].focus();
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
