// Plenum browser client: invite → preview → (lobby →) room → ended.
//
// One module-level `state` object holds everything; protocol messages and button presses
// change it and then call the render function of what they touched. Texts on screen are kept
// as i18n keys/codes in the state, so switching the language re-renders them.
// The speaker list lives in congress.js, the moderator's tools in moderation.js, polls and
// voting in ballots.js, the chat in chat.js.
// A connection that breaks is rebuilt by itself (same token, new offer) after a short backoff.
// `window.plenumTest` exposes state and receive statistics to the end-to-end test.

import { t, errorText, closingText, roleText, language, setLanguage, onLanguageChange, applyStatic } from './i18n.js';
import { tokenFromLocation, decodeClaims, isExpired } from './invite.js';
import { startAccount } from './account.js';
import { Signal, ProtocolError, PROTOCOL_VERSION, signalUrl } from './signal.js';
import { captureMedia, captureKind, listDevices, stopTracks, createPeer, makeOffer, inboundStats, outboundStats } from './media.js';
import { $, h, icon, setIcon, iconButton, replaceKeepingFocus } from './dom.js';
import { createCongressPanel, formatClock } from './congress.js';
import { participantActions, renderLobby, wireLobby, wireActionMenus } from './moderation.js';
import { createBallotPanel } from './ballots.js';
import { createChatPanel } from './chat.js';
import { createNotesPanel } from './notes.js';
import { startWatch, watchRequested } from './watch.js';

const ROLE_ORDER = { admin: 0, moderator: 1, guest_speaker: 2, delegate: 3, observer: 4 };
/** Join errors after which trying again with the same link cannot help. */
const FINAL_JOIN_ERRORS = new Set(['invalid_token', 'token_expired', 'unsupported_version', 'banned']);
/** Closing reasons after which the client does not reconnect by itself. */
const FINAL_CLOSE_REASONS = new Set(['left', 'replaced', 'denied', 'removed', 'revoked', 'join_timeout']);
const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000];
const RECONNECT_GIVE_UP_MS = 120_000;

/** The role defaults of docs/protocol.md, for a participant (or token) that carries no grants. */
const ROLE_GRANTS = {
  admin: { publish: true, speak: true, moderate: true, admin: true, minutes: true },
  moderator: { publish: true, speak: true, moderate: true, minutes: true },
  delegate: { publish: true, speak: true, vote: true },
  guest_speaker: { publish: true, speak: true },
  observer: {},
};

/** Whether participant (or token claims) `p` has `grant`. */
function can(p, grant) {
  return Boolean(p?.grants?.[grant] ?? ROLE_GRANTS[p?.role]?.[grant]);
}

const state = {
  token: null,
  claims: null,
  screen: 'landing',
  invalidKey: null,

  // Preview and local media.
  media: { audio: null, video: null, notice: null, starting: false },
  captureTried: false,
  devices: { cameras: [], microphones: [] },
  chosen: { audioDeviceId: null, videoDeviceId: null },
  joining: false,
  previewError: null, // { code } or { key }

  // Session.
  signal: null,
  joined: false,
  inLobby: false,
  leaving: false,
  reconnect: null, // { since, attempt, timer } while the connection is being rebuilt
  sessions: 0, // successful joins of this page
  self: null,
  room: null,
  participants: new Map(), // id → participant, self included
  stage: null,
  pinned: false,
  activeSpeaker: null, // the dominant speaker's id (active_speaker events)
  wantedLayers: null, // the camera's simulcast layers the server last asked for (publish_layers)
  iceServers: [], // TURN servers with short-lived credentials, from the join result
  slots: [], // slot assignments as the server sent them
  pc: null,
  transceiverByMid: new Map(),
  mediaReady: false,
  muted: false,
  cameraOn: true,
  lastError: null,
  banner: null, // { code } or { key }
  ended: null, // { titleKey, text: { key } | { closing } | { code } | null, buttonKey | null }

  // Congress control.
  mode: null,
  queue: null,
  queueReceivedAt: 0, // local clock when `queue` arrived: the countdown starts there
  floorWarned: false, // floor_warning arrived for the current speech
  history: [],
  lobby: null, // moderators only: { enabled, waiting }

  // Polls.
  polls: [], // poll views as this participant sees them, in creation order
  proxy: null, // id of the participant the own vote is delegated to
  receipts: {}, // poll id → { holder id → receipt }; kept for the page's life, also across sessions
};

let congress = null; // the speaker-list panel, created in wireControls()
let ballots = null; // the poll panel, created in wireControls()
let chat = null; // the chat panel (keeps its own state, see chat.js), created in wireControls()
let notes = null; // the minute-taker's panel (notes.js), created in wireControls()

// ---------------------------------------------------------------------------------------------
// Rendering

function showScreen(name) {
  state.screen = name;
  for (const el of document.querySelectorAll('.screen')) el.hidden = el.id !== `screen-${name}`;
  document.body.dataset.screen = name;
}

function messageText(msg) {
  if (!msg) return '';
  if (msg.code) return errorText(msg.code);
  if (msg.closing !== undefined) return closingText(msg.closing);
  return t(msg.key, msg.params);
}

function participantName(id) {
  if (!id) return '';
  return state.participants.get(id)?.name ?? t('participant.unknown');
}

function renderHeader() {
  $('room-name').textContent = state.room?.name ?? '';
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.setAttribute('aria-pressed', String(button.dataset.lang === language()));
  }
}

function renderBanner() {
  const banner = $('banner');
  banner.hidden = !state.banner;
  $('banner-text').textContent = messageText(state.banner);
}

function renderInvalid() {
  $('invalid-text').textContent = state.invalidKey ? t(state.invalidKey) : '';
}

