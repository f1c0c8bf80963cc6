// End-to-end: the watch page at edge nodes (issue 18). An origin and two edges (`plenum
// cluster ca/cert` certificates, [cluster] through PLENUM_CLUSTER__*), the demo congress's
// moderator in Chromium with the fake camera and beeping microphone publishing on the origin
// (plenum-whip's synthetic VP8 is not decodable, so a real encoder), and a member with a
// watch-only (observer) invite in headless Chromium on `/join#token=…&watch=1`: the page asks
// the origin for a place, plays the stage over WHEP at the edge it names — a cross-origin
// POST, so this also checks the edge's CORS and the origin's CSP `connect-src` — decodes the
// video and receives the audio. Then that edge is killed (SIGKILL): the page asks for a place
// again and decodes at the other edge; the time from the kill to the first decoded frame
// there is printed and must stay under 5 s. Leaving DELETEs the session at the edge. Last, a
// signed-in member (English) picks "Watch" on the start page: the page gets a room token
// with the session cookie, plays the stage at the edge left, and "Leave" goes back.

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { activate, DemoRun, launchChromium, newContext, PLENUM_BIN, poll, REPO, startServer, stepper, stopServer } from './browser.mjs';

const run = new DemoRun('watch');
const ARTIFACTS = run.artifacts;
const EDGES = ['edge-a', 'edge-b'];
const FAILOVER_BUDGET_MS = 5_000;

const watchState = (page) => page.evaluate(() => window.plenumTest.watch());
const watchStats = (page) => page.evaluate(() => window.plenumTest.watchStats());

/** A UDP port free right now on loopback (the origin's cluster endpoint). */
function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** GET `url` over HTTPS, trusting `ca`; resolves with { status, headers, body }. */
function httpsGet(url, { ca, headers = {} }) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'GET', ca, headers, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const cli = (...args) => promisify(execFile)(PLENUM_BIN, args, { timeout: 15_000 });

function clusterEnv(certDir, node) {
  return {
    PLENUM_CLUSTER__NODE: node,
    PLENUM_CLUSTER__CA: path.join(certDir, 'ca.pem'),
    PLENUM_CLUSTER__CERT: path.join(certDir, `${node}.pem`),
    PLENUM_CLUSTER__KEY: path.join(certDir, `${node}.key`),
  };
}

