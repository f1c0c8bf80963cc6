// Plenum browser client: invite → preview → room → ended.
//
// One module-level `state` object holds everything; protocol messages and button presses
// change it and then call the render function of what they touched. Texts on screen are kept
// as i18n keys/codes in the state, so switching the language re-renders them.
// `window.plenumTest` exposes state and receive statistics to the end-to-end test.

import { t, errorText, closingText, roleText, language, setLanguage, onLanguageChange, applyStatic } from './i18n.js';
import { tokenFromLocation, decodeClaims, isExpired } from './invite.js';
import { Signal, ProtocolError, PROTOCOL_VERSION, signalUrl } from './signal.js';
import { captureMedia, captureKind, listDevices, stopTracks, createPeer, makeOffer, inboundStats, outboundStats } from './media.js';

const $ = (id) => document.getElementById(id);
const ROLE_ORDER = { moderator: 0, delegate: 1, observer: 2 };
/** Join errors after which trying again with the same link cannot help. */
const FINAL_JOIN_ERRORS = new Set(['invalid_token', 'token_expired', 'unsupported_version']);

const state = {
  token: null,
  claims: null,
  screen: 'landing',
  invalidKey: null,

  // Preview and local media.
  media: { audio: null, video: null, notice: null, starting: false },
  devices: { cameras: [], microphones: [] },
  chosen: { audioDeviceId: null, videoDeviceId: null },
  joining: false,
  previewError: null, // { code } or { key }

  // Session.
  signal: null,
  joined: false,
  leaving: false,
  self: null,
  room: null,
  participants: new Map(), // id → participant, self included
  stage: null,
  pinned: false,
  slots: [], // slot assignments as the server sent them
  pc: null,
  transceiverByMid: new Map(),
  mediaReady: false,
  muted: false,
  cameraOn: true,
  lastError: null,
  banner: null, // { code } or { key }
  ended: null, // { titleKey, text: { key } | { closing } | { code }, buttonKey }
};

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

function icon(name, cls = 'icon') {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  const use = document.createElementNS('http://www.w3.org/2000/svg', 'use');
  use.setAttribute('href', `#i-${name}`);
  svg.append(use);
  return svg;
}

function setIcon(button, name) {
  button.querySelector('use')?.setAttribute('href', `#i-${name}`);
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
  const observer = claims.role === 'observer';
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
  const span = document.createElement('span');
  span.className = `status ${cls}`;
  span.setAttribute('role', 'img');
  span.setAttribute('aria-label', label);
  span.title = label;
  span.append(icon(name));
  return span;
}

function renderParticipants() {
  const list = $('participants');
  const people = sortedParticipants();
  $('participants-heading').textContent = t('participants.title', { n: people.length });
  const isModerator = state.self?.role === 'moderator';
  const items = people.map((p) => {
    const li = document.createElement('li');
    li.className = 'participant';
    li.dataset.testid = 'participant';
    li.dataset.participantId = p.id;
    if (p.id === state.stage) li.classList.add('on-stage');

    const avatar = document.createElement('span');
    avatar.className = 'avatar';
    avatar.setAttribute('aria-hidden', 'true');
    avatar.textContent = initials(p.name);

    const main = document.createElement('span');
    main.className = 'participant-main';
    const name = document.createElement('span');
    name.className = 'participant-name';
    name.textContent = p.name;
    if (p.id === state.self?.id) {
      const you = document.createElement('span');
      you.className = 'you';
      you.textContent = ` ${t('participants.you')}`;
      name.append(you);
    }
    if (p.id === state.stage) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = t('status.onStage');
      name.append(badge);
    }
    const role = document.createElement('span');
    role.className = 'participant-role';
    role.textContent = roleText(p.role);
    main.append(name, role);

    const status = document.createElement('span');
    status.className = 'participant-status';
    if (!p.audio) status.append(statusIcon('mic-off', t('status.micNone'), 'off'));
    else if (p.muted) status.append(statusIcon('mic-off', t('status.muted'), 'muted'));
    else status.append(statusIcon('mic', t('status.micOn'), 'on'));
    status.append(p.video ? statusIcon('cam', t('status.camOn'), 'on') : statusIcon('cam-off', t('status.camOff'), 'off'));

    li.append(avatar, main, status);

    if (isModerator) {
      const pinnedHere = state.pinned && state.stage === p.id;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'icon-button';
      if (pinnedHere) {
        const label = t('participants.releaseLabel');
        button.classList.add('pinned');
        button.dataset.testid = 'release-stage';
        button.setAttribute('aria-label', label);
        button.title = label;
        button.append(icon('auto'));
        button.addEventListener('click', () => setStage(null));
      } else {
        const label = t('participants.putOnStageLabel', { name: p.name });
        button.dataset.testid = 'put-on-stage';
        button.setAttribute('aria-label', label);
        button.title = label;
        button.append(icon('stage'));
        button.addEventListener('click', () => setStage(p.id));
      }
      li.append(button);
    }
    return li;
  });
  // Keep keyboard focus on the same control across re-renders.
  const focused = document.activeElement;
  const focusKey = list.contains(focused)
    ? [focused.closest('[data-participant-id]')?.dataset.participantId, focused.dataset.testid]
    : null;
  list.replaceChildren(...items);
  if (focusKey) {
    const again = list.querySelector(`[data-participant-id="${CSS.escape(focusKey[0] ?? '')}"] [data-testid="${focusKey[1]}"]`)
      ?? list.querySelector(`[data-participant-id="${CSS.escape(focusKey[0] ?? '')}"] button`);
    again?.focus();
  }
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
    caption += ` · ${state.pinned ? t('stage.pinned') : t('stage.automatic')}`;
  }
  $('stage-caption').textContent = caption;
  $('stage-auto').hidden = !(state.self?.role === 'moderator' && state.pinned);
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
  const selfView = $('self-view');
  selfView.hidden = !(hasVideo && state.cameraOn);
  const selfVideo = $('self-video');
  if (hasVideo && selfVideo.srcObject?.getVideoTracks()[0] !== state.media.video) {
    selfVideo.srcObject = new MediaStream([state.media.video]);
  } else if (!hasVideo) {
    selfVideo.srcObject = null;
  }
}