function renderPreview() {
  const claims = state.claims;
  if (!claims) return;
  const observer = !can(claims, 'publish');
  $('preview-greeting').textContent = t('preview.greeting', { name: claims.name });
  $('preview-room').textContent = t('preview.room', { room: state.room?.name ?? claims.room ?? '' });
  $('preview-role').textContent = t('preview.role', { role: roleText(claims.role) });

  let notice = null;
  if (observer) notice = 'preview.observer';
  else if (state.media.starting) notice = 'preview.starting';
  else if (state.media.notice) notice = state.media.notice;
  const noticeEl = $('preview-notice');
  const expired = isExpired(claims);
  noticeEl.hidden = !notice && !expired;
  noticeEl.textContent = [notice ? t(notice) : '', expired ? t('invite.expired') : ''].filter(Boolean).join(' ');

  // Observers send nothing, and a dead link needs no camera: just the greeting and the message.
  const withoutMedia = observer || Boolean(state.previewError?.final);
  $('preview-devices').hidden = withoutMedia;
  document.querySelector('.preview-media').hidden = withoutMedia;
  document.querySelector('.preview').classList.toggle('without-media', withoutMedia);
  fillSelect($('camera-select'), state.devices.cameras, state.media.video);
  fillSelect($('mic-select'), state.devices.microphones, state.media.audio);

  const video = $('preview-video');
  const hasVideo = Boolean(state.media.video);
  if (hasVideo && video.srcObject?.getVideoTracks()[0] !== state.media.video) {
    video.srcObject = new MediaStream([state.media.video]);
  } else if (!hasVideo && video.srcObject) {
    video.srcObject = null;
  }
  video.hidden = !hasVideo;
  const placeholder = $('preview-placeholder');
  placeholder.hidden = hasVideo;
  placeholder.textContent = state.media.starting ? t('preview.starting') : t('controls.noCamera');

  $('preview-error').textContent = messageText(state.previewError);
  const join = $('join');
  join.hidden = Boolean(state.previewError?.final);
  join.disabled = state.joining || state.media.starting;
  join.textContent = state.joining ? t('preview.joining') : t('preview.join');
}

function fillSelect(select, devices, track) {
  const current = track?.getSettings?.().deviceId ?? null;
  select.replaceChildren();
  if (!devices.length) {
    select.append(new Option(t('preview.noDevice'), ''));
    select.disabled = true;
    return;
  }
  select.disabled = state.media.starting || state.joining;
  devices.forEach((d, i) => {
    const option = new Option(d.label || t('preview.deviceFallback', { n: i + 1 }), d.deviceId);
    option.selected = d.deviceId === current;
    select.append(option);
  });
}

function sortedParticipants() {
  return [...state.participants.values()].sort(
    (a, b) => (ROLE_ORDER[a.role] ?? 9) - (ROLE_ORDER[b.role] ?? 9) || a.name.localeCompare(b.name, language()),
  );
}

function statusIcon(name, label, cls) {
  return h('span', { className: `status ${cls}`, role: 'img', 'aria-label': label, title: label }, icon(name));
}

function participantStatus(p) {
  const status = h('span', { className: 'participant-status' });
  if (p.force_muted) status.append(statusIcon('ban', t('status.forceMuted'), 'muted'));
  else if (p.heard && p.audio && !p.muted) status.append(statusIcon('volume', t('status.heard'), 'on'));
  if (!p.audio) status.append(statusIcon('mic-off', t('status.micNone'), 'off'));
  else if (p.muted) status.append(statusIcon('mic-off', t('status.muted'), 'muted'));
  else status.append(statusIcon('mic', t('status.micOn'), 'on'));
  status.append(p.video ? statusIcon('cam', t('status.camOn'), 'on') : statusIcon('cam-off', t('status.camOff'), 'off'));
  return status;
}

/** The moderator's stage button: put on stage, or (when pinned here) back to automatic. */
function stageButton(p) {
  if (!can(state.self, 'moderate')) return null;
  if (state.pinned && state.stage === p.id && !stageByFloor()) {
    return iconButton('auto', t('participants.releaseLabel'), 'release-stage', () => setStage(null), 'pinned');
  }
  return iconButton('stage', t('participants.putOnStageLabel', { name: p.name }), 'put-on-stage', () => setStage(p.id));
}

function participantRow(p) {
  const onStage = p.id === state.stage;
  const name = h(
    'span',
    { className: 'participant-name', text: p.name },
    p.id === state.self?.id ? h('span', { className: 'you', text: ` ${t('participants.you')}` }) : null,
    state.queue?.floor?.participant_id === p.id ? h('span', { className: 'badge floor-badge', text: t('status.floor') }) : null,
    onStage ? h('span', { className: 'badge', text: t('status.onStage') }) : null,
    state.activeSpeaker === p.id ? h('span', { className: 'badge speaking-badge', testid: 'speaking', text: t('status.speaking') }) : null,
  );
  return h(
    'li',
    {
      className: `participant${onStage ? ' on-stage' : ''}${state.activeSpeaker === p.id ? ' speaking' : ''}`,
      key: p.id,
      testid: 'participant',
      dataset: { participantId: p.id, role: p.role, heard: String(Boolean(p.heard)), forceMuted: String(Boolean(p.force_muted)) },
    },
    h('span', { className: 'avatar', 'aria-hidden': 'true', text: initials(p.name) }),
    h('span', { className: 'participant-main' }, name, h('span', { className: 'participant-role', text: roleText(p.role) })),
    participantStatus(p),
    chat.messageButton(p),
    stageButton(p),
    participantActions(p, { self: state.self, can, send: command }),
  );
}

function renderParticipants() {
  const people = sortedParticipants();
  $('participants-heading').textContent = t('participants.title', { n: people.length });
  replaceKeepingFocus($('participants'), people.map(participantRow));
}

function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0], parts[parts.length - 1]] : parts;
  return letters.map((w) => [...w][0]?.toUpperCase() ?? '').join('') || '?';
}

function slotNamed(name) {
  return state.slots.find((s) => s.slot === name) ?? null;
}

/** A slot shows someone only when the server assigned a participant we know. */
function shownParticipant(assignment) {
  const id = assignment?.participant_id ?? null;
  return id && state.participants.has(id) ? id : null;
}

function renderStage() {
  const stageSlot = slotNamed('stage');
  const shown = shownParticipant(stageSlot);
  const frame = document.querySelector('.stage-frame');
  frame.dataset.participantId = shown ?? '';
  frame.classList.toggle('empty', !shown);
  $('stage-video').hidden = !shown;
  // The stage slot never shows yourself: while you are on stage it shows whoever was before.
  const label = $('stage-name');
  label.hidden = !shown;
  label.textContent = shown ? participantName(shown) : '';
  $('stage-video').setAttribute('aria-label', shown ? t('tiles.videoLabel', { name: participantName(shown) }) : t('stage.videoLabel'));

  const empty = $('stage-empty');
  empty.hidden = Boolean(shown);
  empty.textContent = state.stage && state.stage === state.self?.id ? t('stage.self') : t('stage.empty');

  let caption = t('stage.empty');
  if (state.stage) {
    caption = state.stage === state.self?.id ? t('stage.selfCaption') : t('stage.onStage', { name: participantName(state.stage) });
    caption += ` · ${stageByFloor() ? t('stage.floor') : state.pinned ? t('stage.pinned') : t('stage.automatic')}`;
  }
  $('stage-caption').textContent = caption;
  $('stage-auto').hidden = !(can(state.self, 'moderate') && state.pinned && !stageByFloor());
}