describe('the watch page: the stage at an edge node, and moving when the edge dies', { timeout: 180_000 }, () => {
  const step = stepper();
  /** node name → { server, dataDir, log, url } */
  const edges = new Map();
  let certDir;
  let browser;
  let moderator;
  let moderatorInvite;
  let page;
  let publicUrl;
  let originCa;
  let viewerToken;
  let viewerUrl;
  let firstNode;
  const report = {};

  const placement = async () => {
    const r = await httpsGet(`${publicUrl}/api/cluster/placement/demo`, { ca: originCa, headers: { Authorization: `Bearer ${viewerToken}` } });
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body);
  };

  /** Waits until the stage decodes on `page` at `node`; returns the stats then. */
  const decodingAt = (node, timeout) => poll(`the watch page to decode the stage at ${node}`, async (saw) => {
    const w = await watchState(page);
    const s = await watchStats(page);
    saw({ status: w.status, node: w.node, connectionState: w.connectionState, video: s?.video, lastReason: w.lastReason });
    return w.node === node && w.status === 'playing' && s?.video?.framesDecoded > 0 && s;
  }, { timeout, interval: 100 });

  before(async () => {
    certDir = await mkdtemp(path.join(os.tmpdir(), 'plenum-e2e-watch-certs-'));
    await cli('cluster', 'ca', '--dir', certDir);
    for (const node of ['origin', ...EDGES]) await cli('cluster', 'cert', '--dir', certDir, '--node', node);
    const clusterPort = await freeUdpPort();
    const printed = await run.start({
      env: {
        ...clusterEnv(certDir, 'origin'),
        PLENUM_CLUSTER__ROLE: 'origin',
        PLENUM_CLUSTER__LISTEN: `127.0.0.1:${clusterPort}`,
      },
    });
    publicUrl = new URL(printed[0].url).origin;
    originCa = await readFile(path.join(run.dataDir, 'tls/cert.pem'));
    for (const node of EDGES) {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), `plenum-e2e-watch-${node}-`));
      const log = [];
      const server = startServer(PLENUM_BIN, dataDir, log, {
        cwd: REPO,
        env: {
          ...clusterEnv(certDir, node),
          PLENUM_CLUSTER__ROLE: 'edge',
          PLENUM_CLUSTER__ORIGIN: `127.0.0.1:${clusterPort}`,
          PLENUM_CLUSTER__ORIGIN_NAME: 'origin',
          PLENUM_CLUSTER__TOKEN_KEY: path.join(run.dataDir, 'token.key'),
        },
      });
      edges.set(node, { server, dataDir, log });
    }
    for (const [node, edge] of edges) {
      await edge.server.ready;
      edge.url = (await readFile(path.join(edge.dataDir, 'public_url'), 'utf8')).trim();
      assert.notEqual(new URL(edge.url).origin, publicUrl, `${node} is another web origin than the origin`);
    }
    const viewer = await run.invite({ name: 'Mitglied Mara', role: 'observer', publicUrl });
    viewerToken = viewer.url.split('#token=')[1];
    viewerUrl = `${viewer.url}&watch=1`;
    report.viewerUrl = `${viewer.url.split('#')[0]}#token=…&watch=1`;
    // The fake camera and microphone are the moderator's; the viewer's page asks for neither.
    browser = await launchChromium();
    moderator = await (await newContext(browser, { locale: 'de-DE' })).newPage();
    run.watch(moderator, printed[0].name);
    moderatorInvite = printed[0];
    page = await (await newContext(browser, { locale: 'de-DE', permissions: [] })).newPage();
    run.watch(page, 'Mara');
    page.on('requestfailed', (r) => run.consoleLog.push(`[Mara] requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  });

  after(async () => {
    if (page) {
      const w = await watchState(page).catch(() => null);
      if (w) report.events = w.events;
    }
    await writeFile(path.join(ARTIFACTS, 'report.json'), `${JSON.stringify(report, null, 2)}\n`).catch(() => {});
    for (const [node, edge] of edges) {
      await stopServer(edge.server.child);
      await writeFile(path.join(ARTIFACTS, `${node}.log`), edge.log.join('')).catch(() => {});
      await rm(edge.dataDir, { recursive: true, force: true });
    }
    if (certDir) await rm(certDir, { recursive: true, force: true });
    await run.stop(browser);
  });

  step('both edges connect to the origin and the origin places viewers on them', async () => {
    await poll('the origin to place a viewer on an edge', async (saw) => {
      const p = await placement();
      saw(p);
      return EDGES.includes(p.node);
    }, { timeout: 20_000 });
    // Both edges said hello: the origin's pages may talk to them (CSP connect-src).
    await poll('the origin\'s CSP to name both edges', async (saw) => {
      const r = await httpsGet(`${publicUrl}/`, { ca: originCa });
      const csp = r.headers['content-security-policy'] ?? '';
      saw(csp);
      return [...edges.values()].every((e) => csp.includes(new URL(e.url).origin));
    }, { timeout: 10_000 });
  }, 45_000);

  step('the moderator joins on the origin with camera and microphone', async () => {
    assert.equal(moderatorInvite.role, 'moderator');
    await moderator.goto(moderatorInvite.url);
    await moderator.click('[data-testid=join]', { timeout: 15_000 });
    // Nobody watches yet: dynacast keeps the camera's layers paused until the edge asks.
    await poll('the moderator to be in the room, sending audio', async (saw) => {
      const st = await moderator.evaluate(() => window.plenumTest.state());
      const s = await moderator.evaluate(() => window.plenumTest.stats());
      saw({ joined: st.joined, send: s.send });
      return st.joined && s.send?.some((l) => l.kind === 'audio' && l.packetsSent > 50);
    }, { timeout: 20_000 });
  }, 30_000);

  step('the watch page plays the stage at an edge, with its audio, after "Ton einschalten"', async () => {
    await page.goto(viewerUrl);
    await page.waitForSelector('[data-testid=screen-watch]:not([hidden])', { timeout: 10_000 });
    const s = await poll('the stage to decode at an edge', async (saw) => {
      const w = await watchState(page);
      const st = await watchStats(page);
      saw({ w: { ...w, events: undefined }, st });
      return EDGES.includes(w.node) && w.status === 'playing' && st?.video?.framesDecoded > 10 && st;
    }, { timeout: 30_000, interval: 250 });
    const w = await watchState(page);
    firstNode = w.node;
    assert.equal(new URL(w.whep).origin, new URL(edges.get(firstNode).url).origin, 'WHEP goes to the edge, cross-origin');
    assert.match(w.resource, new RegExp(`^${new URL(edges.get(firstNode).url).origin}/whep/demo/`), 'the Location header was readable (CORS expose)');
    assert.match(await page.textContent('[data-testid=watch-node]'), new RegExp(`Übertragen von ${firstNode}`));
    assert.equal(await page.textContent('[data-testid=watch-status]'), 'Live');
    // The page starts muted (autoplay); the button turns the sound on.
    assert.ok(w.audioElements.length >= 1 && w.audioElements.every((a) => a.muted), `muted at first: ${JSON.stringify(w.audioElements)}`);
    assert.match(await page.textContent('[data-testid=watch-unmute]'), /Ton einschalten/);
    await page.click('[data-testid=watch-unmute]');
    const after = await watchState(page);
    assert.ok(after.unmuted && after.audioElements.every((a) => !a.muted && !a.paused), JSON.stringify(after.audioElements));
    assert.equal(after.videoPaused, false, 'the video plays');
    await poll('the moderator\'s beeping microphone to arrive with sound in it', async (saw) => {
      const st = await watchStats(page);
      saw(st.audio);
      return st.audio.some((a) => a.packetsReceived > 50 && a.totalAudioEnergy > 0);
    }, { timeout: 10_000 });
    report.first = { node: firstNode, video: s.video, audio: (await watchStats(page)).audio };
    console.log(`watch: decoding at ${firstNode}: ${s.video.frameWidth}x${s.video.frameHeight}, ${s.video.framesDecoded} frames`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'watching.png') });
  }, 50_000);

  step(`the edge dies (SIGKILL): the page moves to the other edge and decodes again within ${FAILOVER_BUDGET_MS} ms`, async () => {
    const other = EDGES.find((n) => n !== firstNode);
    const killedAt = Date.now();
    edges.get(firstNode).server.child.kill('SIGKILL');
    await decodingAt(other, 15_000);
    const tookMs = Date.now() - killedAt;
    const w = await watchState(page);
    const st = await watchStats(page);
    const since = w.events.filter((e) => e.at >= killedAt).map((e) => `${e.at - killedAt} ms ${e.what}${e.node ? ` (${e.node})` : ''}`);
    report.failover = { from: firstNode, to: other, tookMs, reason: w.lastReason, timeline: since };
    console.log(`watch: ${firstNode} killed; decoding at ${other} after ${tookMs} ms (reason: ${w.lastReason})\n  ${since.join('\n  ')}`);
    assert.ok(tookMs < FAILOVER_BUDGET_MS, `decoding again after ${tookMs} ms (budget ${FAILOVER_BUDGET_MS} ms)`);
    assert.match(await page.textContent('[data-testid=watch-node]'), new RegExp(`Übertragen von ${other}`));
    // Sound stays on after the move (no new click needed).
    assert.ok(w.unmuted && w.audioElements.length >= 1 && w.audioElements.every((a) => !a.muted), JSON.stringify(w.audioElements));
    await poll('audio at the new edge', async (saw) => {
      const s = await watchStats(page);
      saw(s.audio);
      return s.audio.some((a) => a.packetsReceived > 50);
    }, { timeout: 5_000 });
    report.second = { node: other, video: st.video };
    await page.screenshot({ path: path.join(ARTIFACTS, 'moved.png') });
  }, 30_000);

  step('leaving ends the WHEP session at the edge (DELETE)', async () => {
    const w = await watchState(page);
    const edge = edges.get(w.node);
    const metricsToken = (await readFile(path.join(edge.dataDir, 'metrics.token'), 'utf8')).trim();
    const edgeCa = await readFile(path.join(edge.dataDir, 'tls/cert.pem'));
    const viewers = async () => {
      const r = await httpsGet(`${edge.url}/metrics`, { ca: edgeCa, headers: { Authorization: `Bearer ${metricsToken}` } });
      return Number(/^plenum_cluster_viewers (\S+)$/m.exec(r.body)?.[1] ?? NaN);
    };
    await poll('the edge to count one viewer', async (saw) => { const v = await viewers(); saw(v); return v === 1; }, { timeout: 5_000 });
    await page.click('[data-testid=watch-leave]');
    await poll('the page to have left', async () => (await watchState(page)).status === 'left', { timeout: 5_000 });
    await poll('the DELETE to be answered 200', async (saw) => {
      const left = await watchState(page);
      saw(left.events.slice(-4));
      return left.events.some((e) => e.what === 'deleted' && e.status === 200);
    }, { timeout: 5_000 });
    await poll('the edge to count no viewer', async (saw) => { const v = await viewers(); saw(v); return v === 0; }, { timeout: 5_000 });
    assert.ok(await page.isVisible('[data-testid=watch-again]'), 'a "watch again" button');
  }, 20_000);

  step('a signed-in member watches from the start page (English) and leaves back to it', async () => {
    const csv = path.join(run.dataDir, 'members.csv');
    await writeFile(csv, 'Mitgliedsnummer;Vorname;Nachname;Gliederung;E-Mail\n30001;Ada;Lovelace;bv;ada@example.org\n');
    await run.cli('member', 'import', csv);
    await run.cli('room', 'assign', '--room', 'demo', '--number', '30001', '--role', 'observer');
    const link = (await run.cli('member', 'activation', '--number', '30001', '--public-url', publicUrl)).trim();
    const member = await (await newContext(browser, { locale: 'en-US', permissions: [] })).newPage();
    run.watch(member, 'Ada');
    await activate(member, link, 'Analytical-Engine-1843');
    await member.click('[data-testid=start-room][data-room=demo] [data-testid=start-watch]');
    await member.waitForSelector('[data-testid=screen-watch]:not([hidden])', { timeout: 10_000 });
    const alive = EDGES.find((n) => n !== firstNode);
    await poll(`the member's page to decode the stage at ${alive}`, async (saw) => {
      const w = await member.evaluate(() => window.plenumTest.watch());
      const st = await member.evaluate(() => window.plenumTest.watchStats());
      saw({ status: w.status, node: w.node, video: st?.video });
      return w.node === alive && w.status === 'playing' && st?.video?.framesDecoded > 0;
    }, { timeout: 15_000 });
    assert.equal(new URL(member.url()).hash, '', 'no token in the address bar');
    assert.equal(await member.textContent('[data-testid=watch-node]'), `Served by ${alive}`);
    assert.match(await member.textContent('[data-testid=watch-unmute]'), /Turn sound on/);
    await member.click('[data-testid=watch-leave]');
    await member.waitForSelector('[data-testid=screen-start]:not([hidden])', { timeout: 10_000 });
  }, 40_000);
});
