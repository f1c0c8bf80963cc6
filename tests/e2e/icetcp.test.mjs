// End-to-end: ICE-TCP for a browser on a network that blocks UDP. The test makes two network
// namespaces of its own, joined by a veth pair: the server's (10.231.0.1; the moderator's
// Chromium with the fake camera and microphone runs there too) and the delegate's (10.231.0.2),
// where a routing rule (`ip rule … ipproto udp blackhole`; this kernel has no netfilter) makes
// every UDP send fail, so the delegate's Chromium can reach the server over TCP only. The
// delegate must decode the stage and receive audio through the server's passive TCP candidate
// (RFC 6544, RFC 4571 framing): its selected candidate pair is TCP, and the server's
// `plenum_media_tcp_*` counters grow with what it receives. The test's own namespace keeps only
// `lo`, so the other files, which check that, are not affected.

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { DemoRun, launchChromium, newContext, poll, stepper } from './browser.mjs';

const run = new DemoRun('icetcp');
const ARTIFACTS = run.artifacts;
const SERVER_NS = `plenum-e2e-icetcp-srv-${process.pid}`;
const BLOCKED_NS = `plenum-e2e-icetcp-udpless-${process.pid}`;
const SERVER_IP = '10.231.0.1';
const BROWSER_IP = '10.231.0.2';
const SAMPLE_SECONDS = 10;

const exec = promisify(execFile);
const ip = (...args) => exec('ip', args, { timeout: 10_000 });
/** Runs `script` with node inside namespace `ns`; resolves with its stdout. */
const nodeIn = async (ns, script) => (await exec('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeout: 15_000 })).stdout;

const state = (page) => page.evaluate(() => window.plenumTest.state());
const stats = (page) => page.evaluate(() => window.plenumTest.stats());

/**
 * Keeps every RTCPeerConnection the page makes in `window.__peers` (web/app.js does not expose
 * its connection), for the candidate pair ICE selected.
 */
function recordPeers() {
  const Native = window.RTCPeerConnection;
  window.__peers = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.__peers.push(this);
    }
  };
}

/** The latest connection's selected candidate pair with both candidates, or null. */
const selectedPair = (page) =>
  page.evaluate(async () => {
    const pc = window.__peers?.at(-1);
    if (!pc) return null;
    const report = await pc.getStats();
    const all = [...report.values()];
    const transport = all.find((e) => e.type === 'transport' && e.selectedCandidatePairId);
    const pair = transport ? report.get(transport.selectedCandidatePairId) : null;
    if (!pair) return { connectionState: pc.connectionState, pairs: all.filter((e) => e.type === 'candidate-pair').map((p) => p.state) };
    const pick = (c) => c && { protocol: c.protocol, candidateType: c.candidateType, address: c.address, port: c.port, tcpType: c.tcpType ?? null };
    return {
      connectionState: pc.connectionState,
      state: pair.state,
      nominated: pair.nominated,
      bytesReceived: pair.bytesReceived,
      local: pick(report.get(pair.localCandidateId)),
      remote: pick(report.get(pair.remoteCandidateId)),
    };
  });

/** The server's Prometheus counter `name`, read from /metrics inside the server's namespace. */
async function counter(origin, name) {
  const text = await nodeIn(
    SERVER_NS,
    `require('https').get(${JSON.stringify(`${origin}/metrics`)}, { rejectUnauthorized: false, headers: { Authorization: ${JSON.stringify(`Bearer ${readFileSync(path.join(run.dataDir, 'metrics.token'), 'utf8').trim()}`)} } }, (res) => {
       let body = '';
       res.on('data', (c) => (body += c)).on('end', () => process.stdout.write(body));
     }).on('error', (e) => { console.error(e.message); process.exit(1); });`,
  );
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(/\s+/).at(-1)) : 0;
}