/**
 * The floor holder is on stage. The server reports that as `pinned` too, but no moderator
 * chose it and "automatic" would not take it off: say why they are there instead.
 */
function stageByFloor() {
  return Boolean(state.stage) && state.stage === state.queue?.floor?.participant_id;
}

function renderTiles() {
  for (const li of $('tiles').children) {
    const shown = shownParticipant(slotNamed(li.dataset.slot));
    li.hidden = !shown;
    li.dataset.participantId = shown ?? '';
    const name = shown ? participantName(shown) : '';
    li.querySelector('.tile-name').textContent = name;
    li.querySelector('video').setAttribute('aria-label', t('tiles.videoLabel', { name }));
  }
  const visible = [...$('tiles').children].filter((li) => !li.hidden).length;
  $('tiles').dataset.count = String(visible);
  document.querySelector('.tiles-section').hidden = visible === 0;
}

function renderAudio() {
  for (const audio of $('audio-sink').children) {
    audio.dataset.participantId = shownParticipant(slotNamed(audio.dataset.slot)) ?? '';
  }
}

function renderControls() {
  const mute = $('mute');
  const hasAudio = Boolean(state.media.audio);
  mute.hidden = !hasAudio;
  mute.disabled = !state.mediaReady;
  mute.setAttribute('aria-pressed', String(state.muted));
  setIcon(mute, state.muted ? 'mic-off' : 'mic');

  const camera = $('camera');
  const hasVideo = Boolean(state.media.video);
  camera.hidden = !hasVideo;
  camera.disabled = !state.mediaReady;
  camera.setAttribute('aria-pressed', String(state.cameraOn));
  setIcon(camera, state.cameraOn ? 'cam' : 'cam-off');

  $('receive-only').hidden = hasAudio || hasVideo;
  renderHearing(hasAudio);
  const selfView = $('self-view');
  selfView.hidden = !(hasVideo && state.cameraOn);
  const selfVideo = $('self-video');
  if (hasVideo && selfVideo.srcObject?.getVideoTracks()[0] !== state.media.video) {
    selfVideo.srcObject = new MediaStream([state.media.video]);
  } else if (!hasVideo) {
    selfVideo.srcObject = null;
  }
}

/** Whether the server forwards the own microphone now (docs/protocol.md: `heard`). */
function renderHearing(hasAudio) {
  const self = state.self;
  let key = null;
  if (self && hasAudio && self.heard !== undefined) {
    if (self.force_muted) key = 'hearing.forceMuted';
    else if (!state.muted) key = self.heard ? 'hearing.heard' : 'hearing.notHeard';
  }
  const el = $('hearing');
  el.hidden = !key;
  el.textContent = key ? t(key) : '';
  el.dataset.state = key ? key.split('.')[1] : '';
}

function renderReconnecting() {
  $('reconnecting').hidden = !state.reconnect;
  document.body.classList.toggle('reconnecting', Boolean(state.reconnect));
}

function renderRoom() {
  renderParticipants();
  renderStage();
  renderTiles();
  renderAudio();
  renderControls();
  congress.render();
  ballots.render();
  notes.render();
  renderLobby(state.lobby, command);
  renderReconnecting();
  chat.render();
}

function renderLobbyScreen() {
  $('lobby-wait-text').textContent = t('lobby.waitText', { name: state.self?.name ?? '', room: state.room?.name ?? '' });
}

function renderEnded() {
  if (!state.ended) return;
  $('ended-title').textContent = t(state.ended.titleKey);
  $('ended-text').textContent = messageText(state.ended.text);
  $('ended-text').hidden = !state.ended.text;
  const button = $('rejoin');
  button.hidden = !state.ended.buttonKey;
  button.textContent = state.joining ? t('preview.joining') : t(state.ended.buttonKey ?? 'ended.rejoin');
  button.disabled = state.joining;
}

function renderAll() {
  applyStatic(document);
  renderHeader();
  renderBanner();
  renderInvalid();
  renderPreview();
  if (state.joined) {
    renderRoom();
    congress.renderHistory();
  }
  if (state.inLobby) renderLobbyScreen();
  renderEnded();
}

function announce(key, params) {
  const live = $('live');
  live.textContent = '';
  // A fresh text node after a tick makes screen readers speak repeated messages too.
  setTimeout(() => {
    live.textContent = t(key, params);
  }, 50);
}

function showError(code) {
  state.lastError = code;
  state.banner = { code };
  renderBanner();
}

// ---------------------------------------------------------------------------------------------
// Preview: local media

async function startPreviewMedia() {
  if (!can(state.self ?? state.claims, 'publish')) return;
  state.captureTried = true;
  state.media.starting = true;
  renderPreview();
  const got = await captureMedia(state.chosen);
  state.media = { ...got, starting: false };
  state.devices = await listDevices().catch(() => ({ cameras: [], microphones: [] }));
  renderPreview();
}

async function changeDevice(kind, deviceId) {
  const key = kind === 'audio' ? 'audioDeviceId' : 'videoDeviceId';
  state.chosen[key] = deviceId || null;
  stopTracks(state.media[kind]);
  state.media[kind] = null;
  state.media.starting = true;
  renderPreview();
  const { track, notice } = await captureKind(kind, state.chosen[key]);
  state.media[kind] = track;
  state.media.starting = false;
  const other = kind === 'audio' ? state.media.video : state.media.audio;
  if (!track) state.media.notice = other ? (kind === 'audio' ? 'media.noMicrophone' : 'media.noCamera') : notice;
  else if (state.media.notice && other) state.media.notice = null;
  renderPreview();
}

function stopLocalMedia() {
  stopTracks(state.media.audio, state.media.video);
  state.media = { audio: null, video: null, notice: null, starting: false };
  $('preview-video').srcObject = null;
  $('self-video').srcObject = null;
}

// ---------------------------------------------------------------------------------------------
// Session

async function join() {
  if (state.joining || state.joined || state.inLobby) return;
  state.joining = true;
  state.previewError = null;
  state.banner = null;
  state.leaving = false;
  renderBanner();
  renderPreview();
  renderEnded();

  let session;
  try {
    session = await openSession();
  } catch (err) {
    state.lastError = err.code;
    state.joining = false;
    state.previewError = { code: err.code, final: FINAL_JOIN_ERRORS.has(err.code) };
    // Nothing will change with this link: switch the camera off rather than keep filming.
    if (state.previewError.final) stopLocalMedia();
    showScreen('preview');
    renderPreview();
    return;
  }
  state.joining = false;
  enter(session.signal, session.result);
}

