// End-to-end: loss resilience. This kernel has no `sch_netem` (tc answers "Specified qdisc kind
// is unknown"), so the network is impaired in user space: every media datagram between the
// browsers and the server passes a UDP proxy inside the test's namespace that drops 5 % and
// delays each datagram by 50 ms ± 20 ms (so packets also reorder), with a seeded random
// generator. The server announces the proxy as its media address. A moderator publishes the
// fake camera and microphone; a delegate must keep decoding the stage (NACK/RTX repair the
// losses) and keep receiving audio.

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DemoRun, launchChromium, newContext, poll, stepper } from './browser.mjs';

const run = new DemoRun('lossy');
const ARTIFACTS = run.artifacts;
const MEDIA_PORT = 41_000;
const PROXY_PORT = 41_001;
const LOSS = 0.05;
const DELAY_MS = 50;
const JITTER_MS = 20;

const state = (page) => page.evaluate(() => window.plenumTest.state());
const stats = (page) => page.evaluate(() => window.plenumTest.stats());

/** mulberry32: a small seeded generator, so every run impairs the same way. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A UDP relay: one upstream socket per client, loss and delay in both directions. */
function lossyRelay({ port, target, loss, delayMs, jitterMs, seed }) {
  const random = seeded(seed);
  const counts = { passed: 0, dropped: 0 };
  let closed = false;
  const front = dgram.createSocket('udp4');
  const upstream = new Map();
  const relay = (socket, msg, toPort) => {
    if (random() < loss) {
      counts.dropped++;
      return;
    }
    counts.passed++;
    const delay = Math.max(0, delayMs + (random() * 2 - 1) * jitterMs);
    setTimeout(() => {
      if (!closed) socket.send(msg, toPort, '127.0.0.1');
    }, delay);
  };
  front.on('message', (msg, from) => {
    const key = `${from.address}:${from.port}`;
    let up = upstream.get(key);
    if (!up) {
      up = dgram.createSocket('udp4');
      up.bind(0, '127.0.0.1');
      up.on('message', (reply) => relay(front, reply, from.port));
      upstream.set(key, up);
    }
    relay(up, msg, target);
  });
  front.bind(port, '127.0.0.1');
  return {
    counts,
    close() {
      closed = true;
      front.close();
      for (const up of upstream.values()) up.close();
    },
  };
}

describe('media over a lossy network: 5 % loss, 50 ± 20 ms delay', { timeout: 150_000 }, () => {
  let browser;
  let relay;
  const people = {};
  const step = stepper();

  before(async () => {
    relay = lossyRelay({ port: PROXY_PORT, target: MEDIA_PORT, loss: LOSS, delayMs: DELAY_MS, jitterMs: JITTER_MS, seed: 7 });
    const printed = await run.start({
      mediaBind: `127.0.0.1:${MEDIA_PORT}`,
      env: { PLENUM_MEDIA__PUBLIC_ADDRESSES: `["127.0.0.1:${PROXY_PORT}"]` },
    });
    browser = await launchChromium();
    for (const [key, invite] of [['M', printed[0]], ['D', printed[1]]]) {
      const page = await (await newContext(browser, { locale: 'de-DE' })).newPage();
      await page.goto(invite.url);
      people[key] = { invite, page };
    }
  });

  after(async () => {
    await run.stop(browser);
    relay?.close();
  });

  step('both join through the impaired path and the delegate sees the moderator on stage', async () => {
    for (const { page } of Object.values(people)) await page.click('[data-testid=join]', { timeout: 15_000 });
    const moderatorId = await poll('the moderator to be joined', async () => (await state(people.M.page)).self?.id);
    people.M.id = moderatorId;
    await poll('the delegate to decode the stage', async (saw) => {
      const st = await stats(people.D.page);
      saw(st.stage);
      return st.stage.framesDecoded > 30;
    }, { timeout: 40_000, interval: 500 });
    assert.ok(relay.counts.dropped > 0, 'the relay drops packets');
  }, 60_000);

  step('for 15 s the stage keeps decoding and audio keeps arriving; losses are repaired', async () => {
    const samples = [];
    for (let s = 0; s <= 15; s++) {
      const st = await stats(people.D.page);
      const audio = st.audio.filter((a) => a.participant_id === people.M.id).reduce((n, a) => n + a.packetsReceived, 0);
      samples.push({ t: s, frames: st.stage.framesDecoded, audio, ...st.stage });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    const first = samples[0];
    const last = samples[samples.length - 1];
    const fps = (last.frames - first.frames) / 15;
    const audioPps = (last.audio - first.audio) / 15;
    const stalls = samples.slice(2).filter((s, i) => s.frames === samples[i].frames).length;
    const report = {
      loss: LOSS,
      delayMs: DELAY_MS,
      jitterMs: JITTER_MS,
      relay: relay.counts,
      fps,
      audioPps,
      stalls2s: stalls,
      nackCount: last.nackCount,
      retransmittedPacketsReceived: last.retransmittedPacketsReceived,
      packetsLost: last.packetsLost,
      freezeCount: last.freezeCount,
      totalFreezesDuration: last.totalFreezesDuration,
      frameWidth: last.frameWidth,
    };
    console.log('lossy network:', JSON.stringify(report));
    await writeFile(path.join(ARTIFACTS, 'report.json'), JSON.stringify({ report, samples }, null, 2));
    assert.equal(stalls, 0, `the stage stopped decoding for 2 s ${stalls} times: ${JSON.stringify(samples.map((s) => s.frames))}`);
    assert.ok(fps >= 5, `stage decodes ${fps.toFixed(1)} fps`);
    assert.ok(audioPps >= 40, `audio arrives at ${audioPps.toFixed(1)} packets/s`);
    assert.ok(last.nackCount > 0, 'the receiver asked for retransmissions (NACK)');
  }, 30_000);
});
