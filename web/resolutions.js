// Resolutions (docs/reports.md): on a member's start page the circulations of their groups
// (vote yes / no / abstain, or object to the procedure), the resolutions register
// (Beschlussbuch: search, CSV and PDF) and the attachments of their rooms' agendas; on the
// admin page the form that puts a motion to a group, the running circulations (withdraw),
// and an event's attachments (upload a PDF per agenda item, delete). Every button is one
// command of the reports plugin, `POST /api/org/reports`, or its upload and downloads.

import { $, h, smallButton, replaceKeepingFocus, dateTimeText, msFromLocalInput } from './dom.js';
import { t, language } from './i18n.js';
import { apiError, orgCommand } from './account.js';

const reports = (body) => orgCommand('reports', body);

/** The outcome of a circulation in words. */
function outcomeText(c) {
  const o = c.outcome;
  if (!o) return t('circ.running', { voted: c.voted, of: c.voters.length, deadline: dateTimeText(c.deadline_ms) });
  const counts = t('circ.counts', { yes: o.yes, no: o.no, abstain: o.abstain });
  const state = t(`circ.state.${o.state}`);
  return [state, counts, c.number ? t('circ.number', { number: c.number }) : null].filter(Boolean).join(' · ');
}

function downloadLink(path, params, text, testid) {
  const q = new URLSearchParams({ ...params, lang: language() });
  return h('a', { className: 'button small', download: '', testid, href: `/api/org/reports/download/${path}?${q}`, text });
}

/** The start page's parts. `rooms()` gives the member's rooms ({ id, name }). */
export function startResolutions({ rooms }) {
  let circulations = [];
  let attachments = []; // [{ room, name, items: [..], list: [...] }]

  const renderCirculations = () => {
    $('start-circulations-title').hidden = circulations.length === 0;
    replaceKeepingFocus($('start-circulations'), circulations.map((c) => {
      const open = !c.outcome && c.eligible;
      const choices = ['yes', 'no', 'abstain', ...(c.objection ? ['object'] : [])];
      return h('li', { className: 'result circulation', key: c.id, testid: 'circulation', dataset: { id: c.id } },
        h('div', {},
          h('strong', { text: `${c.id} · ${c.title}` }),
          c.text ? h('p', { className: 'circulation-text', text: c.text }) : null,
          h('div', { className: 'muted', text: c.rule[language()] ?? c.rule.de }),
          h('div', { className: 'muted', testid: 'circulation-status', text: outcomeText(c) }),
          c.mine ? h('div', { testid: 'circulation-mine', text: t('circ.mine', { vote: t(`circ.vote.${c.mine}`) }) }) : null),
        open && !c.mine
          ? h('div', { className: 'button-row' }, choices.map((v) => smallButton(t(`circ.vote.${v}`), `circulation-${v}`, () => vote(c, v), { className: v === 'yes' ? 'primary' : '' })))
          : null);
    }));
  };

  const vote = async (c, v) => {
    $('start-error').textContent = '';
    if (v === 'object' && !confirm(t('circ.objectConfirm'))) return;
    try {
      await reports({ action: 'circulation_vote', id: c.id, vote: v });
    } catch (e) { $('start-error').textContent = e.message; }
    await loadCirculations();
    await search();
  };

  const loadCirculations = async () => {
    try {
      circulations = (await reports({ action: 'circulations' })).circulations;
    } catch { circulations = []; }
    renderCirculations();
  };

  // The register.
  const query = () => {
    const q = { q: $('register-q').value.trim() };
    if ($('register-body').value.trim()) q.body = $('register-body').value.trim();
    if ($('register-year').value) q.year = Number($('register-year').value);
    return q;
  };
  const search = async () => {
    const q = query();
    const params = Object.fromEntries(Object.entries(q).map(([k, v]) => [k, String(v)]));
    $('register-links').replaceChildren(
      downloadLink('register.pdf', params, 'PDF', 'register-pdf'),
      downloadLink('register.csv', params, 'CSV', 'register-csv'));
    try {
      const { entries } = await reports({ action: 'register', ...q });
      $('register-empty').hidden = entries.length > 0;
      replaceKeepingFocus($('register-list'), entries.map((e) => h('li', { className: 'result', key: e.number, testid: 'register-entry', dataset: { number: e.number } },
        h('div', {},
          h('strong', { text: `${e.number} · ${e.title}` }),
          e.text ? h('p', { className: 'circulation-text', text: e.text }) : null,
          h('div', { className: 'muted', text: `${dateTimeText(e.date_ms)} · ${t('circ.state.adopted')} · ${t('circ.counts', { yes: e.yes, no: e.no, abstain: e.abstain })}` })),
        e.source.kind === 'session'
          ? downloadLink('minutes.pdf', { room: e.source.room, version: String(e.source.minutes_version) }, t('register.minutes'), 'register-minutes')
          : null)));
    } catch (e) { $('register-empty').hidden = false; $('register-empty').textContent = e.message; }
  };
  $('register-form').addEventListener('submit', (ev) => { ev.preventDefault(); search(); });

  // Attachments of the member's rooms.
  const renderAttachments = () => {
    const rows = attachments.flatMap((a) => a.list.map((f) => h('li', { className: 'start-room', key: `${a.room}|${f.id}`, testid: 'start-attachment' },
      h('div', {}, h('strong', { text: f.name }),
        h('span', { className: 'muted', text: ` · ${a.name}${f.item ? ` · ${t('attachments.itemTitle', { n: f.item, title: a.items[f.item - 1] ?? '' })}` : ''}` })),
      downloadLink('attachment.pdf', { room: a.room, id: f.id }, 'PDF', 'start-attachment-pdf'))));
    $('start-attachments-title').hidden = rows.length === 0;
    replaceKeepingFocus($('start-attachments'), rows);
  };
  const loadAttachments = async () => {
    const found = await Promise.all(rooms().map((r) => reports({ action: 'attachments', room: r.id })
      .then((a) => ({ room: r.id, name: r.name, items: a.agenda, list: a.attachments }), () => null)));
    attachments = found.filter(Boolean);
    renderAttachments();
  };

  return {
    load() { loadCirculations(); search(); loadAttachments(); },
    render() { renderCirculations(); renderAttachments(); search(); },
  };
}

