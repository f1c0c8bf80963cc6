// The minute-taker's panel (docs/reports.md, "Notes"): whoever holds the *minutes* grant
// (Protokollführung) writes notes for an agenda item or the session as a whole; the notes
// of everyone with the grant are listed. Commands and events of the reports plugin
// (`ns: reports`); the server checks the grant.

import { $, h, smallButton, replaceKeepingFocus } from './dom.js';
import { t, errorText, onLanguageChange } from './i18n.js';
import { postJson, apiError } from './account.js';

/**
 * `view()` gives { can(grant), agenda, session, room }; `request(body)` sends a reports
 * command. The chair approves the minutes over REST (a signed-in member's session).
 * Returns { render, handleEvent, reset }.
 */
export function createNotesPanel({ view, request }) {
  let notes = new Map();
  let loaded = false;

  const fail = (e) => { $('notes-error').textContent = e?.code === 'plugin_error' ? (e.message ?? '') : errorText(e?.code ?? 'unknown'); };

  const load = () => {
    loaded = true;
    request({ action: 'notes' })
      .then((r) => { notes = new Map((r.notes ?? []).map((n) => [n.id, n])); render(); })
      .catch((e) => { loaded = false; fail(e); });
  };

  function render() {
    const v = view();
    const allowed = v.can('minutes');
    $('notes-panel').hidden = !allowed;
    if (!allowed) return;
    if (!loaded) load();
    const agenda = v.agenda ?? [];
    const select = $('note-item');
    if (document.activeElement !== select) {
      const calls = v.session?.agenda_calls ?? [];
      const current = calls.length ? String(calls[calls.length - 1].item + 1) : '';
      const chosen = select.dataset.chosen ?? current;
      select.replaceChildren(
        h('option', { value: '', text: t('notes.general') }),
        ...agenda.map((title, i) => h('option', { value: String(i + 1), text: t('session.itemOption', { number: i + 1, title }) })),
      );
      select.value = chosen;
    }
    $('notes-approve').hidden = !v.can('moderate');
    const list = [...notes.values()].sort((a, b) => a.id - b.id);
    $('notes-empty').hidden = list.length > 0;
    replaceKeepingFocus($('notes-list'), list.map((n) => h('li', { className: 'note', key: String(n.id), testid: 'note', dataset: { id: String(n.id) } },
      h('div', { className: 'muted', text: `${n.item ? t('session.itemOption', { number: n.item, title: agenda[n.item - 1] ?? '' }) : t('notes.general')} · ${n.by}` }),
      h('p', { text: n.text }),
      smallButton(t('notes.delete'), 'note-delete', () => request({ action: 'delete_note', id: n.id }).catch(fail)))));
  }

  $('notes-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    $('notes-error').textContent = '';
    const text = $('note-text').value.trim();
    if (!text) return;
    const item = $('note-item').value ? Number($('note-item').value) : null;
    request({ action: 'note', item, text })
      .then(() => { $('note-text').value = ''; })
      .catch(fail);
  });
  $('notes-approve').addEventListener('click', async () => {
    $('notes-error').textContent = '';
    const room = view().room?.id;
    const r = await postJson('/api/org/reports', { action: 'approve', room }).catch(() => null);
    if (!r) return void ($('notes-error').textContent = t('error.connection_failed'));
    $('notes-error').textContent = r.ok ? t('events.approved', { version: r.body.version }) : apiError(r.body);
  });
  $('note-item').addEventListener('change', (ev) => { ev.target.dataset.chosen = ev.target.value; });
  onLanguageChange(render);

  return {
    render,
    handleEvent(body) {
      if (body?.type === 'note') notes.set(body.note.id, body.note);
      if (body?.type === 'note_deleted') notes.delete(body.id);
      render();
    },
    reset() {
      notes = new Map();
      loaded = false;
    },
  };
}
