// The watch page: members who are not delegates (and anyone with a watch-only invite) watch
// the congress stage with its sound, without camera, microphone or the room's WebSocket.
//
// With an access token (an invite link's `#token=…&watch=1`, or a signed-in member's room
// token) it asks the origin where to watch — `GET /api/cluster/placement/{room}` — and plays
// the stage over WHEP at the node it names, usually an edge (docs/protocol.md, "Watching at an
// edge node"): one recvonly video m-line (the stage) and recvonly audio m-lines (the floor and
// the speakers), the offer posted once ICE gathering is complete (the server is ICE-lite and
// takes no trickle). When the connection fails (`failed`, or `disconnected` for more than 2 s),
// when the WHEP POST fails, or when the media stalls and the node no longer answers, it asks
// for a place again and reconnects: that is how viewers move to another edge when one dies.
// Leaving (or closing the page) DELETEs the WHEP session.

import { $ } from './dom.js';
import { makeOffer } from './media.js';
import { t, onLanguageChange } from './i18n.js';

/** Audio m-lines in the offer: the edge relays the floor and two speaker slots. */
const AUDIO_M_LINES = 3;
/** How long `disconnected` may last before we look for another place. */
const DISCONNECTED_GRACE_MS = 2000;
/** No packet for this long: ask the node whether it is still there. */
const STALL_MS = 1000;
/** A living node with a quiet stage is asked again at most this often. */
const PROBE_EVERY_MS = 3000;
const PROBE_TIMEOUT_MS = 1500;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;
const STATS_EVERY_MS = 500;

