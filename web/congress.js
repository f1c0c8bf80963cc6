// The speaker list (Redeliste), the floor with its countdown, the requests of a delegate, the
// moderator's queue controls and the speech history (docs/protocol.md, "Congress control").
//
// `createCongressPanel({ view, send })` wires the static controls of index.html once and
// returns `{ render, renderHistory }`. `view()` returns what to show:
// `{ self, queue, queueReceivedAt, mode, floorWarned, muted, history, can(grant) }`;
// `send(cmd, args)` sends a command and reports failures itself.

import { t, language } from './i18n.js';
import { $, h, iconButton, smallButton, replaceKeepingFocus } from './dom.js';

/** The countdown turns to its warning look below this (the server warns at 30 s too). */
const WARNING_MS = 30_000;
const TICK_MS = 250;
const EXTEND_SECONDS = 60;
const MAX_LIMIT_S = 3600;

export function kindText(kind) {
  return t(`kind.${kind}`);
}

/** Time left of the floor now, counted down locally from `remaining_ms` when it arrived. */
export function remainingMs(floor, receivedAt, now) {
  if (!floor || floor.remaining_ms == null) return null;
  const elapsed = floor.paused ? 0 : Math.max(0, now - receivedAt);
  return Math.max(0, floor.remaining_ms - elapsed);
}

/** `m:ss`, rounded up so that 0:00 shows only when the time is really up. */
export function formatClock(ms) {
  const total = Math.ceil(Math.max(0, ms) / 1000);
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
}

function formatTime(ms) {
  return new Intl.DateTimeFormat(language(), { hour: '2-digit', minute: '2-digit' }).format(new Date(ms));
}