/** Opens a socket and sends `join`; resolves with `{ signal, result }`, rejects with a ProtocolError. */
async function openSession() {
  const signal = new Signal(signalUrl(), {
    onEvent: (msg) => handleEvent(signal, msg),
    onClose: (closing) => handleClose(signal, closing),
    onStrayError: (code) => showError(code),
  });
  state.signal = signal;
  // The server writes answers and events from separate queues, so events of this session
  // (someone else joining, a poll opening) may overtake the answer to `join`: enter() replays them.
  signal.early = [];
  try {
    await signal.open();
    return { signal, result: await signal.request('join', { protocol: PROTOCOL_VERSION, token: state.token }) };
  } catch (err) {
    if (state.signal === signal) state.signal = null;
    signal.close();
    throw err instanceof ProtocolError ? err : new ProtocolError('internal');
  }
}

/** After a successful `join`: the room, or the lobby when the result says `waiting`. */
function enter(signal, result) {
  const reconnected = Boolean(state.reconnect);
  stopReconnecting();
  state.sessions += 1;
  // TURN credentials come with `join` only (not with `admitted`): keep them for the offer.
  state.iceServers = result.ice_servers ?? [];
  if (result.lobby === 'waiting') enterLobby(result);
  else enterRoom(signal, result);
  const early = signal.early ?? [];
  signal.early = null;
  for (const msg of early) handleEvent(signal, msg);
  if (reconnected) announce('announce.reconnected');
}

function enterLobby(result) {
  state.inLobby = true;
  state.joined = false;
  state.self = result.participant;
  state.room = result.room ?? null;
  showScreen('lobby');
  renderHeader();
  renderLobbyScreen();
  $('lobby-leave').focus();
}

/** Shows the room of a `join` result (or `admitted` event) and negotiates media. */
function enterRoom(signal, result) {
  const rejoining = state.joined;
  state.inLobby = false;
  state.joined = true;
  applyJoinResult(result, rejoining);
  showScreen('room');
  renderHeader();
  renderRoom();
  ballots.sync(); // a committee member's share, a board to follow
  if (!rejoining) $('leave').focus();
  loadHistory();
  connectRoomMedia(signal, result.slots ?? { stage: 1, tiles: 0, audio: 0 }).catch((err) => {
    if (signal !== state.signal) return;
    console.warn('plenum: media setup failed', err);
    showError(err instanceof ProtocolError ? err.code : 'internal');
  });
}

/** Takes over the room state of a join result; a reconnect keeps the own mute and camera choice. */
function applyJoinResult(result, rejoining) {
  state.self = result.participant;
  state.room = result.room ?? null;
  state.participants = new Map([[result.participant.id, result.participant]]);
  for (const p of result.participants ?? []) state.participants.set(p.id, p);
  state.stage = result.stage ?? null;
  state.pinned = Boolean(result.pinned);
  state.slots = [];
  state.mode = result.mode ?? null;
  state.session = result.session ?? null;
  state.agenda = result.agenda ?? [];
  state.lobby = result.lobby ?? null;
  setQueue(result.queue ?? null);
  state.polls = result.polls ?? [];
  state.proxy = result.proxy ?? null;
  if (!rejoining) {
    state.muted = Boolean(result.participant.muted);
    state.cameraOn = true;
  }
  state.mediaReady = false;
}

const floorKey = (floor) => (floor ? `${floor.participant_id}@${floor.started_at_ms}` : '');

function setQueue(queue) {
  if (floorKey(queue?.floor) !== floorKey(state.queue?.floor)) state.floorWarned = false;
  state.queue = queue;
  state.queueReceivedAt = Date.now();
}

async function loadHistory() {
  const result = await command('queue_history', {}, { quiet: true });
  if (!result) return;
  state.history = result.speeches ?? [];
  congress.renderHistory();
}

async function connectRoomMedia(signal, slotCounts) {
  // May publish, but nothing was captured yet (the invite was for an observer): capture first.
  if (can(state.self, 'publish') && !state.captureTried) await startPreviewMedia();
  if (signal === state.signal) await connectMedia(signal, slotCounts);
}

async function connectMedia(signal, slotCounts) {
  const publishing = can(state.self, 'publish');
  const audioTrack = publishing ? state.media.audio : null;
  const videoTrack = publishing ? state.media.video : null;
  if (!publishing) stopLocalMedia();

  const { pc } = createPeer({ audioTrack, videoTrack, slots: slotCounts, iceServers: state.iceServers });
  state.pc = pc;
  pc.addEventListener('connectionstatechange', () => {
    if (pc === state.pc && pc.connectionState === 'failed') {
      state.lastError = 'media_failed';
      state.banner = { key: 'media.connectionFailed' };
      renderBanner();
    }
  });

  const sdp = await makeOffer(pc);
  if (signal !== state.signal) return;
  const answer = await signal.request('offer', { sdp });
  if (signal !== state.signal) return;
  // Take the slots at once: slots_changed events that arrive while the answer is being applied
  // merge into these.
  state.slots = (answer.slots ?? []).map((s) => ({ ...s }));
  await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  if (signal !== state.signal) return;

  state.transceiverByMid = new Map(pc.getTransceivers().filter((tr) => tr.mid !== null).map((tr) => [tr.mid, tr]));
  buildSlotElements();
  renderRoom();

  if (audioTrack) {
    audioTrack.enabled = !state.muted;
    await signal.request('publish', { kind: 'audio' });
    if (state.muted) await signal.request('set_muted', { muted: true });
  }
  if (videoTrack) {
    videoTrack.enabled = state.cameraOn;
    if (state.cameraOn) await signal.request('publish', { kind: 'video' });
    // The server's dynacast wish may have come before the sender existed.
    if (state.wantedLayers) setPublishedLayers(state.wantedLayers);
  }
  state.mediaReady = true;
  renderControls();
}

/** Creates one <video>/<audio> per receive slot of the answer and binds it to its transceiver. */
/**
 * Tell the server how large each video slot is rendered, so it forwards a fitting simulcast
 * layer (docs/protocol.md, `set_slot_sizes`). Sizes are reported in device pixels, only
 * when they changed, at most every 300 ms.
 */
