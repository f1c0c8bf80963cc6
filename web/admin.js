// Congress administration for admins (docs/events.md): units and admin scopes within the
// admin's own units, import the member list of a unit
// (a dry run first, then the import; members of the unit missing from the file are "left"), create events, seat members by one-by-one numbers, group or unit
// with a role, set delegate seats per unit, download the invitations as CSV or have them
// mailed (when the server has `[mail]`), create guest
// links, revoke a seat, and watch activation and attendance by unit (refreshed every 5 s
// while an event is open). Every button here is one documented REST command:
// `/api/org/events` and `/api/org/directory/upload/import`; circulations and attachments
// are resolutions.js's.

import { $, h, smallButton, replaceKeepingFocus, dateTimeText, msFromLocalInput } from './dom.js';
import { t, roleText, language, onLanguageChange } from './i18n.js';
import { postJson, apiError, orgCommand } from './account.js';
import { adminResolutions } from './resolutions.js';

const REFRESH_MS = 5000;

/** An events command; resolves to the answer or throws an Error with a translated text. */
const events = (body) => orgCommand('events', body);

/** "lv-by=12" lines (or "Landesverband Bayern = 12") → { unit: seats }; throws on a bad line. */
export function parseQuotas(text) {
  const quotas = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^(.+?)\s*[=:]\s*(\d{1,5})$/.exec(line);
    if (!m) throw new Error(t('events.quotaLine', { line }));
    quotas[m[1]] = Number(m[2]);
  }
  return quotas;
}

