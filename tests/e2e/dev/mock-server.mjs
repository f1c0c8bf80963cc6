// A stand-in for the Plenum server, for working on web/ without the Rust server: serves web/
// the way the server does (`/`, `/join` → index.html, `/assets/<file>`) over plain HTTP on
// 127.0.0.1 and answers the signalling protocol with a scripted room. Media comes from a
// "fake SFU" page (/dev/sfu.html) that a browser must open first: it answers each client's offer
// with its own fake camera and microphone in every receive slot.
//
// `demoPeople` adds five scripted participants; without them the room holds only the clients
// that joined, and slots follow the protocol's rules (stage: the pinned participant or the
// first camera; tiles: other cameras; audio: other unmuted microphones).
//
// Not used by the real end-to-end test. Run: `node tests/e2e/dev/mock-server.mjs` (prints the
// URL), or import startMockServer() as dev/screenshots.mjs and dev/fake-plenum.mjs do.

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const WEB_DIR = path.resolve(here, '../../../web');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

const ROOM = { id: 'demo', name: 'Demo-Parteitag' };
const EXTRA_PEOPLE = [
  { id: 'p-anna', name: 'Anna Beispiel', role: 'moderator', audio: true, video: true, muted: false },
  { id: 'p-bernd', name: 'Bernd Muster', role: 'delegate', audio: true, video: true, muted: true },
  { id: 'p-cem', name: 'Cem Yılmaz', role: 'delegate', audio: true, video: true, muted: false },
  { id: 'p-dora', name: 'Dora Schmidt-Leutheusser', role: 'delegate', audio: true, video: false, muted: false },
  { id: 'p-emil', name: 'Emil Gast', role: 'observer', audio: false, video: false, muted: false },
];


function decodeClaims(token) {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
  } catch {
    return null;
  }
}

/** Mid of every m-line of an offer, with kind and direction, in order. */
function offerLines(sdp) {
  return sdp.split(/\r?\nm=/).slice(1).map((section) => ({
    kind: section.startsWith('audio') ? 'audio' : 'video',
    mid: /a=mid:(\S+)/.exec(section)?.[1],
    direction: /a=(sendonly|recvonly|sendrecv|inactive)/.exec(section)?.[1],
  }));
}