export function createCongressPanel({ view, send }) {
  let timer = null;

  function tick() {
    const v = view();
    const floor = v.queue?.floor ?? null;
    if (!floor) return;
    const left = remainingMs(floor, v.queueReceivedAt, Date.now());
    const clock = left == null ? t('floor.noLimit') : formatClock(left);
    $('floor-remaining').textContent = floor.paused ? t('floor.paused', { time: clock }) : clock;
    const warning = left != null && (v.floorWarned || floor.warned || left < WARNING_MS);
    $('floor').classList.toggle('warning', warning);
    $('floor').dataset.warning = String(warning);
  }

  /** Runs the countdown only while a limited, unpaused speech is on. */
  function syncTimer(floor) {
    const running = Boolean(floor && !floor.paused && floor.remaining_ms != null);
    if (running && !timer) timer = setInterval(tick, TICK_MS);
    if (!running && timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  function renderFloor(v) {
    const floor = v.queue?.floor ?? null;
    syncTimer(floor);
    $('floor').hidden = !floor;
    $('floor-empty').hidden = Boolean(floor);
    $('floor').dataset.participantId = floor?.participant_id ?? '';
    if (!floor) return;
    const mine = floor.participant_id === v.self?.id;
    $('floor-name').textContent = mine ? t('floor.you') : floor.name;
    $('floor-kind').textContent = kindText(floor.kind);
    $('end-own-floor').hidden = !mine;
    $('floor-self-muted').hidden = !(mine && v.muted);
    $('floor-mod').hidden = !v.can('moderate');
    $('pause-floor').hidden = floor.paused;
    $('resume-floor').hidden = !floor.paused;
    $('extend-floor').disabled = floor.remaining_ms == null;
    tick();
  }

  function renderRequest(v) {
    const canSpeak = v.can('speak');
    $('request-form').hidden = !canSpeak;
    if (!canSpeak) return;
    const open = v.queue?.open ?? true;
    const floor = v.queue?.floor ?? null;
    $('request-floor').disabled = !open;
    // A question goes to the current speaker: there has to be one, and it is not yourself.
    $('request-kind').querySelector('option[value="question"]').disabled = !floor || floor.participant_id === v.self?.id;
    if ($('request-kind').selectedOptions[0]?.disabled) $('request-kind').value = 'contribution';
    const own = (v.queue?.entries ?? [])
      .map((entry, index) => ({ entry, index }))
      .filter(({ entry }) => entry.participant_id === v.self?.id)
      .map(({ entry, index }) => t('queue.place', { n: index + 1, kind: kindText(entry.kind) }));
    let text = own.length ? t('queue.ownPlaces', { places: own.join(', ') }) : '';
    if (!open) text = [text, t('queue.closedHint')].filter(Boolean).join(' ');
    $('own-place').textContent = text;
    $('own-place').hidden = !text;
  }

  function entryActions(entry, index, count, v) {
    const actions = [];
    if (entry.participant_id === v.self?.id) {
      actions.push(smallButton(t('queue.withdraw'), 'withdraw', () => send('withdraw_floor_request', { entry_id: entry.id })));
    }
    if (v.can('moderate')) {
      const move = (position) => () => send('queue_move', { entry_id: entry.id, position });
      const upLabel = t('queue.moveUp', { name: entry.name });
      const downLabel = t('queue.moveDown', { name: entry.name });
      actions.push(
        iconButton('play', t('queue.giveFloorTo', { name: entry.name }), 'give-floor', () => send('queue_give_floor', { entry_id: entry.id })),
        Object.assign(iconButton('up', upLabel, 'move-up', move(index - 1)), { disabled: index === 0 }),
        Object.assign(iconButton('down', downLabel, 'move-down', move(index + 1)), { disabled: index === count - 1 }),
        iconButton('close', t('queue.remove', { name: entry.name }), 'remove-entry', () => send('queue_remove', { entry_id: entry.id })),
      );
    }
    return actions.length ? h('span', { className: 'queue-actions' }, actions) : null;
  }

  function queueItem(entry, index, count, v) {
    const mine = entry.participant_id === v.self?.id;
    return h(
      'li',
      {
        className: `queue-entry${mine ? ' mine' : ''}`,
        key: `entry-${entry.id}`,
        testid: 'queue-entry',
        dataset: { entryId: String(entry.id), participantId: entry.participant_id, kind: entry.kind },
      },
      h('span', { className: 'queue-pos', text: `${index + 1}.` }),
      h(
        'span',
        { className: 'queue-main' },
        h('span', { className: 'queue-name', text: mine ? `${entry.name} ${t('participants.you')}` : entry.name }),
        h('span', { className: `kind kind-${entry.kind}`, text: kindText(entry.kind) }),
      ),
      entryActions(entry, index, count, v),
    );
  }

  function renderQueue(v) {
    const entries = v.queue?.entries ?? [];
    replaceKeepingFocus($('queue'), entries.map((entry, i) => queueItem(entry, i, entries.length, v)));
    $('queue-empty').hidden = entries.length > 0;
  }

  function renderStatus(v) {
    const queue = v.queue;
    const limit = queue?.time_limit_s ? t('queue.limit', { time: formatClock(queue.time_limit_s * 1000) }) : t('queue.noLimit');
    $('queue-status').textContent = queue ? `${queue.open ? t('queue.open') : t('queue.closed')} · ${limit}` : '';
    $('queue-status').classList.toggle('closed', queue ? !queue.open : false);
    $('mode-note').textContent = v.mode ? t(`mode.${v.mode}Note`) : '';
  }

  function renderModeratorSettings(v) {
    const moderate = v.can('moderate');
    $('queue-moderation').hidden = !moderate;
    if (!moderate) return;
    $('give-floor-next').disabled = !(v.queue?.entries?.length);
    $('queue-open').checked = v.queue?.open ?? true;
    if (document.activeElement !== $('time-limit')) $('time-limit').value = v.queue?.time_limit_s ?? '';
    for (const button of document.querySelectorAll('[data-mode]')) {
      button.setAttribute('aria-pressed', String(button.dataset.mode === v.mode));
    }
  }

  /** The session bar: opened/closed, the agenda item under discussion; the chair's controls. */
  function renderSession(v) {
    const agenda = v.agenda ?? [];
    const session = v.session ?? {};
    const moderate = v.can('moderate');
    $('session-bar').hidden = agenda.length === 0 && !session.opened_at_ms && !moderate;
    const status = session.closed_at_ms
      ? t('session.closedAt', { time: formatTime(session.closed_at_ms) })
      : session.opened_at_ms ? t('session.openedAt', { time: formatTime(session.opened_at_ms) }) : t('session.notOpen');
    $('session-status').textContent = status;
    const calls = session.agenda_calls ?? [];
    const current = calls.length ? calls[calls.length - 1].item : null;
    $('agenda-current').textContent = current === null ? '' : t('session.current', { number: current + 1, title: agenda[current] ?? '' });
    $('session-moderation').hidden = !moderate;
    if (!moderate) return;
    const open = Boolean(session.opened_at_ms) && !session.closed_at_ms;
    $('session-open').hidden = Boolean(session.opened_at_ms);
    $('session-close').hidden = !open;
    $('agenda-form').hidden = !open || agenda.length === 0;
    const select = $('agenda-select');
    if (document.activeElement !== select) {
      const chosen = select.value;
      select.replaceChildren(...agenda.map((title, i) => h('option', { value: String(i), text: t('session.itemOption', { number: i + 1, title }) })));
      select.value = chosen || String(current === null ? 0 : Math.min(current + 1, agenda.length - 1));
    }
  }

  function render() {
    const v = view();
    renderSession(v);
    renderStatus(v);
    renderFloor(v);
    renderRequest(v);
    renderQueue(v);
    renderModeratorSettings(v);
  }

  function historyItem(speech) {
    const ended = t(`speech.${speech.ended}`);
    return h(
      'li',
      { className: 'history-entry', testid: 'history-entry', dataset: { participantId: speech.participant_id, kind: speech.kind } },
      h('span', { className: 'history-time', text: formatTime(speech.started_at_ms) }),
      h('span', { className: 'queue-name', text: speech.name }),
      h('span', { className: `kind kind-${speech.kind}`, text: kindText(speech.kind) }),
      h('span', { className: 'history-duration', text: `${formatClock(speech.duration_ms)} · ${ended}` }),
    );
  }

  function renderHistory() {
    const speeches = view().history ?? [];
    $('history').replaceChildren(...speeches.map(historyItem));
    $('history-empty').hidden = speeches.length > 0;
    $('history-count').textContent = speeches.length ? `(${speeches.length})` : '';
  }

  function setTimeLimit(ev) {
    ev.preventDefault();
    const raw = $('time-limit').value.trim();
    const seconds = raw === '' ? null : Math.min(MAX_LIMIT_S, Math.max(1, Math.round(Number(raw))));
    if (seconds !== null && !Number.isFinite(seconds)) return;
    send('queue_set_time_limit', { seconds });
  }

  function wire() {
    $('request-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      send('request_floor', { kind: $('request-kind').value });
    });
    $('request-point-of-order').addEventListener('click', () => send('request_floor', { kind: 'point_of_order' }));
    $('end-own-floor').addEventListener('click', () => send('queue_end_floor'));
    $('end-floor').addEventListener('click', () => send('queue_end_floor'));
    $('give-floor-next').addEventListener('click', () => send('queue_give_floor'));
    $('pause-floor').addEventListener('click', () => send('queue_pause'));
    $('resume-floor').addEventListener('click', () => send('queue_resume'));
    $('extend-floor').addEventListener('click', () => send('queue_extend', { seconds: EXTEND_SECONDS }));
    // On failure the next render shows the server's state again.
    $('queue-open').addEventListener('change', (ev) => send('queue_set_open', { open: ev.target.checked }).finally(render));
    $('time-limit-form').addEventListener('submit', setTimeLimit);
    $('session-open').addEventListener('click', () => send('session_open'));
    $('session-close').addEventListener('click', () => send('session_close'));
    $('agenda-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      send('agenda_call', { item: Number($('agenda-select').value) });
    });
    for (const button of document.querySelectorAll('[data-mode]')) {
      button.addEventListener('click', () => send('set_mode', { mode: button.dataset.mode }));
    }
  }

  wire();
  return { render, renderHistory, tick };
}
