// The chat (plugin namespace `chat`, plugins/chat/src/lib.rs): room messages, moderator
// announcements, private conversations, and the moderators' tools (delete a room message,
// switch the chat off and on, mute one person's chat).
//
// `createChatPanel({ view, request })` builds the panel into #chat-panel once and returns
// `{ handleEvent, render, reset, openConversation, messageButton, snapshot }`.
// `view()` returns `{ self, participants, joined, can(participant, grant) }`;
// `request(body)` sends a chat command and resolves with its result, or rejects with a
// ProtocolError (`code`, and `reason` for `plugin_error`).
//
// Unlike the other panels the chat keeps its own state: its `history` event can arrive before
// the join answer, before app.js knows the room. Messages are kept by id; a conversation
// ("room" or a partner's participant id) is derived from each message when needed, since the
// own id may not be known yet when the history arrives. Unread counts compare message ids
// with the highest id seen per conversation, so a reconnect (which sends the history again)
// does not count old messages twice.

import { t, errorText, language } from './i18n.js';
import { $, h, icon, iconButton, smallButton, replaceKeepingFocus } from './dom.js';

/** The room conversation's key; private ones use the partner's participant id ("p-…"). */
export const ROOM = 'room';
/** The server's default `chat.max_length`; it does not tell clients its setting (`too_long` does). */
const MAX_LENGTH = 2000;
/** The counter shows up this close to the limit. */
const COUNTER_FROM = MAX_LENGTH - 200;
/** Plugin reasons with their own text; anything else gets `chat.error.unknown`. */
const REASONS = new Set(['empty', 'too_long', 'rate_limited', 'chat_disabled', 'muted', 'not_found', 'bad_recipient']);

/** Characters as the server counts them (Unicode scalar values of the trimmed text). */
const charCount = (text) => [...text.trim()].length;

function formatTime(ms) {
  return new Intl.DateTimeFormat(language(), { hour: '2-digit', minute: '2-digit' }).format(new Date(ms));
}

/** The i18n key and params for a failed chat command (`action`: what was tried). */
function errorFor(err, action) {
  const code = err?.code ?? 'internal';
  if (code !== 'plugin_error') return { code };
  const reason = err.reason ?? '';
  if (reason === 'not_found' && action === 'delete') return { key: 'chat.error.messageGone' };
  if (REASONS.has(reason)) return { key: `chat.error.${reason}` };
  return { key: 'chat.error.unknown', params: { reason } };
}

function freshState() {
  return {
    messages: new Map(), // id → message as the server sent it, everything visible to us
    enabled: true,
    muted: false,
    historyReceived: false,
    /** Messages up to this id (the first history of this session) count as read. */
    baseline: null,
    readUpTo: new Map(), // conversation → highest message id seen in it
    names: new Map(), // participant id → name, also for partners who left
    open: false,
    active: ROOM,
    drafts: new Map(), // conversation → unfinished text
    announce: false,
    sending: false,
    error: null, // { key, params } or { code }
    /** Whom this moderator muted during this page's life: the server tells nobody else. */
    mutedByMe: new Set(),
  };
}

