// Small DOM helpers shared by the client's modules: element lookup, an element builder,
// the icon sprite, and list replacement that keeps keyboard focus and open menus.

export const $ = (id) => document.getElementById(id);

/**
 * Builds an element: `h('button', { className: 'button', testid: 'x', onClick }, 'text', child)`.
 * `testid` and `key` become data attributes, `text` the text content, `onClick`/`onChange`/
 * `onSubmit` listeners; known properties (className, type, disabled, hidden, value, …) are
 * set as properties, anything else (aria-*, role, …) as attributes. null/false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (name === 'testid') el.dataset.testid = value;
    else if (name === 'key') el.dataset.key = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name === 'text') el.textContent = value;
    else if (/^on[A-Z]/.test(name)) el.addEventListener(name.slice(2).toLowerCase(), value);
    else if (name in el) el[name] = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  el.append(...children.flat(Infinity).filter((c) => c != null && c !== false));
  return el;
}

export function icon(name, cls = 'icon') {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  const use = document.createElementNS('http://www.w3.org/2000/svg', 'use');
  use.setAttribute('href', `#i-${name}`);
  svg.append(use);
  return svg;
}

export function setIcon(button, name) {
  button.querySelector('use')?.setAttribute('href', `#i-${name}`);
}

/** A round button that shows only an icon; `label` is its accessible name and tooltip. */
export function iconButton(name, label, testid, onClick, className = '') {
  return h('button', { type: 'button', className: `icon-button ${className}`.trim(), testid, title: label, 'aria-label': label, onClick }, icon(name));
}

/** A small text button, optionally with an icon in front. */
export function smallButton(text, testid, onClick, { iconName = null, className = '' } = {}) {
  return h('button', { type: 'button', className: `button small ${className}`.trim(), testid, onClick }, iconName ? icon(iconName) : null, h('span', { text }));
}

/** `[data-key]` of the closest keyed ancestor plus the control's test id: stable across renders. */
function controlKey(el) {
  return `${el.closest('[data-key]')?.dataset.key ?? ''}|${el.dataset.testid ?? el.tagName}`;
}

/**
 * Replaces the children of `container` with `items`, keeping keyboard focus on the control
 * with the same key and test id, and re-opening `<details>` menus that were open.
 */
export function replaceKeepingFocus(container, items) {
  const focused = container.contains(document.activeElement) ? controlKey(document.activeElement) : null;
  const open = new Set([...container.querySelectorAll('details[open]')].map(controlKey));
  container.replaceChildren(...items);
  for (const details of container.querySelectorAll('details')) {
    if (open.has(controlKey(details))) details.open = true;
  }
  if (!focused) return;
  const candidates = [...container.querySelectorAll('button, select, summary, input')];
  const again = candidates.find((el) => controlKey(el) === focused)
    ?? candidates.find((el) => controlKey(el).split('|')[0] === focused.split('|')[0]);
  again?.focus();
}

/** A moment (unix milliseconds) as the page's language writes date and time; '' for none. */
export function dateTimeText(ms) {
  if (ms == null) return '';
  return new Date(ms).toLocaleString(document.documentElement.lang || undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A `datetime-local` input's value (`2027-05-01T10:00`, local time) → unix milliseconds, or null. */
export function msFromLocalInput(value) {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : null;
}