function renderRoom() {
  renderParticipants();
  renderStage();
  renderTiles();
  renderAudio();
  renderControls();
}

function renderEnded() {
  if (!state.ended) return;
  $('ended-title').textContent = t(state.ended.titleKey);
  $('ended-text').textContent = messageText(state.ended.text);
  $('ended-text').hidden = !state.ended.text;
  const button = $('rejoin');
  button.textContent = state.joining ? t('preview.joining') : t(state.ended.buttonKey);
  button.disabled = state.joining;
}

function renderAll() {
  applyStatic(document);
  renderHeader();
  renderBanner();
  renderInvalid();
  renderPreview();
  if (state.joined) renderRoom();
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
  if (state.claims?.role === 'observer') return;
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
  if (state.joining || state.joined) return;
  state.joining = true;
  state.previewError = null;
  state.banner = null;
  state.leaving = false;
  renderBanner();
  renderPreview();
  renderEnded();

  const signal = new Signal(signalUrl(), {
    onEvent: (msg) => handleEvent(signal, msg),
    onClose: (closing) => handleClose(signal, closing),
    onStrayError: (code) => showError(code),
  });
  state.signal = signal;
  let result;
  try {
    await signal.open();
    result = await signal.request('join', { protocol: PROTOCOL_VERSION, token: state.token });
  } catch (err) {
    const code = err instanceof ProtocolError ? err.code : 'internal';
    state.lastError = code;
    state.joining = false;
    state.signal = null;
    signal.close();
    state.previewError = { code, final: FINAL_JOIN_ERRORS.has(code) };
    // Nothing will change with this link: switch the camera off rather than keep filming.
    if (state.previewError.final) stopLocalMedia();
    showScreen('preview');
    renderPreview();
    return;
  }

  state.joining = false;
  state.joined = true;
  state.self = result.participant;
  state.room = result.room ?? null;
  state.participants = new Map([[result.participant.id, result.participant]]);
  for (const p of result.participants ?? []) state.participants.set(p.id, p);
  state.stage = result.stage ?? null;
  state.pinned = Boolean(result.pinned); // sent by the server, not (yet) in docs/protocol.md
  state.slots = [];
  state.muted = Boolean(result.participant.muted);
  state.cameraOn = true;
  state.mediaReady = false;
  showScreen('room');
  renderHeader();
  renderRoom();
  $('leave').focus();

  try {
    await connectMedia(signal, result.slots ?? { stage: 1, tiles: 0, audio: 0 });
  } catch (err) {
    if (signal !== state.signal) return;
    console.warn('plenum: media setup failed', err);
    showError(err instanceof ProtocolError ? err.code : 'internal');
  }
}

async function connectMedia(signal, slotCounts) {
  const publishing = state.self.role !== 'observer';
  const audioTrack = publishing ? state.media.audio : null;
  const videoTrack = publishing ? state.media.video : null;
  if (!publishing) stopLocalMedia();

  const { pc } = createPeer({ audioTrack, videoTrack, slots: slotCounts });
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
    await signal.request('publish', { kind: 'audio' });
    if (state.muted) await signal.request('set_muted', { muted: true });
  }
  if (videoTrack) await signal.request('publish', { kind: 'video' });
  state.mediaReady = true;
  renderControls();
}