export function createChatPanel({ view, request }) {
  let chat = freshState();

  // -------------------------------------------------------------------------------------------
  // The panel's fixed parts, built once; render() fills in texts and state.

  const heading = h('h2', { id: 'chat-heading' });
  const closeButton = iconButton('close', '', 'chat-close', () => setOpen(false));
  const enabledToggle = h('input', { type: 'checkbox', testid: 'chat-enabled-toggle', onChange: (ev) => setEnabled(ev.target.checked) });
  const enabledLabel = h('span');
  const muteSelect = h('select', { testid: 'chat-mute-select' });
  const muteSelectLabel = h('span');
  const muteButton = h('button', { type: 'submit', className: 'button small', testid: 'chat-mute' });
  const mutedList = h('ul', { className: 'chat-muted-list', testid: 'chat-muted-list' });
  const modSummary = h('summary', { testid: 'chat-moderation-open' });
  const moderation = h(
    'details',
    { className: 'settings chat-moderation', testid: 'chat-moderation' },
    modSummary,
    h('label', { className: 'check' }, enabledToggle, enabledLabel),
    h(
      'form',
      {
        className: 'inline-form',
        novalidate: true,
        onSubmit: (ev) => {
          ev.preventDefault();
          if (muteSelect.value) setMuted(muteSelect.value, true);
        },
      },
      h('label', { className: 'field' }, muteSelectLabel, muteSelect),
      muteButton,
    ),
    mutedList,
  );
  const tabs = h('div', { className: 'chat-conversations', role: 'group', testid: 'chat-conversations' });
  const recipient = h('select', {
    className: 'chat-recipient',
    testid: 'chat-recipient',
    onChange: (ev) => {
      const id = ev.target.value;
      ev.target.value = '';
      if (id) openConversation(id);
    },
  });
  const partnerNote = h('p', { className: 'chat-private-note', testid: 'chat-private-note' });
  const list = h('ol', { className: 'chat-messages', role: 'log', testid: 'chat-messages', tabindex: '0' });
  const empty = h('p', { className: 'muted chat-empty', testid: 'chat-empty' });
  const note = h('p', { className: 'chat-note', testid: 'chat-note', role: 'status' });
  const input = h('textarea', {
    className: 'chat-input',
    testid: 'chat-input',
    rows: 2,
    onInput: () => {
      chat.drafts.set(chat.active, input.value);
      renderComposer();
    },
    onKeydown: (ev) => {
      // Enter sends, Shift+Enter makes a new line (and nothing while an IME composes).
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    },
  });
  const announceToggle = h('input', {
    type: 'checkbox',
    testid: 'chat-announce',
    onChange: (ev) => {
      chat.announce = ev.target.checked;
      renderComposer();
    },
  });
  const announceLabel = h('span');
  const announceRow = h('label', { className: 'check chat-announce' }, announceToggle, announceLabel);
  const counter = h('span', { className: 'chat-counter', testid: 'chat-counter', 'aria-live': 'polite' });
  const sendLabel = h('span');
  const sendButton = h('button', { type: 'submit', className: 'button small primary', testid: 'chat-send' }, icon('send'), sendLabel);
  const errorLine = h('p', { className: 'error-text chat-error', testid: 'chat-error', role: 'alert' });
  const form = h(
    'form',
    {
      className: 'chat-compose',
      testid: 'chat-compose',
      novalidate: true,
      onSubmit: (ev) => {
        ev.preventDefault();
        send();
      },
    },
    note,
    input,
    errorLine,
    h('div', { className: 'chat-compose-bar' }, announceRow, counter, sendButton),
  );

  const panel = $('chat-panel');
  panel.append(
    h('div', { className: 'chat-head' }, heading, closeButton),
    moderation,
    h('div', { className: 'chat-nav' }, tabs, recipient),
    partnerNote,
    list,
    empty,
    form,
  );
  panel.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape') return;
    setOpen(false);
    $('chat-toggle').focus();
  });
  $('chat-toggle').addEventListener('click', () => setOpen(!chat.open));

  // -------------------------------------------------------------------------------------------
  // Derived state

  const selfId = () => view().self?.id ?? null;

  function conversationOf(m, me = selfId()) {
    if (m.to == null) return ROOM;
    return m.from === me ? m.to : m.from;
  }

  /** Messages of every conversation, oldest first: Map conversation → [message]. */
  function byConversation() {
    const me = selfId();
    const out = new Map([[ROOM, []]]);
    for (const m of [...chat.messages.values()].sort((a, b) => a.id - b.id)) {
      const c = conversationOf(m, me);
      if (!out.has(c)) out.set(c, []);
      out.get(c).push(m);
    }
    return out;
  }

  function unreadIn(messages) {
    const me = selfId();
    const conversation = messages.length ? conversationOf(messages[0], me) : null;
    const seen = Math.max(chat.baseline ?? 0, chat.readUpTo.get(conversation) ?? 0);
    return messages.filter((m) => m.id > seen && m.from !== me).length;
  }

  function nameOf(id) {
    const p = view().participants.find((x) => x.id === id);
    return p?.name ?? chat.names.get(id) ?? t('participant.unknown');
  }

  const isPresent = (id) => view().participants.some((p) => p.id === id);
  const canModerate = () => {
    const v = view();
    return Boolean(v.self) && v.can(v.self, 'moderate');
  };

  /** Conversations to list: the room, everyone with messages, and the open one. */
  function conversationKeys(grouped) {
    const last = (c) => grouped.get(c)?.at(-1)?.id ?? Infinity; // the just-opened one goes last
    const keys = [...grouped.keys()].filter((c) => c !== ROOM);
    if (chat.active !== ROOM && !keys.includes(chat.active)) keys.push(chat.active);
    keys.sort((a, b) => last(a) - last(b));
    return [ROOM, ...keys];
  }

  // -------------------------------------------------------------------------------------------
  // Events (plugins/chat/src/lib.rs, `ChatEvent`)

  function remember(m) {
    chat.messages.set(m.id, m);
    if (m.from_name) chat.names.set(m.from, m.from_name);
  }

  function takeState({ enabled, muted }) {
    chat.enabled = Boolean(enabled);
    chat.muted = Boolean(muted);
    // An error the new state explains (or made obsolete) goes.
    if (['chat.error.chat_disabled', 'chat.error.muted'].includes(chat.error?.key)) chat.error = null;
  }

  const EVENTS = {
    message(body) {
      if (body.message) remember(body.message);
    },
    deleted(body) {
      chat.messages.delete(body.message_id);
    },
    state(body) {
      takeState(body);
    },
    history(body) {
      // The whole visible history again (join, reconnect): it replaces what we had, which
      // also drops messages deleted while the connection was down.
      chat.messages = new Map();
      for (const m of body.messages ?? []) remember(m);
      takeState(body);
      if (chat.baseline === null) chat.baseline = Math.max(0, ...chat.messages.keys());
      chat.historyReceived = true;
    },
  };

  /** A `plugin` event of namespace `chat`: its `body`. */
  function handleEvent(body) {
    const handler = body && Object.hasOwn(EVENTS, body.type) ? EVENTS[body.type] : null;
    if (!handler) {
      console.info('plenum: ignoring chat event', body?.type);
      return;
    }
    handler(body);
    render();
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  async function run(body) {
    try {
      return { result: await request(body) };
    } catch (err) {
      chat.error = errorFor(err, body.action);
      render();
      return { error: chat.error };
    }
  }

  async function send() {
    if (chat.sending || input.disabled) return;
    const text = input.value;
    const conversation = chat.active;
    if (!text.trim()) {
      chat.error = { key: 'chat.error.empty' };
      render();
      return;
    }
    const announce = conversation === ROOM && chat.announce && canModerate();
    const body = announce ? { action: 'announce', text } : { action: 'send', text };
    if (conversation !== ROOM) body.to = conversation;
    chat.sending = true;
    chat.error = null;
    render();
    const { error } = await run(body);
    chat.sending = false;
    if (!error) {
      chat.drafts.delete(conversation);
      if (chat.active === conversation) input.value = '';
      chat.announce = false;
    }
    render();
    if (chat.open) input.focus();
  }

  async function deleteMessage(id) {
    chat.error = null;
    await run({ action: 'delete', message_id: id });
  }

  async function setEnabled(enabled) {
    chat.error = null;
    // Shown at once: a render for any other event while the request is under way must not
    // flip the toggle back. The `state` event has the truth; after a failure the toggle shows
    // the previous state again.
    const before = chat.enabled;
    chat.enabled = enabled;
    const { error } = await run({ action: 'set_enabled', enabled });
    if (error) chat.enabled = before;
    render();
  }

  async function setMuted(participantId, muted) {
    chat.error = null;
    const { error } = await run({ action: 'mute', participant_id: participantId, muted });
    if (error) return;
    if (muted) chat.mutedByMe.add(participantId);
    else chat.mutedByMe.delete(participantId);
    if (participantId !== selfId()) chat.names.set(participantId, nameOf(participantId));
    render();
  }

  // -------------------------------------------------------------------------------------------
  // Opening and switching

  function setOpen(open) {
    chat.open = open;
    render();
    if (open) input.focus();
  }

  function switchTo(conversation) {
    if (conversation === chat.active) return;
    chat.active = conversation;
    input.value = chat.drafts.get(conversation) ?? '';
    chat.error = null;
    chat.announce = false;
  }

  /** Opens the panel on a conversation (`ROOM` or a participant id) and focuses the input. */
  function openConversation(conversation) {
    if (conversation !== ROOM && conversation === selfId()) return;
    if (conversation !== ROOM) chat.names.set(conversation, nameOf(conversation));
    switchTo(conversation);
    setOpen(true);
  }

  // -------------------------------------------------------------------------------------------
  // Rendering

  function messageItem(m, { moderate, me, room, version }) {
    const own = m.from === me;
    const actions = [];
    if (moderate && room) actions.push(iconButton('trash', t('chat.delete'), 'chat-delete', () => deleteMessage(m.id), 'chat-action'));
    if (moderate && room && !own && !m.announcement) {
      const muted = chat.mutedByMe.has(m.from);
      const name = m.from_name;
      actions.push(
        muted
          ? iconButton('chat', t('chat.unmuteSender', { name }), 'chat-unmute-sender', () => setMuted(m.from, false), 'chat-action')
          : iconButton('chat-off', t('chat.muteSender', { name }), 'chat-mute-sender', () => setMuted(m.from, true), 'chat-action'),
      );
    }
    const className = ['chat-message', m.announcement ? 'announcement' : '', own ? 'own' : ''].filter(Boolean).join(' ');
    return h(
      'li',
      {
        className,
        testid: 'chat-message',
        dataset: { messageId: String(m.id), from: m.from, announcement: String(Boolean(m.announcement)), version },
      },
      h(
        'div',
        { className: 'chat-meta' },
        h('span', { className: 'chat-from', text: m.from_name }, own ? h('span', { className: 'you', text: ` ${t('chat.you')}` }) : null),
        m.announcement ? h('span', { className: 'badge chat-announcement-badge', text: t('chat.announcement') }) : null,
        h('time', { className: 'chat-time', dateTime: new Date(m.at_ms).toISOString(), text: formatTime(m.at_ms) }),
        actions.length ? h('span', { className: 'chat-actions' }, actions) : null,
      ),
      h('p', { className: 'chat-text', text: m.text }),
    );
  }

  /**
   * Brings the list in line with `messages`, touching only what changed: the list is a live
   * region, and rebuilding it would have screen readers read everything again.
   */
  function renderMessages(messages, context) {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24 || list.dataset.conversation !== chat.active;
    list.dataset.conversation = chat.active;
    const wanted = new Set(messages.map((m) => String(m.id)));
    for (const li of [...list.children]) {
      if (!wanted.has(li.dataset.messageId) || li.dataset.version !== context.version) li.remove();
    }
    let next = list.firstElementChild;
    for (const m of messages) {
      if (next && next.dataset.messageId === String(m.id)) {
        next = next.nextElementSibling;
        continue;
      }
      list.insertBefore(messageItem(m, context), next);
    }
    empty.hidden = messages.length > 0;
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  /**
   * Fills a participant chooser; only when its options changed, since rebuilding a select
   * closes it under the pointer and participant updates are frequent.
   */
  function fillSelect(select, placeholder, people) {
    const signature = JSON.stringify([placeholder, people.map((p) => [p.id, p.name])]);
    if (select.dataset.signature === signature) return;
    const chosen = select.value;
    select.dataset.signature = signature;
    select.replaceChildren(new Option(placeholder, ''), ...people.map((p) => new Option(p.name, p.id)));
    select.value = people.some((p) => p.id === chosen) ? chosen : '';
  }

  function renderTabs(grouped, me) {
    const keys = conversationKeys(grouped);
    replaceKeepingFocus(
      tabs,
      keys.map((c) => {
        const n = unreadIn(grouped.get(c) ?? []);
        const label = c === ROOM ? t('chat.room') : nameOf(c);
        return h(
          'button',
          {
            type: 'button',
            className: 'chat-tab',
            testid: 'chat-conversation',
            key: c,
            dataset: { conversation: c },
            'aria-pressed': String(c === chat.active),
            'aria-label': n ? `${label}, ${t('chat.unread', { n })}` : label,
            onClick: () => {
              switchTo(c);
              render();
              input.focus();
            },
          },
          h('span', { text: label }),
          n ? h('span', { className: 'chat-badge', testid: 'chat-unread', text: String(n), 'aria-hidden': 'true' }) : null,
        );
      }),
    );
    const others = view()
      .participants.filter((p) => p.id !== me)
      .sort((a, b) => a.name.localeCompare(b.name, language()));
    fillSelect(recipient, t('chat.newPrivate'), others);
    recipient.disabled = others.length === 0;
    recipient.setAttribute('aria-label', t('chat.newPrivate'));
  }

  function renderModeration(moderate, me) {
    moderation.hidden = !moderate;
    if (!moderate) return;
    modSummary.textContent = t('chat.moderation');
    enabledToggle.checked = chat.enabled;
    enabledLabel.textContent = t('chat.enabledToggle');
    muteSelectLabel.textContent = t('chat.muteChoose');
    const candidates = view()
      .participants.filter((p) => p.id !== me && !chat.mutedByMe.has(p.id))
      .sort((a, b) => a.name.localeCompare(b.name, language()));
    fillSelect(muteSelect, t('chat.choosePerson'), candidates);
    muteButton.textContent = t('chat.mute');
    mutedList.replaceChildren(
      ...[...chat.mutedByMe].map((id) =>
        h(
          'li',
          { className: 'chat-muted', testid: 'chat-muted', dataset: { participantId: id } },
          h('span', { text: nameOf(id) }),
          smallButton(t('chat.unmute'), 'chat-unmute', () => setMuted(id, false)),
        ),
      ),
    );
    mutedList.hidden = chat.mutedByMe.size === 0;
    mutedList.setAttribute('aria-label', t('chat.mutedList'));
  }

  /** Whether and why the input is closed, and the note above it. */
  function composerState() {
    const moderate = canModerate();
    const partnerGone = chat.active !== ROOM && !isPresent(chat.active);
    if (!view().joined) return { disabled: true, note: null };
    if (chat.muted && !moderate) return { disabled: true, note: 'chat.mutedNote' };
    if (!chat.enabled && !moderate) return { disabled: true, note: 'chat.disabledNote' };
    if (partnerGone) return { disabled: true, note: 'chat.partnerGone' };
    if (chat.muted) return { disabled: false, note: 'chat.mutedModeratorNote' };
    if (!chat.enabled) return { disabled: false, note: 'chat.disabledModeratorNote' };
    return { disabled: false, note: null };
  }

  function renderComposer() {
    const moderate = canModerate();
    const room = chat.active === ROOM;
    const { disabled, note: noteKey } = composerState();
    note.hidden = !noteKey;
    note.textContent = noteKey ? t(noteKey, { name: nameOf(chat.active) }) : '';
    note.dataset.state = noteKey ? noteKey.split('.')[1] : '';
    input.disabled = disabled;
    const announcing = room && moderate && chat.announce;
    input.placeholder = room ? t(announcing ? 'chat.placeholderAnnouncement' : 'chat.placeholderRoom') : t('chat.placeholderPrivate', { name: nameOf(chat.active) });
    input.setAttribute('aria-label', input.placeholder);
    announceRow.hidden = !(room && moderate);
    announceToggle.checked = announcing;
    announceToggle.disabled = disabled;
    announceLabel.textContent = t('chat.asAnnouncement');
    const n = charCount(input.value);
    counter.hidden = n < COUNTER_FROM;
    counter.textContent = t('chat.counter', { n, max: MAX_LENGTH });
    counter.classList.toggle('over', n > MAX_LENGTH);
    sendLabel.textContent = t(announcing ? 'chat.sendAnnouncement' : 'chat.send');
    sendButton.disabled = disabled || chat.sending || n > MAX_LENGTH;
    form.classList.toggle('announcing', announcing);
    errorLine.textContent = chat.error ? (chat.error.code ? errorText(chat.error.code) : t(chat.error.key, chat.error.params)) : '';
  }

  function render() {
    const v = view();
    const me = v.self?.id ?? null;
    const grouped = byConversation();
    // What is on screen now is read.
    if (chat.open && v.joined) {
      const shown = grouped.get(chat.active) ?? [];
      if (shown.length) chat.readUpTo.set(chat.active, Math.max(chat.readUpTo.get(chat.active) ?? 0, shown.at(-1).id));
    }
    let total = 0;
    for (const messages of grouped.values()) total += unreadIn(messages);

    const toggle = $('chat-toggle');
    toggle.setAttribute('aria-expanded', String(chat.open));
    toggle.setAttribute('aria-label', total ? t('chat.toggleUnread', { n: total }) : t('chat.toggleLabel'));
    toggle.title = toggle.getAttribute('aria-label');
    const badge = $('chat-unread-total');
    badge.hidden = total === 0;
    badge.textContent = String(total);
    document.body.classList.toggle('chat-open', chat.open);

    panel.hidden = !chat.open;
    if (!chat.open) return;
    const moderate = canModerate();
    heading.textContent = t('chat.title');
    closeButton.title = t('chat.close');
    closeButton.setAttribute('aria-label', t('chat.close'));
    renderModeration(moderate, me);
    renderTabs(grouped, me);
    const room = chat.active === ROOM;
    partnerNote.hidden = room;
    partnerNote.textContent = room ? '' : t('chat.privateNote', { name: nameOf(chat.active) });
    list.setAttribute('aria-label', room ? t('chat.room') : t('chat.privateWith', { name: nameOf(chat.active) }));
    empty.textContent = t('chat.empty');
    // Messages are rebuilt when what they show besides their own fields changes.
    const version = `${language()}|${moderate}|${me}|${[...chat.mutedByMe].join(',')}`;
    renderMessages(grouped.get(chat.active) ?? [], { moderate, me, room, version });
    renderComposer();
  }

  // -------------------------------------------------------------------------------------------
  // For app.js

  /** The participant list's "Message" action for `p` (none for oneself). */
  function messageButton(p) {
    if (!p || p.id === selfId()) return null;
    return iconButton('chat', t('chat.messageTo', { name: p.name }), 'chat-message-to', () => openConversation(p.id), 'chat-message-to');
  }

  /** Forgets everything: the session ended (left, removed, …). */
  function reset() {
    chat = freshState();
    input.value = '';
    list.replaceChildren();
    render();
  }

  /** For window.plenumTest: messages by conversation, unread counts, enabled, muted. */
  function snapshot() {
    const grouped = byConversation();
    const conversations = {};
    const unread = {};
    let unreadTotal = 0;
    for (const [c, messages] of grouped) {
      conversations[c] = messages.map((m) => ({ ...m }));
      unread[c] = unreadIn(messages);
      unreadTotal += unread[c];
    }
    return {
      open: chat.open,
      active: chat.active,
      enabled: chat.enabled,
      muted: chat.muted,
      historyReceived: chat.historyReceived,
      conversations,
      unread,
      unreadTotal,
      mutedByMe: [...chat.mutedByMe],
      error: chat.error ? { ...chat.error } : null,
    };
  }

  render();
  return { handleEvent, render, reset, openConversation, messageButton, snapshot };
}
