// Moderator tools (docs/protocol.md, "Congress control"): the actions menu of a participant
// (floor, server-side mute, minute-taking, role, removal) and the lobby panel.
//
// `send(cmd, args)` sends a command and reports failures itself; `can(participant, grant)`
// reads a participant's grants.

import { t, roleText } from './i18n.js';
import { $, h, icon, smallButton, replaceKeepingFocus } from './dom.js';

/** Roles every moderator may give; `moderator` and `admin` need an admin (server: authz.rs). */
const ROLES = ['delegate', 'guest_speaker', 'observer'];
const ADMIN_ROLES = ['admin', 'moderator'];

function roleSelect(p, isAdmin, send) {
  const roles = isAdmin ? [...ADMIN_ROLES, ...ROLES] : ROLES;
  const options = roles.map((role) => new Option(roleText(role), role, false, role === p.role));
  const select = h(
    'select',
    { testid: 'role-select', onChange: (ev) => send('set_grants', { participant_id: p.id, role: ev.target.value }) },
    options,
  );
  return h('label', { className: 'field' }, h('span', { text: t('moderation.role') }), select);
}

/**
 * Server-side mute; "allow" lifts it, and in congress mode also lets someone without the
 * floor be heard, so it is offered whenever the participant is not heard.
 */
function muteButtons(p, send) {
  const args = { participant_id: p.id };
  return [
    p.force_muted ? null : smallButton(t('moderation.mute'), 'force-mute', () => send('mute_participant', args), { iconName: 'mic-off' }),
    p.force_muted || !p.heard
      ? smallButton(t('moderation.unmute'), 'force-unmute', () => send('unmute_participant', args), { iconName: 'mic' })
      : null,
  ];
}

function removeButtons(p, send) {
  const remove = (ban) => () => send('remove_participant', { participant_id: p.id, ban });
  return [
    smallButton(t('moderation.remove'), 'remove-participant', remove(false), { iconName: 'leave', className: 'danger-text' }),
    smallButton(t('moderation.ban'), 'ban-participant', remove(true), { iconName: 'ban', className: 'danger-text' }),
    // Revoking ends the session and the invite link itself (a leaked link is dead).
    smallButton(t('moderation.revoke'), 'revoke-invite', () => send('invite_revoke', { participant_id: p.id }), { iconName: 'ban', className: 'danger-text' }),
  ];
}

/**
 * The actions menu for participant `p` as seen by `self`, or null when `self` may not act
 * on them. Moderators and admins can be managed (role, removal) by admins only.
 */
export function participantActions(p, { self, can, send }) {
  if (!can(self, 'moderate') || p.id === self.id) return null;
  const isAdmin = can(self, 'admin');
  const manageable = isAdmin || !(can(p, 'moderate') || can(p, 'admin'));
  const items = [
    can(p, 'speak')
      ? smallButton(t('moderation.giveFloor'), 'give-floor-direct', () => send('queue_give_floor', { participant_id: p.id }), { iconName: 'play' })
      : null,
    muteButtons(p, send),
    // Protokollführung: the minutes grant.
    manageable
      ? smallButton(t(can(p, 'minutes') ? 'moderation.minutesOff' : 'moderation.minutesOn'), 'toggle-minutes',
        () => send('set_grants', { participant_id: p.id, minutes: !can(p, 'minutes') }))
      : null,
    manageable ? roleSelect(p, isAdmin, send) : null,
    manageable ? removeButtons(p, send) : null,
  ];
  const label = t('moderation.actionsFor', { name: p.name });
  return h(
    'details',
    { className: 'participant-actions' },
    h('summary', { className: 'icon-button', title: label, 'aria-label': label, testid: 'participant-actions' }, icon('more')),
    h('div', { className: 'actions-menu' }, items),
  );
}

function lobbyItem(waiting, send) {
  const args = { participant_id: waiting.participant_id };
  return h(
    'li',
    { className: 'lobby-entry', key: waiting.participant_id, testid: 'lobby-entry', dataset: { participantId: waiting.participant_id } },
    h('span', { className: 'queue-name', text: waiting.name ?? t('participant.unknown') }),
    h(
      'span',
      { className: 'queue-actions' },
      smallButton(t('lobby.admit'), 'admit', () => send('admit', args), { className: 'primary' }),
      smallButton(t('lobby.deny'), 'deny', () => send('deny', args)),
    ),
  );
}

/** The lobby panel; `lobby` is `{ enabled, waiting }` for moderators, null for everyone else. */
export function renderLobby(lobby, send) {
  $('lobby-panel').hidden = !lobby;
  if (!lobby) return;
  const waiting = lobby.waiting ?? [];
  $('lobby-toggle').checked = Boolean(lobby.enabled);
  $('lobby-heading').textContent = t('lobby.title', { n: waiting.length });
  replaceKeepingFocus($('lobby-waiting'), waiting.map((w) => lobbyItem(w, send)));
  $('lobby-empty').hidden = waiting.length > 0;
}

/** `rerender` shows the server's state again after a failed switch. */
export function wireLobby(send, rerender) {
  $('lobby-toggle').addEventListener('change', (ev) => send('set_lobby', { enabled: ev.target.checked }).finally(rerender));
}

/**
 * One actions menu open at a time; it closes on a click outside, on Escape, and once an
 * action in it was chosen (the re-render after the server's answer would keep it open).
 */
export function wireActionMenus() {
  const openMenus = () => document.querySelectorAll('details.participant-actions[open]');
  document.addEventListener(
    'toggle',
    (ev) => {
      if (!ev.target.matches?.('details.participant-actions') || !ev.target.open) return;
      for (const other of openMenus()) if (other !== ev.target) other.open = false;
    },
    true,
  );
  document.addEventListener('click', (ev) => {
    const menu = ev.target.closest?.('details.participant-actions');
    const chose = ev.target.closest?.('.actions-menu button');
    for (const open of openMenus()) if (open !== menu || chose) open.open = false;
  });
  document.addEventListener('change', (ev) => {
    ev.target.closest?.('details.participant-actions')?.removeAttribute('open');
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    for (const open of openMenus()) {
      open.open = false;
      open.querySelector('summary')?.focus();
    }
  });
}
