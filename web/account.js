// Member sign-in (docs/protocol.md, "Member sign-in"): the sign-in form on the landing
// page, the activation page (`/activate#token=…`, sets the password), and the start page
// that lists the rooms a member may enter. Entering a room asks the server for a short-lived
// access token with the session cookie; no token ever sits in a URL. The cookie is
// HttpOnly: this module never sees it, only the server's answers.

import { $, h, smallButton, replaceKeepingFocus } from './dom.js';
import { t, roleText, language, onLanguageChange } from './i18n.js';
import { createAdmin } from './admin.js';
import { createDirectory } from './directory.js';
import { startResolutions } from './resolutions.js';

/** POST JSON to the server's REST API; resolves to { ok, status, body }. */
export async function postJson(path, body = {}) {
  const resp = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify(body),
  });
  return { ok: resp.ok, status: resp.status, body: await resp.json().catch(() => ({})) };
}

/**
 * A sentence for a REST API error: `{ error: { code, reason?, message } }`. Account errors
 * are translated by code, refusals of organisation commands by their reason; a reason
 * without a translation shows the server's (English) message.
 */
export function apiError(body) {
  const error = body?.error ?? {};
  if (error.code === 'rate_limited') {
    return t('account.error.rate_limited', { seconds: Math.ceil((error.retry_after_ms ?? 0) / 1000) });
  }
  if (error.reason) {
    const key = `org.error.${error.reason}`;
    const text = t(key, { message: error.message ?? '' });
    return text === key ? error.message ?? error.reason : text;
  }
  const key = `account.error.${error.code}`;
  const text = t(key);
  return text === key ? t('error.unknown', { code: error.code ?? '?' }) : text;
}

/**
 * An organisation-wide command (`POST /api/org/{ns}`): resolves to the answer, or throws an
 * Error whose message is the translated refusal.
 */
export async function orgCommand(ns, body) {
  const r = await postJson(`/api/org/${ns}`, body).catch(() => null);
  if (!r) throw new Error(t('error.connection_failed'));
  if (!r.ok) throw new Error(apiError(r.body));
  return r.body;
}