describe('ICE-TCP: a browser whose network blocks UDP gets the stage over TCP', { timeout: 150_000 }, () => {
  const namespaces = [];
  const browsers = {};
  const people = {};
  let origin;
  let mediaPort;
  const step = stepper();

  before(async () => {
    for (const ns of [SERVER_NS, BLOCKED_NS]) {
      await ip('netns', 'add', ns);
      namespaces.push(ns);
      // No IPv6: its link-local addresses appear (after duplicate address detection) seconds
      // after the link comes up, and Chromium aborts page loads on such a change
      // (net::ERR_NETWORK_CHANGED, seen in CI).
      for (const scope of ['all', 'default']) {
        await exec('ip', ['netns', 'exec', ns, 'sh', '-c', `echo 1 > /proc/sys/net/ipv6/conf/${scope}/disable_ipv6`]);
      }
    }
    await ip('link', 'add', 'veth-srv', 'netns', SERVER_NS, 'type', 'veth', 'peer', 'name', 'veth-udpless', 'netns', BLOCKED_NS);
    for (const [ns, dev, addr] of [[SERVER_NS, 'veth-srv', SERVER_IP], [BLOCKED_NS, 'veth-udpless', BROWSER_IP]]) {
      await ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      await ip('-n', ns, 'link', 'set', dev, 'up');
    }
    // The browsers start on a settled network: both ends of the veth up with carrier.
    for (const [ns, dev] of [[SERVER_NS, 'veth-srv'], [BLOCKED_NS, 'veth-udpless']]) {
      await poll(`${dev} to be up`, async () => (await ip('-n', ns, '-o', 'link', 'show', 'dev', dev)).stdout.includes('state UP'), { timeout: 10_000, interval: 100 });
    }
    // Loopback still works (the `local` table comes first at pref 0); every other UDP send fails.
    await ip('-n', BLOCKED_NS, 'rule', 'add', 'ipproto', 'udp', 'blackhole', 'pref', '10');

    // The server binds the veth address, so the public URL, the allowed WebSocket origin and
    // the announced media candidates (UDP and passive TCP, same port) are all 10.231.0.1.
    const printed = await run.start({ netns: SERVER_NS, httpBind: `${SERVER_IP}:0`, mediaBind: `${SERVER_IP}:0` });
    origin = new URL(printed[0].url).origin;
    const listening = /plenum: listening on \S+ \(https? \S+, media udp ([\d.]+):(\d+)( and tcp)?\)/.exec(run.serverLog.join(''));
    assert.ok(listening, 'the server prints its media address');
    assert.equal(listening[1], SERVER_IP);
    assert.ok(listening[3], 'ICE-TCP is on (the server listens for media over TCP too)');
    mediaPort = Number(listening[2]);

    browsers.M = await launchChromium({ netns: SERVER_NS });
    browsers.D = await launchChromium({ netns: BLOCKED_NS, fakeMedia: false });
    for (const [key, invite] of [['M', printed[0]], ['D', printed[1]]]) {
      const context = await newContext(browsers[key], { locale: 'de-DE' });
      await context.addInitScript(recordPeers);
      const page = await context.newPage();
      run.watch(page, invite.name);
      people[key] = { invite, page };
    }
  });

  after(async () => {
    await browsers.M?.close().catch(() => {});
    await run.stop(browsers.D);
    for (const ns of namespaces) await ip('netns', 'del', ns).catch(() => {});
  });

  step('UDP is blocked in the delegate\'s namespace, not on its loopback', async () => {
    const out = await nodeIn(
      BLOCKED_NS,
      `const dgram = require('dgram');
       const send = (host) => new Promise((resolve) => {
         const s = dgram.createSocket('udp4');
         s.send('probe', ${mediaPort}, host, (err) => { s.close(); resolve(err ? err.code : 'sent'); });
       });
       (async () => console.log(JSON.stringify({ server: await send('${SERVER_IP}'), loopback: await send('127.0.0.1') })))();`,
    );
    assert.deepEqual(JSON.parse(out), { server: 'EINVAL', loopback: 'sent' });
  }, 20_000);

  step('both join; the delegate\'s connection is TCP and decodes the stage', async () => {
    for (const { invite, page } of Object.values(people)) {
      await page.goto(invite.url);
      await page.click('[data-testid=join]', { timeout: 15_000 });
    }
    people.M.id = await poll('the moderator to be joined', async () => (await state(people.M.page)).self?.id);
    await poll('the delegate to decode the stage', async (saw) => {
      const st = await stats(people.D.page);
      saw({ stage: st.stage, peer: await selectedPair(people.D.page) });
      return st.stage.framesDecoded > 30;
    }, { timeout: 40_000, interval: 500 });
    const { remoteSdp } = await people.D.page.evaluate(() => window.plenumTest.peer());
    assert.match(
      remoteSdp,
      new RegExp(`a=candidate:\\S+ 1 tcp \\d+ ${SERVER_IP.replaceAll('.', '\\.')} ${mediaPort} typ host tcptype passive`, 'i'),
      'the server announces a passive TCP candidate at its media port',
    );
    const pair = await selectedPair(people.D.page);
    assert.equal(pair?.state, 'succeeded', `selected pair: ${JSON.stringify(pair)}`);
    assert.equal(pair.local.protocol, 'tcp', `the delegate's selected local candidate is TCP: ${JSON.stringify(pair)}`);
    assert.equal(pair.remote.protocol, 'tcp');
    assert.equal(pair.remote.address, SERVER_IP);
    assert.equal(pair.remote.port, mediaPort);
    assert.equal(pair.local.address, BROWSER_IP);
  }, 70_000);

  step(`for ${SAMPLE_SECONDS} s the stage keeps decoding and audio keeps arriving, all over TCP`, async () => {
    const tcpBefore = {
      sent: await counter(origin, 'plenum_media_tcp_sent_total'),
      received: await counter(origin, 'plenum_media_tcp_received_total'),
    };
    const samples = [];
    for (let s = 0; s <= SAMPLE_SECONDS; s++) {
      const st = await stats(people.D.page);
      const audio = st.audio.filter((a) => a.participant_id === people.M.id).reduce((n, a) => n + a.packetsReceived, 0);
      samples.push({ t: s, frames: st.stage.framesDecoded, video: st.stage.packetsReceived, audio, frameWidth: st.stage.frameWidth });
      if (s < SAMPLE_SECONDS) await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    const tcpAfter = {
      sent: await counter(origin, 'plenum_media_tcp_sent_total'),
      received: await counter(origin, 'plenum_media_tcp_received_total'),
      dropped: await counter(origin, 'plenum_media_tcp_dropped_total'),
    };
    const first = samples[0];
    const last = samples.at(-1);
    const fps = (last.frames - first.frames) / SAMPLE_SECONDS;
    const audioPps = (last.audio - first.audio) / SAMPLE_SECONDS;
    const rtpReceived = last.video - first.video + (last.audio - first.audio);
    const stalls = samples.slice(2).filter((s, i) => s.frames === samples[i].frames).length;
    const report = {
      fps,
      audioPps,
      stalls2s: stalls,
      framesDecoded: last.frames,
      frameWidth: last.frameWidth,
      rtpReceivedInWindow: rtpReceived,
      tcpSentInWindow: tcpAfter.sent - tcpBefore.sent,
      tcpReceivedInWindow: tcpAfter.received - tcpBefore.received,
      tcpTotals: tcpAfter,
      delegatePair: await selectedPair(people.D.page),
      moderatorPair: await selectedPair(people.M.page),
      // The stage's width follows what the moderator's browser sends (it scales its layers
      // down when short of CPU), not asserted here.
      moderatorLayers: (await stats(people.M.page)).send.filter((l) => l.kind === 'video').map((l) => `${l.rid}:${l.frameWidth}`),
    };
    console.log('ice-tcp:', JSON.stringify(report));
    await writeFile(path.join(ARTIFACTS, 'report.json'), JSON.stringify({ report, samples }, null, 2));
    await people.D.page.screenshot({ path: path.join(ARTIFACTS, 'delegate.png') });

    assert.equal(stalls, 0, `the stage stopped decoding for 2 s ${stalls} times: ${JSON.stringify(samples.map((s) => s.frames))}`);
    assert.ok(fps >= 10, `stage decodes ${fps.toFixed(1)} fps`);
    assert.ok(audioPps >= 40, `audio arrives at ${audioPps.toFixed(1)} packets/s`);
    assert.equal(report.delegatePair.local.protocol, 'tcp', 'still on TCP');
    // UDP cannot leave the delegate's namespace, so every packet it got was a TCP frame.
    assert.ok(
      report.tcpSentInWindow >= rtpReceived * 0.9,
      `the server sent ${report.tcpSentInWindow} TCP frames while the delegate received ${rtpReceived} RTP packets`,
    );
    assert.ok(report.tcpReceivedInWindow > 0, 'the server received TCP frames (RTCP, consent checks)');
  }, 40_000);
});