const slotSizes = {
  observer: null,
  mids: new WeakMap(), // video element → mid
  pending: new Map(), // mid → { width, height }
  sent: new Map(), // mid → width last sent
  timer: null,
  watch(video, mid) {
    this.observer ??= new ResizeObserver((entries) => {
      for (const entry of entries) {
        const mid = this.mids.get(entry.target);
        if (!mid) continue;
        const ratio = window.devicePixelRatio || 1;
        const { width, height } = entry.contentRect;
        this.pending.set(mid, { width: Math.round(width * ratio), height: Math.round(height * ratio) });
      }
      this.timer ??= setTimeout(() => this.flush(), 300);
    });
    this.mids.set(video, mid);
    this.observer.observe(video);
  },
  flush() {
    this.timer = null;
    const slots = [...this.pending]
      .filter(([mid, size]) => this.sent.get(mid) !== size.width)
      .map(([mid, size]) => ({ mid, ...size }));
    this.pending.clear();
    if (!slots.length) return;
    for (const s of slots) this.sent.set(s.mid, s.width);
    command('set_slot_sizes', { slots }, { quiet: true });
  },
  reset() {
    this.observer?.disconnect();
    this.observer = null;
    this.pending.clear();
    this.sent.clear();
    clearTimeout(this.timer);
    this.timer = null;
  },
};

/**
 * Dynacast: pause the camera's simulcast layers nobody watches (the server says which are
 * needed, by rid), resume them when someone does.
 */
function setPublishedLayers(needed) {
  // The newest wish wins, and changes are applied one after the other: a pause quickly
  // followed by a resume must not be undone by the pause's setParameters finishing last (a
  // resume read before it would see "active" and change nothing). A wish that arrives before
  // the camera's sender exists is applied once it does (`connectMedia`).
  state.wantedLayers = needed;
  layersApplied = layersApplied.then(applyPublishedLayers, applyPublishedLayers);
  return layersApplied;
}

let layersApplied = Promise.resolve();

async function applyPublishedLayers() {
  const needed = state.wantedLayers;
  const sender = state.pc?.getTransceivers().find((t) => t.direction === 'sendonly' && t.sender.track?.kind === 'video')?.sender;
  if (!needed || !sender) return;
  const params = sender.getParameters();
  let changed = false;
  for (const encoding of params.encodings ?? []) {
    const active = needed[encoding.rid] ?? true;
    if (encoding.active !== active) {
      encoding.active = active;
      changed = true;
    }
  }
  if (changed) await sender.setParameters(params).catch((err) => console.info('plenum: layers not changed', err));
}

function buildSlotElements() {
  const tiles = $('tiles');
  const sink = $('audio-sink');
  tiles.replaceChildren();
  sink.replaceChildren();
  slotSizes.reset();
  for (const assignment of state.slots) {
    const transceiver = state.transceiverByMid.get(assignment.mid);
    if (!transceiver) {
      console.warn('plenum: slot without a matching transceiver', assignment);
      continue;
    }
    const stream = new MediaStream([transceiver.receiver.track]);
    if (assignment.slot === 'stage') {
      attach($('stage-video'), stream);
      slotSizes.watch($('stage-video'), assignment.mid);
    } else if (assignment.slot.startsWith('tile-')) {
      const li = document.createElement('li');
      li.className = 'tile';
      li.dataset.testid = 'tile';
      li.dataset.slot = assignment.slot;
      const video = document.createElement('video');
      video.autoplay = true;
      video.muted = true;
      video.playsInline = true;
      const name = document.createElement('span');
      name.className = 'tile-name';
      li.append(video, name);
      tiles.append(li);
      attach(video, stream);
      slotSizes.watch(video, assignment.mid);
    } else if (assignment.kind === 'audio' || assignment.slot.startsWith('audio-')) {
      const audio = document.createElement('audio');
      audio.autoplay = true;
      audio.dataset.slot = assignment.slot;
      sink.append(audio);
      attach(audio, stream);
    }
  }
}

function attach(element, stream) {
  element.srcObject = stream;
  element.play?.().catch(() => {
    // Autoplay may wait for the next user gesture; the element starts by itself then.
  });
}

function updateParticipant(p) {
  state.participants.set(p.id, p);
  if (p.id === state.self?.id) updateSelf(p);
  renderRoom();
}

/** The own participant changed: mute state, role, grants. */
function updateSelf(p) {
  const before = state.self;
  state.self = p;
  if (state.media.audio && p.muted !== state.muted) {
    state.muted = p.muted;
    state.media.audio.enabled = !p.muted;
  }
  if (before && before.role !== p.role) announce('announce.role', { role: roleText(p.role) });
  if (!can(before, 'publish') && can(p, 'publish')) startPublishing();
  else if (can(before, 'publish') && !can(p, 'publish')) stopLocalMedia();
}

function announceFloor(previousHolder) {
  const floor = state.queue?.floor ?? null;
  if ((floor?.participant_id ?? null) === previousHolder) return;
  if (!floor) announce('announce.floorEmpty');
  else if (floor.participant_id === state.self?.id) announce('announce.floorSelf');
  else announce('announce.floor', { name: floor.name });
}