/** Creates one <video>/<audio> per receive slot of the answer and binds it to its transceiver. */
function buildSlotElements() {
  const tiles = $('tiles');
  const sink = $('audio-sink');
  tiles.replaceChildren();
  sink.replaceChildren();
  for (const assignment of state.slots) {
    const transceiver = state.transceiverByMid.get(assignment.mid);
    if (!transceiver) {
      console.warn('plenum: slot without a matching transceiver', assignment);
      continue;
    }
    const stream = new MediaStream([transceiver.receiver.track]);
    if (assignment.slot === 'stage') {
      attach($('stage-video'), stream);
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

function handleEvent(signal, msg) {
  if (signal !== state.signal || !state.joined) return;
  switch (msg.event) {
    case 'participant_joined': {
      state.participants.set(msg.participant.id, msg.participant);
      renderRoom();
      announce('announce.joined', { name: msg.participant.name });
      break;
    }
    case 'participant_left': {
      const gone = state.participants.get(msg.participant_id);
      state.participants.delete(msg.participant_id);
      renderRoom();
      if (gone) announce('announce.left', { name: gone.name });
      break;
    }
    case 'participant_updated': {
      const p = msg.participant;
      state.participants.set(p.id, p);
      if (p.id === state.self?.id) {
        state.self = p;
        if (state.media.audio && p.muted !== state.muted) {
          state.muted = p.muted;
          state.media.audio.enabled = !p.muted;
        }
      }
      renderRoom();
      break;
    }
    case 'stage_changed': {
      state.stage = msg.participant_id ?? null;
      state.pinned = Boolean(msg.pinned);
      renderRoom();
      if (state.stage) announce('announce.stage', { name: participantName(state.stage) });
      else announce('announce.stageEmpty');
      break;
    }
    case 'slots_changed': {
      // Merge by slot name: works whether the server sends all slots or only the changed ones.
      for (const changed of msg.slots ?? []) {
        const existing = slotNamed(changed.slot);
        if (existing) Object.assign(existing, changed);
        else state.slots.push({ ...changed });
      }
      renderStage();
      renderTiles();
      renderAudio();
      break;
    }
    case 'closing':
      // Handled when the socket closes (Signal keeps the event for onClose).
      break;
    default:
      console.info('plenum: ignoring event', msg.event);
  }
}

function handleClose(signal, closing) {
  if (signal !== state.signal) return;
  if (!state.joined) return; // a failed join is reported by join() itself
  teardown();
  if (state.leaving) {
    endWith({ titleKey: 'ended.leftTitle', text: null, buttonKey: 'ended.rejoin' });
    return;
  }
  const reason = closing?.reason ?? null;
  if (!closing) state.lastError = 'connection_lost';
  if (reason === 'left') {
    endWith({ titleKey: 'ended.leftTitle', text: null, buttonKey: 'ended.rejoin' });
  } else {
    endWith({
      titleKey: 'ended.closedTitle',
      text: closing ? { closing: reason } : { code: 'connection_lost' },
      buttonKey: reason === 'replaced' ? 'ended.continueHere' : 'ended.rejoin',
    });
  }
}

/** Ends the session locally: closes media and socket, forgets the room. Idempotent. */
function teardown() {
  const signal = state.signal;
  state.signal = null;
  signal?.close();
  state.pc?.close();
  state.pc = null;
  state.transceiverByMid = new Map();
  for (const el of document.querySelectorAll('#screen-room video, #audio-sink audio')) el.srcObject = null;
  $('tiles').replaceChildren();
  $('audio-sink').replaceChildren();
  stopLocalMedia();
  state.joined = false;
  state.mediaReady = false;
  state.self = null;
  state.participants = new Map();
  state.slots = [];
  state.stage = null;
  state.pinned = false;
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
  const signal = state.signal;
  if (!signal) return;
  state.leaving = true;
  $('leave').disabled = true;
  try {
    await Promise.race([signal.request('leave'), new Promise((resolve) => setTimeout(resolve, 2000))]);
  } catch {
    // Leaving anyway.
  }
  $('leave').disabled = false;
  if (state.signal === signal) {
    teardown();
    endWith({ titleKey: 'ended.leftTitle', text: null, buttonKey: 'ended.rejoin' });
  }
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

async function setStage(participantId) {
  const signal = state.signal;
  if (!signal) return;
  try {
    await signal.request('set_stage', { participant_id: participantId });
  } catch (err) {
    if (signal === state.signal) showError(err.code ?? 'internal');
  }
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
      lastError: state.lastError,
      screen: state.screen,
    };
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
        };
      } else if (assignment.slot.startsWith('tile-')) {
        out.tiles.push({ ...base, framesDecoded: entry?.framesDecoded ?? 0, frameWidth: entry?.frameWidth ?? 0 });
      } else {
        out.audio.push({ ...base, packetsReceived: entry?.packetsReceived ?? 0 });
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
  $('stage-auto').addEventListener('click', () => setStage(null));
  $('rejoin').addEventListener('click', rejoin);
  window.addEventListener('pagehide', () => {
    // Best effort: tell the server at once instead of letting it notice the dropped socket.
    if (state.signal && state.joined) {
      state.leaving = true;
      state.signal.request('leave').catch(() => {});
    }
  });
}

function start() {
  wireControls();
  applyStatic(document);
  renderHeader();
  state.token = tokenFromLocation();
  if (!state.token) {
    const onJoinPath = location.pathname.replace(/\/+$/, '') === '/join';
    state.invalidKey = onJoinPath ? 'invite.missing' : null;
    showScreen(onJoinPath ? 'invalid' : 'landing');
    renderInvalid();
    return;
  }
  state.claims = decodeClaims(state.token);
  if (!state.claims) {
    state.invalidKey = 'invite.malformed';
    showScreen('invalid');
    renderInvalid();
    return;
  }
  showScreen('preview');
  renderPreview();
  startPreviewMedia();
}

start();