export async function startMockServer({ port = 0, withSignalling = true, demoPeople = true } = {}) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    let file = null;
    if (url.pathname === '/' || url.pathname === '/join') file = 'index.html';
    else if (url.pathname.startsWith('/assets/')) file = path.basename(url.pathname);
    try {
      let body;
      if (url.pathname === '/dev/sfu.html') body = await readFile(path.join(here, 'fake-sfu.html'));
      else if (file) body = await readFile(path.join(WEB_DIR, file));
      else throw new Error('not found');
      file ??= 'x.html';
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });

  const clients = new Map(); // client number → { ws, self, recv: [{kind, mid}] }
  const extras = demoPeople ? EXTRA_PEOPLE.map((p) => ({ ...p })) : [];
  let sfu = null;
  const waitingAnswers = new Map();
  let nextClient = 1;
  let pinned = null;
  let stage = null;

  if (withSignalling) {
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      const pathname = new URL(req.url, 'http://x').pathname;
      if (pathname !== '/ws' && pathname !== '/sfu') {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => (pathname === '/sfu' ? onSfu(ws) : onClient(ws)));
    });
  } else {
    server.on('upgrade', (req, socket) => socket.destroy());
  }

  function onSfu(ws) {
    sfu = ws;
    ws.on('message', (data) => {
      const { client, sdp } = JSON.parse(data);
      waitingAnswers.get(client)?.(sdp);
      waitingAnswers.delete(client);
    });
  }

  const joined = () => [...clients.values()].filter((c) => c.self);
  const people = () => [...extras, ...joined().map((c) => c.self)];

  function broadcast(msg, except) {
    for (const c of joined()) if (c !== except) c.ws.send(JSON.stringify(msg));
  }

  /** What each receive slot of client `c` shows: stage, then other cameras, then other microphones. */
  function assignments(c) {
    const others = people().filter((p) => p.id !== c.self.id);
    const tiles = others.filter((p) => p.video && p.id !== stage);
    const audio = others.filter((p) => p.audio && !p.muted);
    const video = c.recv.filter((l) => l.kind === 'video');
    return [
      ...video.map((l, i) => ({ slot: i === 0 ? 'stage' : `tile-${i - 1}`, mid: l.mid, kind: 'video', participant_id: (i === 0 ? stage : tiles[i - 1]?.id) ?? null })),
      ...c.recv.filter((l) => l.kind === 'audio').map((l, i) => ({ slot: `audio-${i}`, mid: l.mid, kind: 'audio', participant_id: audio[i]?.id ?? null })),
    ];
  }

  /** Recomputes stage and slots after any change and tells whoever is affected. */
  function update() {
    const all = people();
    const next = (pinned && all.some((p) => p.id === pinned) ? pinned : null) ?? all.find((p) => p.video)?.id ?? null;
    if (pinned && !all.some((p) => p.id === pinned)) pinned = null;
    if (next !== stage) {
      stage = next;
      broadcast({ event: 'stage_changed', participant_id: stage, pinned: Boolean(pinned) });
    }
    for (const c of joined()) {
      if (!c.recv.length) continue;
      const slots = assignments(c);
      if (JSON.stringify(slots) !== JSON.stringify(c.slots)) {
        c.slots = slots;
        c.ws.send(JSON.stringify({ event: 'slots_changed', slots }));
      }
    }
  }

  function onClient(ws) {
    const me = { ws, self: null, number: nextClient++, recv: [], slots: null };
    const send = (msg) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(msg));
    const ok = (id, result = {}) => send({ id, ok: true, result });
    const fail = (id, code, message = code) => send({ id, ok: false, error: { code, message } });
    ws.on('close', () => {
      clients.delete(me.number);
      if (me.self) {
        broadcast({ event: 'participant_left', participant_id: me.self.id }, me);
        update();
      }
    });
    ws.on('message', async (data) => {
      let msg;
      try {
        msg = JSON.parse(data);
      } catch {
        fail(null, 'bad_request');
        return;
      }
      const { id, cmd } = msg;
      if (cmd === 'ping') return ok(id);
      if (cmd === 'join') {
        if (me.self) return fail(id, 'already_joined');
        if (msg.protocol !== 1) {
          fail(id, 'unsupported_version');
          send({ event: 'closing', reason: 'error' });
          return ws.close();
        }
        const claims = decodeClaims(msg.token ?? '');
        if (!claims || claims.name.includes('expired')) {
          fail(id, claims ? 'token_expired' : 'invalid_token');
          send({ event: 'closing', reason: 'error' });
          return ws.close();
        }
        for (const other of joined()) {
          if (other.self.id === claims.sub) {
            other.ws.send(JSON.stringify({ event: 'closing', reason: 'replaced' }));
            other.self = null;
            other.ws.close();
          }
        }
        const others = people().filter((p) => p.id !== claims.sub);
        me.self = { id: claims.sub, name: claims.name, role: claims.role, audio: false, video: false, muted: false };
        clients.set(me.number, me);
        ok(id, { participant: me.self, room: ROOM, participants: others, stage, slots: { stage: 1, tiles: 8, audio: 3 } });
        broadcast({ event: 'participant_joined', participant: me.self }, me);
        if (demoPeople) setTimeout(() => me.self && send({ event: 'participant_updated', participant: { ...EXTRA_PEOPLE[2], muted: true } }), 1500);
        return;
      }
      if (!me.self) return fail(id, 'not_joined');
      switch (cmd) {
        case 'offer': {
          if (!sfu) return fail(id, 'media_unavailable', 'open /dev/sfu.html first');
          const answer = await new Promise((resolve) => {
            waitingAnswers.set(me.number, resolve);
            sfu.send(JSON.stringify({ client: me.number, sdp: msg.sdp }));
          });
          me.recv = offerLines(msg.sdp).filter((l) => l.direction === 'recvonly');
          me.slots = assignments(me);
          ok(id, { sdp: answer, slots: me.slots });
          return;
        }
        case 'publish':
        case 'unpublish':
          if (me.self.role === 'observer') return fail(id, 'forbidden');
          me.self = { ...me.self, [msg.kind]: cmd === 'publish' };
          ok(id);
          broadcast({ event: 'participant_updated', participant: me.self });
          update();
          return;
        case 'set_muted':
          me.self = { ...me.self, muted: Boolean(msg.muted) };
          ok(id);
          broadcast({ event: 'participant_updated', participant: me.self });
          update();
          return;
        case 'set_stage':
          if (me.self.role !== 'moderator') return fail(id, 'forbidden', 'only moderators may set the stage');
          if (msg.participant_id != null && !people().some((p) => p.id === msg.participant_id)) return fail(id, 'not_found');
          ok(id);
          pinned = msg.participant_id ?? null;
          stage = undefined; // force a stage_changed, pinned or not
          update();
          return;
        case 'leave':
          ok(id);
          send({ event: 'closing', reason: 'left' });
          ws.close();
          return;
        default:
          return fail(id, 'bad_request', `unknown command ${cmd}`);
      }
    });
  }

  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    close: () => new Promise((resolve) => {
      for (const c of clients.values()) c.ws.terminate();
      sfu?.terminate();
      server.closeAllConnections?.();
      server.close(resolve);
    }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { url } = await startMockServer({ port: Number(process.env.MOCK_PORT ?? 0) });
  console.log(`mock: listening on ${url} (open ${url}/dev/sfu.html in the browser first)`);
}