/** The admin page's parts: circulations, and an event's attachments. */
export function adminResolutions() {
  let running = [];
  const message = (text) => { $('circ-message').textContent = text ?? ''; };

  const renderRunning = () => {
    replaceKeepingFocus($('circ-list'), running.map((c) => h('li', { className: 'result', key: c.id, testid: 'admin-circulation', dataset: { id: c.id } },
      h('div', {}, h('strong', { text: `${c.id} · ${c.title}` }), h('div', { className: 'muted', text: `${c.group} · ${outcomeText(c)}` })),
      c.outcome ? null : smallButton(t('circ.withdraw'), 'circulation-withdraw', () => withdraw(c)))));
  };
  const load = async () => {
    try {
      running = (await reports({ action: 'circulations' })).circulations.filter((c) => c.administers);
    } catch (e) { message(e.message); }
    renderRunning();
  };
  const withdraw = async (c) => {
    message('');
    try {
      await reports({ action: 'withdraw_circulation', id: c.id });
      message(t('circ.withdrawn', { id: c.id }));
    } catch (e) { message(e.message); }
    load();
  };
  $('circ-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    message('');
    const body = {
      action: 'circulate',
      title: $('circ-title').value.trim(),
      text: $('circ-text').value.trim(),
      group: $('circ-group').value.trim(),
      deadline_ms: msFromLocalInput($('circ-deadline').value) ?? 0,
      quorum_percent: Number($('circ-quorum').value || 50),
      majority: { rule: $('circ-majority').value },
      objection: $('circ-objection').checked,
    };
    if ($('circ-unit').value.trim()) body.unit = $('circ-unit').value.trim();
    if ($('circ-body').value.trim()) body.body = $('circ-body').value.trim();
    try {
      const { circulation } = await reports(body);
      message(t('circ.created', { id: circulation.id, n: circulation.voters.length }));
      $('circ-form').reset();
    } catch (e) { message(e.message); }
    load();
  });

  // An event's attachments.
  let room = null;
  const attMessage = (text) => { $('attachments-message').textContent = text ?? ''; };
  const loadAttachments = async () => {
    if (!room) return;
    try {
      const a = await reports({ action: 'attachments', room });
      replaceKeepingFocus($('attachments-list'), a.attachments.map((f) => h('li', { className: 'result', key: f.id, testid: 'attachment-item', dataset: { id: f.id } },
        h('div', {}, h('strong', { text: f.name }),
          h('span', { className: 'muted', text: ` · ${f.item ? t('attachments.itemShort', { n: f.item }) : t('attachments.session')} · ${Math.ceil(f.size / 1024)} KiB` })),
        downloadLink('attachment.pdf', { room, id: f.id }, 'PDF', 'attachment-pdf'),
        smallButton(t('attachments.delete'), 'attachment-delete', () => remove(f)))));
    } catch (e) { attMessage(e.message); }
  };
  const remove = async (f) => {
    attMessage('');
    try { await reports({ action: 'delete_attachment', room, id: f.id }); } catch (e) { attMessage(e.message); }
    loadAttachments();
  };
  $('attachments-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    attMessage('');
    const file = $('attachments-file').files?.[0];
    if (!file) return void attMessage(t('attachments.noFile'));
    const params = new URLSearchParams({ room, name: file.name });
    if ($('attachments-item').value) params.set('item', $('attachments-item').value);
    const resp = await fetch(`/api/org/reports/upload/attachment?${params}`, {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/pdf' }, body: await file.arrayBuffer(),
    }).catch(() => null);
    if (!resp) return void attMessage(t('error.connection_failed'));
    if (resp.status === 413) return void attMessage(t('org.error.too_large'));
    const answer = await resp.json().catch(() => ({}));
    if (!resp.ok) return void attMessage(apiError(answer));
    attMessage(t('attachments.uploaded', { name: answer.attachment.name }));
    $('attachments-form').reset();
    loadAttachments();
  });

  return {
    load,
    /** Show the attachments of the open event (`detail` as `events get` answered). */
    event(detail) {
      const changed = room !== detail.room;
      room = detail.room;
      if (changed) {
        attMessage('');
        $('attachments-item').replaceChildren(
          h('option', { value: '', text: t('attachments.session') }),
          ...detail.agenda.map((title, i) => h('option', { value: String(i + 1), text: `${i + 1}. ${title}` })));
        loadAttachments();
      }
    },
    render: renderRunning,
  };
}