/** Whether the URL asks for the watch page (`#token=…&watch=1`). */
export function watchRequested(loc = location) {
  return new URLSearchParams(loc.hash.replace(/^#/, '')).has('watch');
}

/** A failed step: `status` is the HTTP status (0: no answer), `fatal` stops retrying. */
class WatchError extends Error {
  constructor(key, status = 0, fatal = false) {
    super(key);
    this.key = key;
    this.status = status;
    this.fatal = fatal;
  }
}

function httpError(status) {
  if (status === 401) return new WatchError('watch.error.unauthorized', status, true);
  if (status === 403) return new WatchError('watch.error.forbidden', status, true);
  if (status === 503) return new WatchError('watch.error.full', status);
  return new WatchError('watch.error.http', status);
}

/**
 * Starts watching `claims.room` with `token` on the watch screen. `onLeave()` runs after the
 * viewer left (a member goes back to the start page). Returns { leave }.
 */
export function startWatch({ token, claims, showScreen, onLeave = null }) {
  const room = claims.room;
  const video = $('watch-video');
  const auth = { Authorization: `Bearer ${token}` };
  const w = {
    status: 'placing', // placing | connecting | connected | playing | retrying | left | error
    errorKey: null,
    errorStatus: 0,
    node: null,
    whep: null,
    resource: null, // the session's URL (Location), to DELETE
    pc: null,
    audios: [],
    unmuted: false,
    epoch: 0,
    attempts: 0,
    reconnects: 0,
    lastReason: null,
    packets: 0,
    lastGrowth: 0,
    lastProbe: 0,
    probing: false,
    framesDecoded: 0,
    disconnectedTimer: null,
    retryTimer: null,
    statsTimer: null,
    events: [], // { at, what, node } for diagnosis (and the end-to-end test)
  };

  const log = (what, extra = {}) => {
    w.events.push({ at: Date.now(), what, node: w.node, ...extra });
    if (w.events.length > 50) w.events.shift();
  };

  function render() {
    const live = w.status === 'playing';
    $('watch-status').textContent = w.status === 'error'
      ? t(w.errorKey, { status: w.errorStatus })
      : t(`watch.${w.status}`);
    $('watch-status').dataset.status = w.status;
    $('watch-empty').textContent = live ? '' : t(w.status === 'error' ? w.errorKey : `watch.${w.status}`, { status: w.errorStatus });
    $('watch-empty').hidden = live;
    $('watch-node').textContent = !w.node ? '' : w.node === 'origin' ? t('watch.nodeOrigin') : t('watch.node', { node: w.node });
    $('watch-node').dataset.node = w.node ?? '';
    const over = w.status === 'left' || w.status === 'error';
    $('watch-unmute').hidden = over;
    const label = w.unmuted ? t('watch.mute') : t('watch.unmute');
    $('watch-unmute-text').textContent = label;
    $('watch-unmute').setAttribute('aria-pressed', String(w.unmuted));
    $('watch-leave').hidden = over;
    $('watch-again').hidden = !over || w.errorKey === 'watch.error.forbidden';
    $('room-name').textContent = room;
  }

  function setStatus(status) {
    if (w.status === status) return;
    w.status = status;
    log(status);
    render();
  }

  /** Ends the current session: closes the connection, DELETEs the session (best effort). */
  function teardown({ keepalive = false } = {}) {
    clearTimeout(w.disconnectedTimer);
    w.disconnectedTimer = null;
    if (w.pc) {
      w.pc.onconnectionstatechange = null;
      w.pc.ontrack = null;
      w.pc.close();
      w.pc = null;
    }
    for (const a of w.audios) {
      a.srcObject = null;
      a.remove();
    }
    w.audios = [];
    video.srcObject = null;
    w.framesDecoded = 0;
    w.packets = 0;
    const resource = w.resource;
    w.resource = null;
    if (resource) {
      // A dead node refuses at once; nobody waits for this.
      return fetch(resource, { method: 'DELETE', headers: auth, keepalive, cache: 'no-store' })
        .then((r) => log('deleted', { status: r.status }))
        .catch(() => log('delete_failed'));
    }
    return Promise.resolve();
  }

  async function placement() {
    let resp;
    try {
      resp = await fetch(`/api/cluster/placement/${encodeURIComponent(room)}`, { headers: auth, cache: 'no-store' });
    } catch {
      throw new WatchError('watch.error.origin');
    }
    if (!resp.ok) throw httpError(resp.status);
    const body = await resp.json();
    if (typeof body?.whep !== 'string' || typeof body?.node !== 'string') throw new WatchError('watch.error.http', resp.status);
    return body;
  }

  function playAudio(track) {
    const a = document.createElement('audio');
    a.autoplay = true;
    a.muted = !w.unmuted;
    a.dataset.testid = 'watch-audio';
    a.srcObject = new MediaStream([track]);
    $('watch-audio').append(a);
    w.audios.push(a);
    a.play().catch(() => {});
  }

  async function connect() {
    const my = ++w.epoch;
    clearTimeout(w.retryTimer);
    teardown();
    setStatus(w.reconnects > 0 || w.attempts > 0 ? 'retrying' : 'placing');
    try {
      const place = await placement();
      if (my !== w.epoch) return;
      w.node = place.node;
      w.whep = new URL(place.whep, location.href).href;
      log('placed', { whep: w.whep });
      render();

      const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
      w.pc = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      for (let i = 0; i < AUDIO_M_LINES; i++) pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.ontrack = (ev) => {
        if (ev.track.kind === 'video') {
          video.srcObject = new MediaStream([ev.track]);
          video.play().catch(() => {});
        } else {
          playAudio(ev.track);
        }
      };
      pc.onconnectionstatechange = () => connectionChanged(my, pc);
      const offer = await makeOffer(pc);
      if (my !== w.epoch) return;
      setStatus('connecting');
      let resp;
      try {
        resp = await fetch(w.whep, {
          method: 'POST',
          headers: { ...auth, 'Content-Type': 'application/sdp' },
          body: offer,
          cache: 'no-store',
        });
      } catch {
        // Refused, unreachable, or not allowed (CORS, CSP): another place may do.
        throw new WatchError('watch.error.node');
      }
      if (resp.status !== 201) throw httpError(resp.status);
      const location_ = resp.headers.get('Location');
      const resource = location_ ? new URL(location_, w.whep).href : null;
      if (my !== w.epoch) {
        if (resource) fetch(resource, { method: 'DELETE', headers: auth }).catch(() => {});
        return;
      }
      w.resource = resource;
      await pc.setRemoteDescription({ type: 'answer', sdp: await resp.text() });
      log('answered', { resource });
      w.lastGrowth = Date.now();
    } catch (err) {
      if (my !== w.epoch) return;
      failed(err instanceof WatchError ? err : new WatchError('watch.error.node'));
    }
  }

  function failed(err) {
    log('failed', { key: err.key, status: err.status });
    if (err.fatal) {
      teardown();
      w.errorKey = err.key;
      w.errorStatus = err.status;
      setStatus('error');
      render();
      return;
    }
    retry(err.key);
  }

  /** Ask for a place again: at once the first time, then backing off. */
  function retry(reason) {
    if (w.status === 'left' || w.status === 'error') return;
    w.lastReason = reason;
    w.reconnects += 1;
    w.epoch += 1; // the old attempt's callbacks are void from here on
    teardown();
    setStatus('retrying');
    const delay = w.attempts === 0 ? 0 : Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (w.attempts - 1));
    w.attempts += 1;
    clearTimeout(w.retryTimer);
    w.retryTimer = setTimeout(connect, delay);
  }

  function connectionChanged(my, pc) {
    if (my !== w.epoch || pc !== w.pc) return;
    const state = pc.connectionState;
    log(`pc_${state}`);
    if (state === 'connected') {
      clearTimeout(w.disconnectedTimer);
      w.disconnectedTimer = null;
      w.attempts = 0;
      if (w.status !== 'playing') setStatus('connected');
    } else if (state === 'failed') {
      retry('failed');
    } else if (state === 'disconnected' && !w.disconnectedTimer) {
      w.disconnectedTimer = setTimeout(() => {
        w.disconnectedTimer = null;
        if (my === w.epoch && pc === w.pc && pc.connectionState !== 'connected') retry('disconnected');
      }, DISCONNECTED_GRACE_MS);
    }
  }

  /** Whether the node serving us still answers (no-cors: any answer counts, a refusal not). */
  async function probe(my) {
    w.probing = true;
    w.lastProbe = Date.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), PROBE_TIMEOUT_MS);
    let alive = true;
    try {
      await fetch(new URL('/healthz', w.whep).href, { mode: 'no-cors', cache: 'no-store', signal: abort.signal });
    } catch {
      alive = false;
    } finally {
      clearTimeout(timer);
      w.probing = false;
    }
    if (my !== w.epoch) return;
    log('probe', { alive });
    if (!alive) retry('node_gone');
  }

  async function inbound() {
    const pc = w.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    const out = { video: null, audio: [] };
    for (const e of report.values()) {
      if (e.type !== 'inbound-rtp') continue;
      const entry = {
        packetsReceived: e.packetsReceived ?? 0,
        bytesReceived: e.bytesReceived ?? 0,
        framesDecoded: e.framesDecoded ?? 0,
        frameWidth: e.frameWidth ?? 0,
        frameHeight: e.frameHeight ?? 0,
        totalAudioEnergy: e.totalAudioEnergy ?? 0,
        keyFramesDecoded: e.keyFramesDecoded ?? 0,
        pliCount: e.pliCount ?? 0,
        nackCount: e.nackCount ?? 0,
        packetsLost: e.packetsLost ?? 0,
        freezeCount: e.freezeCount ?? 0,
      };
      if (e.kind === 'video') out.video = entry;
      else out.audio.push(entry);
    }
    return out;
  }

  async function tick() {
    const my = w.epoch;
    const s = await inbound().catch(() => null);
    if (!s || my !== w.epoch || !w.resource) return;
    const packets = (s.video?.packetsReceived ?? 0) + s.audio.reduce((n, a) => n + a.packetsReceived, 0);
    const now = Date.now();
    if (packets > w.packets) {
      w.packets = packets;
      w.lastGrowth = now;
    }
    w.framesDecoded = s.video?.framesDecoded ?? 0;
    if (w.framesDecoded > 0 && w.pc?.connectionState === 'connected' && w.status !== 'playing') {
      setStatus('playing');
      w.attempts = 0;
    }
    // A quiet stage looks like a dead node: ask the node before moving.
    if (now - w.lastGrowth > STALL_MS && !w.probing && now - w.lastProbe > (w.status === 'playing' ? STALL_MS : PROBE_EVERY_MS)) {
      probe(my);
    }
  }

  function toggleSound() {
    w.unmuted = !w.unmuted;
    for (const a of w.audios) {
      a.muted = !w.unmuted;
      if (w.unmuted) a.play().catch(() => {});
    }
    render();
  }

  async function leave() {
    if (w.status === 'left') return;
    w.epoch += 1;
    clearTimeout(w.retryTimer);
    const deleted = teardown();
    w.node = null;
    setStatus('left');
    await Promise.race([deleted, new Promise((r) => setTimeout(r, 2000))]);
    onLeave?.();
  }

  function again() {
    w.errorKey = null;
    w.attempts = 0;
    w.status = 'placing';
    connect();
  }

  $('watch-unmute').addEventListener('click', toggleSound);
  $('watch-leave').addEventListener('click', leave);
  $('watch-again').addEventListener('click', again);
  window.addEventListener('pagehide', () => {
    w.epoch += 1;
    teardown({ keepalive: true });
  });
  onLanguageChange(render);

  window.plenumTest = Object.assign(window.plenumTest ?? {}, {
    watch: () => ({
      status: w.status,
      node: w.node,
      whep: w.whep,
      resource: w.resource,
      unmuted: w.unmuted,
      reconnects: w.reconnects,
      lastReason: w.lastReason,
      connectionState: w.pc?.connectionState ?? null,
      audioElements: w.audios.map((a) => ({ muted: a.muted, paused: a.paused })),
      videoPaused: video.paused,
      events: w.events.slice(),
    }),
    watchStats: () => inbound(),
  });

  showScreen('watch');
  render();
  w.statsTimer = setInterval(tick, STATS_EVERY_MS);
  connect();
  return { leave };
}
