// DOM helpers. Every piece of data goes into the page as a text node or an
// attribute value, never as markup: the meetings' titles, user names and the
// node's messages come from other people.

/**
 * h('td', {testid: 'meeting-state', class: 'state'}, 'active') makes
 * <td data-testid="meeting-state" class="state">active</td>.
 * attrs: `class`, `testid` (data-testid), `data` ({key: value} as data-*),
 * `on` ({click: fn}), `disabled`/`hidden`/`checked`/`selected` (booleans),
 * `value`; anything else is set with setAttribute.
 * children: strings and numbers become text nodes; null, undefined and false
 * are skipped; arrays are flattened.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'testid') el.dataset.testid = value;
    else if (key === 'data') for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    else if (key === 'on') for (const [k, fn] of Object.entries(value)) el.addEventListener(k, fn);
    else if (key === 'disabled' || key === 'hidden' || key === 'checked' || key === 'selected') el[key] = Boolean(value);
    else if (key === 'value') el.value = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces every child of `el` with `children`. */
export function replaceChildren(el, ...children) {
  el.textContent = '';
  append(el, children);
}

/** A value from a reply shown as text: '-' when missing or empty. */
export function text(value) {
  if (value === undefined || value === null || value === '') return '-';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * A table: `columns` are header labels ('#' at the end of one: a number
 * column, aligned right), `rows` are <tr> elements.
 */
export function table(testid, columns, rows, emptyText) {
  const header = (c) => (c.endsWith('#')
    ? h('th', {scope: 'col', class: 'num'}, c.slice(0, -1))
    : h('th', {scope: 'col'}, c));
  return h('table', {testid},
    h('thead', {}, h('tr', {}, columns.map(header))),
    h('tbody', {}, rows.length ? rows
      : h('tr', {class: 'empty'}, h('td', {colspan: columns.length, testid: `${testid}-empty`}, emptyText || 'nothing'))));
}