/** Save `text` as a file download named `name`. */
function download(name, text, type = 'text/csv;charset=utf-8') {
  const url = URL.createObjectURL(new Blob(['\ufeff', text], { type }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Wires the admin screen. `showScreen(name)` switches screens; `back()` returns to the start
 * page. Returns `open()`, which shows the screen and loads the events.
 */
export function createAdmin({ showScreen, back }) {
  let list = [];
  let detail = null; // the open event, as `get` answered
  let timer = null;
  let importFile = null;

  const resolutions = adminResolutions();
  const error = (text) => { $('admin-error').textContent = text ?? ''; };
  const message = (text) => { $('event-message').textContent = text ?? ''; };

  const renderList = () => {
    $('events-list').hidden = list.length === 0;
    replaceKeepingFocus($('events-list'), list.map((e) => h('li', { className: 'result', key: e.room, testid: 'event-item', dataset: { room: e.room } },
      h('div', {},
        h('strong', { text: e.title }),
        h('span', { className: 'muted', text: ` · ${t(`events.kind.${e.kind}`)} · ${e.unit_name}${e.starts_at ? ` · ${dateTimeText(e.starts_at * 1000)}` : ''}` }),
        h('div', { className: 'muted', text: t('events.counts', { assigned: e.assigned, present: e.present }) })),
      smallButton(t('events.open'), 'event-open', () => openEvent(e.room)))));
  };

  const renderDetail = () => {
    const d = detail;
    $('event-detail').hidden = !d;
    if (!d) return;
    $('event-heading').textContent = d.title;
    resolutions.event(d);
    const minutes = (file) => `/api/org/reports/download/${file}?room=${encodeURIComponent(d.room)}&lang=${language()}`;
    $('minutes-pdf').href = minutes('minutes.pdf');
    $('minutes-html').href = minutes('minutes.html');
    replaceKeepingFocus($('minutes-versions'), (d.versions ?? []).map((v) => h('li', { className: 'result', key: String(v.version), testid: 'minutes-version' },
      h('div', {}, h('strong', { text: t('events.version', { version: v.version }) }),
        h('div', { className: 'muted guest-link', text: `SHA-256 ${v.sha256}` })),
      h('a', { className: 'button small', href: `${minutes('minutes.pdf')}&version=${v.version}`, download: '', text: 'PDF' }))));
    $('event-meta').textContent = [t(`events.kind.${d.kind}`), d.unit_name, (d.starts_at == null ? '' : dateTimeText(d.starts_at * 1000)), t('events.presentNow', { n: d.present, guests: d.guests_present })].filter(Boolean).join(' · ');
    replaceKeepingFocus($('event-agenda-list'), d.agenda.map((item, i) => h('li', { key: String(i), text: item })));
    const seats = new Map(d.quotas.map((q) => [q.unit, q.seats]));
    replaceKeepingFocus($('event-attendance'), d.attendance.map((a) => h('tr', { key: a.unit, testid: 'attendance-row', dataset: { unit: a.unit } },
      h('td', { text: a.unit_name }),
      h('td', { text: seats.has(a.unit) ? String(seats.get(a.unit)) : '–' }),
      h('td', { text: String(a.assigned) }),
      h('td', { text: String(a.activated) }),
      h('td', { testid: 'attendance-present', text: String(a.present) }))));
    replaceKeepingFocus($('event-roster'), d.roster.map((s) => h('tr', { key: s.number, testid: 'roster-row', dataset: { number: s.number }, className: s.revoked ? 'revoked' : '' },
      h('td', { text: s.number }),
      h('td', { text: s.name }),
      h('td', { text: s.unit_name }),
      h('td', { text: roleText(s.role) }),
      h('td', { testid: 'roster-activated', text: s.activated ? t('events.yes') : t('events.no') }),
      h('td', { testid: 'roster-present', text: s.revoked ? t('events.revoked') : s.present ? t('events.yes') : t('events.no') }),
      h('td', {}, s.revoked ? null : smallButton(t('events.revoke'), 'roster-revoke', () => revoke(s))))));
    if (document.activeElement !== $('quota-text')) {
      $('quota-text').value = d.quotas.map((q) => `${q.unit_name} = ${q.seats}`).join('\n');
    }
  };

  const loadList = async () => {
    try {
      list = (await events({ action: 'list' })).events;
      renderList();
    } catch (e) { error(e.message); }
  };

  /** The event with its approved minutes. */
  const fetchDetail = async (room) => {
    const d = await events({ action: 'get', room });
    const versions = await orgCommand('reports', { action: 'versions', room }).then((b) => b.versions, () => []);
    return { ...d, versions };
  };

  const refresh = async () => {
    if (!detail) return;
    try {
      detail = await fetchDetail(detail.room);
      renderDetail();
    } catch (e) { error(e.message); }
  };

  const openEvent = async (room) => {
    error('');
    message('');
    $('guest-link').textContent = '';
    try {
      detail = await fetchDetail(room);
    } catch (e) { return void error(e.message); }
    renderDetail();
    clearInterval(timer);
    timer = setInterval(() => (document.body.dataset.screen === 'admin' ? refresh() : clearInterval(timer)), REFRESH_MS);
    $('event-detail').scrollIntoView({ block: 'start' });
  };

  const act = async (body, done) => {
    message('');
    error('');
    try {
      const answer = await events(body);
      message(done(answer));
      await refresh();
      await loadList();
    } catch (e) { message(e.message); }
  };

  const revoke = (seat) => act({ action: 'revoke', room: detail.room, number: seat.number }, () => t('events.revokedOne', { name: seat.name }));

  // Import: a dry run shows the plan; applying it is enabled only for a plan without errors.
  const runImport = async (dryRun) => {
    const result = $('import-result');
    if (!importFile) return void (result.textContent = t('import.noFile'));
    result.textContent = t('import.working');
    const body = await importFile.arrayBuffer();
    const params = new URLSearchParams({ dry_run: String(dryRun) });
    if ($('import-scope').value.trim()) params.set('scope', $('import-scope').value.trim());
    const resp = await fetch(`/api/org/directory/upload/import?${params}`, {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'text/csv' }, body,
    }).catch(() => null);
    if (!resp) return void (result.textContent = t('error.connection_failed'));
    const answer = await resp.json().catch(() => ({}));
    if (!resp.ok) return void (result.textContent = apiError(answer));
    const errors = answer.errors ?? [];
    $('import-apply').disabled = !dryRun || errors.length > 0;
    const summary = t(answer.applied ? 'import.applied' : errors.length ? 'import.failed' : 'import.planned', { new: answer.new.length, changed: answer.changed.length, left: answer.left.length, unchanged: answer.unchanged });
    const names = (key, members) => (members.length && !answer.applied
      ? h('details', {}, h('summary', { text: t(key, { n: members.length }) }), h('ul', {}, members.slice(0, 200).map((m) => h('li', { text: `${m.number} ${m.name}` }))))
      : null);
    result.replaceChildren(...[
      h('p', { testid: 'import-summary', text: summary }),
      errors.length ? h('ul', { className: 'import-errors', testid: 'import-errors' }, errors.slice(0, 50).map((e) => h('li', { text: t('import.errorLine', { line: e.line, reason: e.reason }) }))) : null,
      names('import.newList', answer.new),
      names('import.leftList', answer.left),
    ].filter(Boolean));
    if (answer.applied) { importFile = null; $('import-file').value = ''; }
  };

  $('import-file').addEventListener('change', (ev) => {
    importFile = ev.target.files?.[0] ?? null;
    $('import-apply').disabled = true;
    $('import-result').textContent = '';
  });
  $('import-check').addEventListener('click', () => runImport(true));
  $('import-apply').addEventListener('click', () => runImport(false));

  $('event-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error('');
    const agenda = $('event-agenda').value.split('\n').map((l) => l.trim()).filter(Boolean);
    const body = { action: 'create', title: $('event-title-input').value.trim(), kind: $('event-kind').value, agenda };
    const startsMs = msFromLocalInput($('event-starts').value);
    const starts = startsMs == null ? null : Math.floor(startsMs / 1000);
    if (starts != null) body.starts_at = starts;
    if ($('event-unit').value.trim()) body.unit = $('event-unit').value.trim();
    if ($('event-mode').value) body.mode = $('event-mode').value;
    try {
      const { room } = await events(body);
      $('event-form').reset();
      $('event-form').closest('details').open = false;
      await loadList();
      await openEvent(room);
    } catch (e) { error(e.message); }
  });

  $('assign-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const numbers = $('assign-numbers').value.split(/[\s,;]+/).filter(Boolean);
    const body = { action: 'assign', room: detail.room, role: $('assign-role').value, numbers };
    if ($('assign-group').value.trim()) body.group = $('assign-group').value.trim();
    if ($('assign-unit').value.trim()) body.unit = $('assign-unit').value.trim();
    act(body, (a) => {
      $('assign-numbers').value = '';
      return t('events.assigned', { added: a.added, already: a.already.length });
    });
  });

  $('quota-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    let quotas;
    try { quotas = parseQuotas($('quota-text').value); } catch (e) { return void message(e.message); }
    act({ action: 'set_quotas', room: detail.room, quotas }, () => t('events.quotasSaved'));
  });

  $('invitations-download').addEventListener('click', async () => {
    message('');
    try {
      const answer = await events({ action: 'invitations', room: detail.room });
      download(`einladungen-${detail.room}.csv`, answer.csv);
      message(t('events.downloaded', { n: answer.invitations.length }));
    } catch (e) { message(e.message); }
  });

  $('minutes-approve').addEventListener('click', async () => {
    message('');
    try {
      const { version } = await orgCommand('reports', { action: 'approve', room: detail.room });
      message(t('events.approved', { version }));
      await refresh();
    } catch (e) { message(e.message); }
  });

  $('invitations-send').addEventListener('click', async () => {
    message('');
    try {
      const answer = await events({ action: 'invitations', room: detail.room, send: true });
      message(t('events.sent', { sent: answer.sent, failed: answer.failed, none: answer.without_email }));
    } catch (e) { message(e.message); }
  });

  $('guest-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    message('');
    try {
      const answer = await events({ action: 'guest', room: detail.room, name: $('guest-name').value.trim(), role: $('guest-role').value });
      $('guest-link').textContent = answer.link;
      $('guest-form').reset();
    } catch (e) { message(e.message); }
  });

  // Units and admin scopes (the directory's commands).
  const directory = (body) => orgCommand('directory', body);
  const unitsMessage = (text) => { $('units-message').textContent = text ?? ''; };

  const loadUnits = async () => {
    try {
      const [{ units }, { admins }] = await Promise.all([directory({ action: 'units' }), directory({ action: 'admins' })]);
      const children = new Map();
      for (const u of units) children.set(u.parent ?? '', [...(children.get(u.parent ?? '') ?? []), u]);
      const rows = [];
      const walk = (parent, depth) => {
        for (const u of (children.get(parent) ?? []).sort((a, b) => a.name.localeCompare(b.name))) {
          const li = h('li', { key: u.id, testid: 'unit-item', dataset: { unit: u.id } },
            h('span', { text: u.name }), h('span', { className: 'muted', text: ` (${u.id})` }));
          li.style.paddingLeft = `${depth * 1.25}rem`; // CSSOM: allowed by the CSP
          rows.push(li);
          walk(u.id, depth + 1);
        }
      };
      walk('', 0);
      replaceKeepingFocus($('units-list'), rows);
      $('unit-names').replaceChildren(...units.map((u) => h('option', { value: u.name })));
      replaceKeepingFocus($('admins-list'), admins.map((a) => h('tr', { key: `${a.number}|${a.unit}`, testid: 'admin-row' },
        h('td', { text: a.number }), h('td', { text: a.name }), h('td', { text: a.unit_name }),
        h('td', {}, smallButton(t('units.withdraw'), 'admin-withdraw', () => setAdmin(a.number, a.unit, false))))));
    } catch (e) { unitsMessage(e.message); }
  };

  const setAdmin = async (number, unit, admin) => {
    unitsMessage('');
    try {
      await directory({ action: 'set_admin', number, unit, admin });
      unitsMessage(t(admin ? 'units.granted' : 'units.withdrawn', { number }));
      await loadUnits();
    } catch (e) { unitsMessage(e.message); }
  };

  $('unit-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    unitsMessage('');
    try {
      const { created } = await directory({ action: 'put_unit', id: $('unit-id').value.trim(), name: $('unit-name').value.trim(), parent: $('unit-parent').value.trim() });
      unitsMessage(t(created ? 'units.created' : 'units.saved'));
      $('unit-form').reset();
      await loadUnits();
    } catch (e) { unitsMessage(e.message); }
  });
  $('admin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    setAdmin($('admin-number').value.trim(), $('admin-unit').value.trim(), true).then(() => $('admin-form').reset());
  });

  $('admin-back').addEventListener('click', () => { clearInterval(timer); back(); });
  onLanguageChange(() => { renderList(); renderDetail(); resolutions.render(); });

  return {
    open() {
      error('');
      showScreen('admin');
      loadUnits();
      loadList();
      resolutions.load();
    },
  };
}