/** The activation secret from `/activate#token=…`, or null. */
function activationToken(loc = location) {
  const token = new URLSearchParams(loc.hash.replace(/^#/, '')).get('token');
  return token && /^[0-9a-f]{64}$/.test(token.trim()) ? token.trim() : null;
}

/**
 * Runs the account pages. `showScreen(name)` switches screens; `onEnter(token)` starts the
 * room client with an access token, `onWatch(token)` the watch page (web/watch.js). Returns
 * true when it took over the page (no invite link).
 */
export function startAccount({ showScreen, onEnter, onWatch = null }) {
  let member = null;

  const renderStart = () => {
    if (!member) return;
    $('start-greeting').textContent = t('start.greeting', { name: member.name });
    $('start-admin').hidden = !(member.admin_of?.length > 0);
    const rooms = member.rooms ?? [];
    $('start-empty').hidden = rooms.length > 0;
    replaceKeepingFocus($('start-rooms'), rooms.map((room) => h('li', { className: 'start-room', key: room.id, testid: 'start-room', dataset: { room: room.id } },
      h('div', {},
        h('strong', { text: room.name }),
        h('span', { className: 'muted', text: ` · ${roleText(room.role)}` })),
      h('div', { className: 'start-room-actions' },
        smallButton(t('start.watch'), 'start-watch', () => watch(room.id)),
        smallButton(t('start.enter'), 'start-enter', () => enter(room.id), { className: 'primary' })))));
  };

  // Approved minutes of the member's rooms (the reports plugin).
  let published = [];
  const renderMinutes = () => {
    const names = new Map((member?.rooms ?? []).map((r) => [r.id, r.name]));
    $('start-minutes-title').hidden = published.length === 0;
    replaceKeepingFocus($('start-minutes'), published.flatMap((p) => p.versions.map((v) => h('li', { className: 'start-room', key: `${p.room}|${v.version}`, testid: 'start-minutes-item' },
      h('div', {}, h('strong', { text: names.get(p.room) ?? p.room }), h('span', { className: 'muted', text: ` · ${t('events.version', { version: v.version })}` })),
      h('a', { className: 'button small', testid: 'start-minutes-pdf', download: '', href: `/api/org/reports/download/minutes.pdf?room=${encodeURIComponent(p.room)}&version=${v.version}&lang=${language()}`, text: 'PDF' })))));
  };
  const loadMinutes = async () => {
    const r = await postJson('/api/org/reports', { action: 'published' }).catch(() => null);
    published = r?.ok ? r.body.rooms : [];
    renderMinutes();
  };

  // Circulations, the register, the agendas' attachments (the reports plugin).
  const resolutions = startResolutions({ rooms: () => member?.rooms ?? [] });

  const showStart = (m) => {
    member = m;
    history.replaceState(null, '', '/');
    showScreen('start');
    renderStart();
    loadMinutes();
    resolutions.load();
  };

  const enter = async (roomId, { media = true, errorEl = $('start-error') } = {}) => {
    errorEl.textContent = '';
    const r = await postJson(`/api/account/rooms/${encodeURIComponent(roomId)}/token`).catch(() => null);
    if (!r) return void (errorEl.textContent = t('error.connection_failed'));
    if (!r.ok) return void (errorEl.textContent = apiError(r.body));
    onEnter(r.body.token, { media });
  };
  // Watch a room's stage (web/watch.js) with a fresh token; the token stays out of the URL.
  const watch = async (roomId) => {
    const errorEl = $('start-error');
    errorEl.textContent = '';
    const r = await postJson(`/api/account/rooms/${encodeURIComponent(roomId)}/token`).catch(() => null);
    if (!r) return void (errorEl.textContent = t('error.connection_failed'));
    if (!r.ok) return void (errorEl.textContent = apiError(r.body));
    onWatch?.(r.body.token);
  };
  // Back to the start page, with the rooms as they are now (an admin may have seated us).
  const back = async () => {
    const resp = await fetch('/api/account/me', { credentials: 'same-origin' }).catch(() => null);
    showStart(resp?.ok ? (await resp.json()).member : member);
  };
  const admin = createAdmin({ showScreen, back });
  const directory = createDirectory({ showScreen, me: () => member, enter: (room, { media }) => enter(room, { media, errorEl: $('directory-error') }), back });
  $('start-admin').addEventListener('click', () => admin.open());
  $('start-directory').addEventListener('click', () => directory.open());

  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('signin-error').textContent = '';
    const r = await postJson('/api/account/login', { login: $('signin-login').value, password: $('signin-password').value }).catch(() => null);
    $('signin-password').value = '';
    if (!r) return void ($('signin-error').textContent = t('error.connection_failed'));
    if (!r.ok) return void ($('signin-error').textContent = apiError(r.body));
    showStart(r.body.member);
  });

  $('activate-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const error = $('activate-error');
    error.textContent = '';
    const password = $('activate-password').value;
    if (password !== $('activate-repeat').value) return void (error.textContent = t('activate.mismatch'));
    const r = await postJson('/api/account/activate', { token: activationToken(), password }).catch(() => null);
    if (!r) return void (error.textContent = t('error.connection_failed'));
    if (!r.ok) return void (error.textContent = apiError(r.body));
    showStart(r.body.member);
  });

  $('reset-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = $('reset-status');
    status.textContent = '';
    const r = await postJson('/api/account/reset', { login: $('reset-login').value.trim() }).catch(() => null);
    if (!r) return void (status.textContent = t('error.connection_failed'));
    status.textContent = r.ok ? t('reset.sent') : apiError(r.body);
  });

  $('start-logout').addEventListener('click', async () => {
    await postJson('/api/account/logout').catch(() => null);
    member = null;
    showScreen('landing');
  });
  $('start-logout-all').addEventListener('click', async () => {
    const r = await postJson('/api/account/logout_all').catch(() => null);
    member = null;
    showScreen('landing');
    if (r?.ok) $('signin-error').textContent = t('start.loggedOutAll', { n: r.body.sessions_ended });
  });
  onLanguageChange(() => { renderStart(); renderMinutes(); resolutions.render(); });

  if (location.pathname.replace(/\/+$/, '') === '/activate') {
    if (!activationToken()) {
      showScreen('activate');
      $('activate-error').textContent = t('account.error.activation_invalid');
      $('activate-form').hidden = true;
      return true;
    }
    showScreen('activate');
    return true;
  }
  showScreen('landing');
  fetch('/api/account/me', { credentials: 'same-origin' })
    .then(async (resp) => (resp.ok ? showStart((await resp.json()).member) : null))
    .catch(() => null);
  return true;
}