/** Event handlers in the room, by event name (docs/protocol.md, "Events"). */
const ROOM_EVENTS = {
  participant_joined(msg) {
    state.participants.set(msg.participant.id, msg.participant);
    // Someone admitted from the lobby shows up here; the server sends no lobby_changed then.
    if (state.lobby) state.lobby.waiting = state.lobby.waiting.filter((w) => w.participant_id !== msg.participant.id);
    renderRoom();
    announce('announce.joined', { name: msg.participant.name });
  },
  participant_left(msg) {
    const gone = state.participants.get(msg.participant_id);
    state.participants.delete(msg.participant_id);
    renderRoom();
    if (gone) announce('announce.left', { name: gone.name });
  },
  participant_updated(msg) {
    updateParticipant(msg.participant);
  },
  publish_layers(msg) {
    setPublishedLayers(msg);
  },
  active_speaker(msg) {
    state.activeSpeaker = msg.participant_id ?? null;
    renderParticipants();
  },
  stage_changed(msg) {
    state.stage = msg.participant_id ?? null;
    state.pinned = Boolean(msg.pinned);
    renderRoom();
    if (state.stage) announce('announce.stage', { name: participantName(state.stage) });
    else announce('announce.stageEmpty');
  },
  slots_changed(msg) {
    // Merge by slot name: works whether the server sends all slots or only the changed ones.
    for (const changed of msg.slots ?? []) {
      const existing = slotNamed(changed.slot);
      if (existing) Object.assign(existing, changed);
      else state.slots.push({ ...changed });
    }
    renderStage();
    renderTiles();
    renderAudio();
  },
  queue_changed(msg) {
    const previousHolder = state.queue?.floor?.participant_id ?? null;
    setQueue(msg.queue);
    renderRoom();
    announceFloor(previousHolder);
  },
  floor_warning(msg) {
    const floor = state.queue?.floor;
    if (!floor || floor.participant_id !== msg.participant_id) return;
    state.floorWarned = true;
    // The warning carries the server's count: start counting from it.
    if (typeof msg.remaining_ms === 'number' && !floor.paused) {
      floor.remaining_ms = msg.remaining_ms;
      state.queueReceivedAt = Date.now();
    }
    congress.render();
    if (floor.participant_id === state.self?.id) announce('announce.floorWarning', { time: formatClock(msg.remaining_ms ?? 0) });
  },
  speech_ended() {
    loadHistory();
  },
  mode_changed(msg) {
    state.mode = msg.mode;
    congress.render();
  },
  session_changed(msg) {
    const before = state.session?.agenda_calls?.length ?? 0;
    state.session = msg.session;
    congress.render();
    const calls = msg.session?.agenda_calls ?? [];
    if (calls.length > before) {
      const item = calls[calls.length - 1].item;
      announce('announce.agendaCalled', { number: item + 1, title: state.agenda[item] ?? '' });
    }
  },
  lobby_changed(msg) {
    state.lobby = { enabled: Boolean(msg.enabled), waiting: msg.waiting ?? [] };
    renderLobby(state.lobby, command);
  },
  poll_changed(msg) {
    const i = state.polls.findIndex((p) => p.id === msg.poll.id);
    const before = i >= 0 ? state.polls[i] : null;
    if (i >= 0) state.polls[i] = msg.poll;
    else state.polls.push(msg.poll);
    ballots.render();
    ballots.sync();
    if (before?.state === msg.poll.state) return;
    if (msg.poll.state === 'open') announce('announce.pollOpened', { title: msg.poll.title });
    if (msg.poll.state === 'published') announce('announce.pollPublished', { title: msg.poll.title });
  },
  dkg_changed(msg) {
    ballots.handleEvent(msg);
  },
  board_entry(msg) {
    ballots.handleEvent(msg);
  },
  poll_progress(msg) {
    const poll = state.polls.find((p) => p.id === msg.poll_id);
    if (!poll) return;
    poll.voted = msg.voted;
    poll.eligible_voters = msg.eligible ?? poll.eligible_voters;
    ballots.render();
  },
  closing() {
    // Handled when the socket closes (Signal keeps the event for onClose).
  },
};

/** Event handlers while waiting in the lobby. */
const LOBBY_EVENTS = {
  admitted(msg, signal) {
    announce('announce.admitted');
    enterRoom(signal, msg);
  },
  closing() {},
};

function handleEvent(signal, msg) {
  if (signal !== state.signal) return;
  // The chat's `history` may come before the join answer (or the `admitted` event): the chat
  // takes its events in every state of the session.
  if (msg.event === 'plugin' && msg.ns === 'chat') {
    chat.handleEvent(msg.body);
    return;
  }
  if (msg.event === 'plugin' && msg.ns === 'reports') {
    notes.handleEvent(msg.body);
    return;
  }
  if (signal.early) {
    signal.early.push(msg);
    return;
  }
  const handlers = state.inLobby ? LOBBY_EVENTS : state.joined ? ROOM_EVENTS : null;
  const handler = handlers && Object.hasOwn(handlers, msg.event) ? handlers[msg.event] : null;
  if (handler) handler(msg, signal);
  else console.info('plenum: ignoring event', msg.event);
}

function handleClose(signal, closing) {
  // A failed join is reported by join(), a failed reconnect attempt by reconnect().
  if (signal !== state.signal || state.reconnect) return;
  if (!state.joined && !state.inLobby) return;
  const reason = closing?.reason ?? null;
  if (!state.leaving && !FINAL_CLOSE_REASONS.has(reason)) {
    startReconnecting(reason);
    return;
  }
  teardown();
  endWith(endedFor({ reason: state.leaving ? 'left' : reason }));
}

/** What the ended screen says after closing `reason` or error `code`. */
function endedFor({ reason = null, code = null }) {
  if (reason === 'left') return { titleKey: 'ended.leftTitle', text: null, buttonKey: 'ended.rejoin' };
  if (code === 'banned') return { titleKey: 'ended.bannedTitle', text: { code }, buttonKey: null };
  if (code) return { titleKey: 'ended.closedTitle', text: { code }, buttonKey: FINAL_JOIN_ERRORS.has(code) ? null : 'ended.rejoin' };
  const titleKey = { denied: 'ended.deniedTitle', removed: 'ended.removedTitle', revoked: 'ended.removedTitle' }[reason] ?? 'ended.closedTitle';
  if (reason === 'revoked') return { titleKey, text: { closing: reason }, buttonKey: null };
  return { titleKey, text: { closing: reason }, buttonKey: reason === 'replaced' ? 'ended.continueHere' : 'ended.rejoin' };
}

// ---------------------------------------------------------------------------------------------
// Reconnecting

/** The connection broke (`reason`: the closing reason, null when it just dropped): rebuild it. */
function startReconnecting(reason) {
  state.lastError = reason ? `closing_${reason}` : 'connection_lost';
  dropConnection();
  state.reconnect = { since: Date.now(), attempt: 0, timer: null };
  renderReconnecting();
  scheduleReconnect();
}

function scheduleReconnect() {
  const r = state.reconnect;
  const delay = RECONNECT_DELAYS_MS[Math.min(r.attempt, RECONNECT_DELAYS_MS.length - 1)];
  r.attempt += 1;
  r.timer = setTimeout(reconnect, delay);
}

async function reconnect() {
  const r = state.reconnect;
  if (!r) return;
  r.timer = null;
  let session;
  try {
    session = await openSession();
  } catch (err) {
    if (state.reconnect !== r) return; // left meanwhile
    state.lastError = err.code;
    if (FINAL_JOIN_ERRORS.has(err.code) || Date.now() - r.since > RECONNECT_GIVE_UP_MS) {
      teardown();
      endWith(endedFor({ code: err.code }));
    } else {
      scheduleReconnect();
    }
    return;
  }
  if (state.reconnect !== r) {
    if (state.signal === session.signal) state.signal = null;
    session.signal.close();
    return;
  }
  enter(session.signal, session.result);
}

function stopReconnecting() {
  clearTimeout(state.reconnect?.timer);
  state.reconnect = null;
  renderReconnecting();
}

/** New connection at once, e.g. for an offer that now sends camera and microphone. */
function renegotiate() {
  dropConnection();
  state.reconnect = { since: Date.now(), attempt: 0, timer: null };
  renderReconnecting();
  reconnect();
}

