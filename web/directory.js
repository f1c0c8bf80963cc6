// The member directory (docs/directory.md): search by name, number or group; a profile
// with what the member's privacy setting lets the viewer see; "write" and "call" open the
// conversation room of the two members (the same room each time) — "write" enters it with
// camera and microphone off, "call" with them on. Your own profile sets who finds you. An
// admin over a member may erase them (GDPR, `POST /api/admin/erase`).

import { $, h, smallButton, replaceKeepingFocus } from './dom.js';
import { t, onLanguageChange } from './i18n.js';
import { postJson, apiError, orgCommand } from './account.js';

const directory = (body) => orgCommand('directory', body);

/**
 * Wires the directory screen. `me()` is the signed-in member; `enter(roomId, { media })`
 * enters a room; `back()` returns to the start page. Returns `open()`.
 */
export function createDirectory({ showScreen, me, enter, back }) {
  let results = [];
  let more = false;
  let profile = null;

  const error = (text) => { $('directory-error').textContent = text ?? ''; };

  const renderResults = () => {
    $('directory-status').textContent = results.length || more ? t(more ? 'directory.found.more' : 'directory.found', { n: results.length }) : t('directory.none');
    replaceKeepingFocus($('directory-results'), results.map((m) => h('li', { className: 'result', key: m.number, testid: 'directory-result', dataset: { number: m.number } },
      h('div', {}, h('strong', { text: m.name }), h('span', { className: 'muted', text: ` · ${m.unit_name}` })),
      smallButton(t('directory.show'), 'directory-show', () => showProfile(m.number)))));
  };

  const renderProfile = () => {
    const box = $('directory-profile');
    box.hidden = !profile;
    if (!profile) return;
    const self = profile.number === me()?.number;
    const rows = [
      [t('directory.number'), profile.number],
      [t('directory.unit'), profile.unit_name],
      [t('directory.groups'), profile.groups.join(', ') || '–'],
      profile.email ? [t('directory.email'), profile.email] : null,
      profile.phone ? [t('directory.phone'), profile.phone] : null,
    ].filter(Boolean);
    const visibility = self ? h('label', { className: 'field' },
      h('span', { text: t('directory.visibility') }),
      h('select', { testid: 'directory-visibility', onChange: (ev) => setVisibility(ev.target.value) },
        ['', 'members', 'unit', 'admins'].map((v) => h('option', { value: v, text: t(`directory.visibility.${v || 'default'}`), selected: (profile.visibility ?? '') === v })))) : null;
    box.replaceChildren(
      h('h2', { testid: 'profile-name', text: profile.name }),
      h('dl', { className: 'profile' }, rows.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])),
      visibility,
      self ? null : h('div', { className: 'button-row' },
        smallButton(t('directory.write'), 'directory-write', () => contact(false), { iconName: 'chat' }),
        smallButton(t('directory.call'), 'directory-call', () => contact(true), { iconName: 'cam', className: 'primary' })),
      // Full sight of someone else: an admin over them, who may erase them.
      !self && profile.status ? h('div', { className: 'button-row' },
        smallButton(t('directory.erase'), 'directory-erase', eraseMember, { iconName: 'trash', className: 'danger' })) : null);
  };

  const eraseMember = async () => {
    if (!window.confirm(t('directory.eraseConfirm', { name: profile.name }))) return;
    error('');
    const r = await postJson('/api/admin/erase', { number: profile.number }).catch(() => null);
    if (!r) return void error(t('error.connection_failed'));
    if (!r.ok) return void error(apiError(r.body));
    $('directory-status').textContent = t('directory.erased', { name: profile.name });
    results = results.filter((m) => m.number !== profile.number);
    profile = null;
    renderProfile();
    replaceKeepingFocus($('directory-results'), []);
    search();
  };

  const search = async () => {
    error('');
    const body = { action: 'search', query: $('directory-query').value.trim() };
    if ($('directory-group').value.trim()) body.group = $('directory-group').value.trim();
    try {
      ({ members: results, more } = await directory(body));
      renderResults();
    } catch (e) { error(e.message); }
  };

  const showProfile = async (number) => {
    error('');
    try {
      profile = (await directory({ action: 'profile', number })).member;
      renderProfile();
    } catch (e) { error(e.message); }
  };

  const setVisibility = async (value) => {
    try {
      await directory({ action: 'set_visibility', visibility: value || null });
      profile = { ...profile, visibility: value || null };
    } catch (e) { error(e.message); }
  };

  const contact = async (withMedia) => {
    error('');
    try {
      const { room } = await directory({ action: 'contact', number: profile.number });
      enter(room, { media: withMedia });
    } catch (e) { error(e.message); }
  };

  $('directory-form').addEventListener('submit', (ev) => { ev.preventDefault(); search(); });
  $('directory-back').addEventListener('click', back);
  onLanguageChange(() => { if (results.length) renderResults(); renderProfile(); });

  return {
    open() {
      error('');
      showScreen('directory');
      search();
    },
  };
}