/** May publish now (e.g. an observer made guest speaker): capture, then offer again. */
async function startPublishing() {
  await startPreviewMedia();
  renderControls();
  if (state.joined && !state.reconnect && (state.media.audio || state.media.video)) renegotiate();
}

// ---------------------------------------------------------------------------------------------
// Ending

/** Closes socket and peer connection; the room stays on screen and local media keeps running. */
function dropConnection() {
  const signal = state.signal;
  state.signal = null;
  signal?.close();
  state.pc?.close();
  state.pc = null;
  state.transceiverByMid = new Map();
  for (const el of document.querySelectorAll('#screen-room video:not(#self-video), #audio-sink audio')) el.srcObject = null;
  $('tiles').replaceChildren();
  $('audio-sink').replaceChildren();
  state.slots = [];
  state.mediaReady = false;
  state.wantedLayers = null;
}

/** Ends the session locally: closes media and socket, forgets the room. Idempotent. */
function teardown() {
  stopReconnecting();
  slotSizes.reset();
  dropConnection();
  stopLocalMedia();
  state.joined = false;
  state.inLobby = false;
  state.self = null;
  state.participants = new Map();
  state.stage = null;
  state.pinned = false;
  state.mode = null;
  state.session = null;
  state.agenda = [];
  state.lobby = null;
  state.history = [];
  state.polls = [];
  state.proxy = null;
  setQueue(null);
  congress.render(); // stops the countdown
  chat.reset();
  notes.reset();
}

function endWith(ended) {
  state.ended = ended;
  state.banner = null;
  renderBanner();
  showScreen('ended');
  renderEnded();
  $('rejoin').focus();
}

async function leave() {
  state.leaving = true;
  const signal = state.reconnect ? null : state.signal;
  if (signal) {
    $('leave').disabled = true;
    $('lobby-leave').disabled = true;
    try {
      await Promise.race([signal.request('leave'), new Promise((resolve) => setTimeout(resolve, 2000))]);
    } catch {
      // Leaving anyway.
    }
    $('leave').disabled = false;
    $('lobby-leave').disabled = false;
    if (state.signal !== signal) return; // the server closed first: handleClose ended it
  }
  teardown();
  endWith(endedFor({ reason: 'left' }));
}

async function rejoin() {
  $('rejoin').disabled = true;
  state.previewError = null;
  state.ended = null;
  showScreen('preview');
  await startPreviewMedia();
  await join();
}

async function toggleMute() {
  const signal = state.signal;
  if (!signal || !state.media.audio) return;
  const muted = !state.muted;
  state.muted = muted;
  state.media.audio.enabled = !muted;
  renderControls();
  announce(muted ? 'announce.muted' : 'announce.unmuted');
  try {
    await signal.request('set_muted', { muted });
  } catch (err) {
    if (signal !== state.signal) return;
    state.muted = !muted;
    state.media.audio.enabled = muted;
    renderControls();
    showError(err.code ?? 'internal');
  }
}

async function toggleCamera() {
  const signal = state.signal;
  if (!signal || !state.media.video) return;
  const on = !state.cameraOn;
  state.cameraOn = on;
  state.media.video.enabled = on;
  renderControls();
  try {
    await signal.request(on ? 'publish' : 'unpublish', { kind: 'video' });
  } catch (err) {
    if (signal !== state.signal) return;
    state.cameraOn = !on;
    state.media.video.enabled = !on;
    renderControls();
    showError(err.code ?? 'internal');
  }
}

/**
 * Sends a command of the current session; resolves with its result, or with null after a
 * failure, which is shown in the banner unless `quiet`, or handed to `onError(code)`.
 */
async function command(cmd, args = {}, { quiet = false, onError = null } = {}) {
  const signal = state.signal;
  if (!signal || !state.joined) {
    onError?.('connection_lost');
    return null;
  }
  try {
    return await signal.request(cmd, args);
  } catch (err) {
    const code = err instanceof ProtocolError ? err.code : 'internal';
    if (quiet) console.info(`plenum: ${cmd} failed: ${code}`);
    else if (onError) {
      state.lastError = code;
      onError(code);
    } else if (signal === state.signal) showError(code);
    return null;
  }
}

function setStage(participantId) {
  return command('set_stage', { participant_id: participantId });
}

// ---------------------------------------------------------------------------------------------
// Test hook

function copy(value) {
  return value == null ? null : JSON.parse(JSON.stringify(value));
}

window.plenumTest = {
  state() {
    return {
      joined: state.joined,
      self: copy(state.self),
      participants: [...state.participants.values()].map(copy),
      slots: state.slots.map((s) => ({ slot: s.slot, mid: s.mid, kind: s.kind, participant_id: s.participant_id ?? null })),
      stage: state.stage,
      activeSpeaker: state.activeSpeaker,
      lastError: state.lastError,
      screen: state.screen,
      mode: state.mode,
      queue: copy(state.queue),
      floorWarned: state.floorWarned,
      history: copy(state.history),
      lobby: copy(state.lobby),
      inLobby: state.inLobby,
      polls: copy(state.polls),
      proxy: state.proxy,
      receipts: copy(state.receipts),
      verifiable: ballots.snapshot(),
      reconnecting: Boolean(state.reconnect),
      sessions: state.sessions,
      mediaReady: state.mediaReady,
      chat: chat.snapshot(),
    };
  },
  /**
   * Casts a vote as the vote panel would, without its checks (e.g. a second time); resolves
   * with `{ receipt }` or `{ error }`, and the page shows the error as it would any other.
   */
  castVote(pollId, choice, holderId = null) {
    return ballots.cast(pollId, choice, holderId);
  },
  /**
   * Sends any command of the current session, for what the UI has no control for (e.g. a
   * moderator's `set_grants` with a vote weight); resolves with the result or `{ error }`.
   */
  async command(cmd, args = {}) {
    let error = null;
    const result = await command(cmd, args, { onError: (code) => (error = code) });
    return result ?? { error: error ?? 'internal' };
  },
  /** Breaks the WebSocket as a network failure would (no `leave`): the client reconnects. */
  breakConnection() {
    state.signal?.ws?.close(4000, 'test: connection broken');
  },
  /** Connection states and SDPs, for diagnosing a failing test. */
  peer() {
    const pc = state.pc;
    if (!pc) return null;
    return {
      connectionState: pc.connectionState,
      iceConnectionState: pc.iceConnectionState,
      signalingState: pc.signalingState,
      localSdp: pc.localDescription?.sdp ?? null,
      remoteSdp: pc.remoteDescription?.sdp ?? null,
    };
  },
  async stats() {
    const out = {
      stage: { framesDecoded: 0, frameWidth: 0, frameHeight: 0, packetsReceived: 0 },
      tiles: [],
      audio: [],
      send: [],
    };
    for (const assignment of state.slots) {
      const entry = await inboundStats(state.transceiverByMid.get(assignment.mid)).catch(() => null);
      const base = { slot: assignment.slot, participant_id: assignment.participant_id ?? null };
      if (assignment.slot === 'stage') {
        out.stage = {
          framesDecoded: entry?.framesDecoded ?? 0,
          frameWidth: entry?.frameWidth ?? 0,
          frameHeight: entry?.frameHeight ?? 0,
          packetsReceived: entry?.packetsReceived ?? 0,
          packetsLost: entry?.packetsLost ?? 0,
          nackCount: entry?.nackCount ?? 0,
          retransmittedPacketsReceived: entry?.retransmittedPacketsReceived ?? 0,
          freezeCount: entry?.freezeCount ?? 0,
          totalFreezesDuration: entry?.totalFreezesDuration ?? 0,
        };
      } else if (assignment.slot.startsWith('tile-')) {
        out.tiles.push({ ...base, framesDecoded: entry?.framesDecoded ?? 0, frameWidth: entry?.frameWidth ?? 0 });
      } else {
        out.audio.push({
          ...base,
          mid: assignment.mid,
          packetsReceived: entry?.packetsReceived ?? 0,
          audioLevel: entry?.audioLevel ?? 0,
          totalAudioEnergy: entry?.totalAudioEnergy ?? 0,
        });
      }
    }
    for (const tr of state.pc?.getTransceivers() ?? []) {
      if (tr.direction === 'sendonly' && tr.sender.track) out.send.push(...(await outboundStats(tr.sender).catch(() => [])));
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Start

/** What the poll panel shows (ballots.js). */
function ballotView() {
  return {
    self: state.self,
    room: state.room,
    polls: state.polls,
    proxy: state.proxy,
    receipts: state.receipts,
    participants: [...state.participants.values()],
    can,
  };
}

/** What the chat panel needs of the room (chat.js). */
function chatView() {
  return { self: state.self, participants: [...state.participants.values()], joined: state.joined, can };
}

/** A chat command (`body`); rejects with the ProtocolError, whose `reason` the chat shows. */
function chatRequest(body) {
  if (!state.signal || !state.joined) return Promise.reject(new ProtocolError('connection_lost'));
  return state.signal.request('plugin', { ns: 'chat', body });
}

/** What the speaker-list panel shows (congress.js). */
function congressView() {
  return {
    self: state.self,
    queue: state.queue,
    queueReceivedAt: state.queueReceivedAt,
    mode: state.mode,
    session: state.session,
    agenda: state.agenda,
    floorWarned: state.floorWarned,
    muted: state.muted,
    history: state.history,
    can: (grant) => can(state.self, grant),
  };
}

function wireControls() {
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.addEventListener('click', () => setLanguage(button.dataset.lang));
  }
  onLanguageChange(() => renderAll());
  $('banner-close').addEventListener('click', () => {
    state.banner = null;
    renderBanner();
  });
  $('preview-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    join();
  });
  $('camera-select').addEventListener('change', (ev) => changeDevice('video', ev.target.value));
  $('mic-select').addEventListener('change', (ev) => changeDevice('audio', ev.target.value));
  $('mute').addEventListener('click', toggleMute);
  $('camera').addEventListener('click', toggleCamera);
  $('leave').addEventListener('click', leave);
  $('lobby-leave').addEventListener('click', leave);
  $('stage-auto').addEventListener('click', () => setStage(null));
  $('rejoin').addEventListener('click', rejoin);
  congress = createCongressPanel({ view: congressView, send: command });
  chat = createChatPanel({ view: chatView, request: chatRequest });
  notes = createNotesPanel({
    view: () => ({ can: (grant) => can(state.self, grant), agenda: state.agenda, session: state.session, room: state.room }),
    request: (body) => (state.signal && state.joined
      ? state.signal.request('plugin', { ns: 'reports', body })
      : Promise.reject(new ProtocolError('connection_lost'))),
  });
  ballots = createBallotPanel({
    view: ballotView,
    send: command,
    onReceipt(pollId, holderId, receipt) {
      state.receipts[pollId] = { ...state.receipts[pollId], [holderId]: receipt };
    },
    onProxy(proxyId) {
      state.proxy = proxyId;
    },
  });
  wireLobby(command, () => renderLobby(state.lobby, command));
  wireActionMenus();
  window.addEventListener('pagehide', () => {
    // Best effort: tell the server at once instead of letting it notice the dropped socket.
    if (state.signal && (state.joined || state.inLobby)) {
      state.leaving = true;
      state.signal.request('leave').catch(() => {});
    }
  });
}

function start() {
  wireControls();
  applyStatic(document);
  renderHeader();
  const token = tokenFromLocation();
  const onJoinPath = location.pathname.replace(/\/+$/, '') === '/join';
  if (!token && onJoinPath) {
    state.invalidKey = 'invite.missing';
    showScreen('invalid');
    renderInvalid();
    return;
  }
  if (!token || location.pathname.replace(/\/+$/, '') === '/activate') {
    // Members: sign in, activate, start page; entering a room hands over a fresh token.
    startAccount({ showScreen, onEnter: enterWithToken, onWatch: (t) => enterWatch(t, { member: true }) });
    return;
  }
  // `#token=…&watch=1`: only watch the stage (a watch-only invite, or a member's choice).
  if (watchRequested()) {
    enterWatch(token);
    return;
  }
  enterWithToken(token);
}

/** Watch the stage with an access token (web/watch.js); a member goes back to the start page. */
function enterWatch(token, { member = false } = {}) {
  const claims = decodeClaims(token);
  if (!claims || isExpired(claims)) {
    state.invalidKey = claims ? 'invite.expired' : 'invite.malformed';
    showScreen('invalid');
    renderInvalid();
    return;
  }
  startWatch({ token, claims, showScreen, onLeave: member ? () => location.assign('/') : null });
}

/** Greet and preview with an access token (from an invite link or a member's start page). */
/** Enter a room with a member's access token; `media: false` ("write") skips the camera. */
function enterWithToken(token, { media = true } = {}) {
  state.token = token;
  state.claims = decodeClaims(state.token);
  if (!state.claims) {
    state.invalidKey = 'invite.malformed';
    showScreen('invalid');
    renderInvalid();
    return;
  }
  showScreen('preview');
  renderPreview();
  if (media) startPreviewMedia();
}

start();
