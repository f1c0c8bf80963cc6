// End-to-end: WHIP ingest. A synthetic hall camera (`plenum-whip`, a str0m WHIP client with
// three VP8 layers and Opus) publishes to /whip/demo with a moderator's token; a delegate in
// headless Chromium sees it on stage and receives its media; when the camera ends its session
// (DELETE), it leaves the delegate's stage.

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DemoRun, launchChromium, newContext, PLENUM_BIN, poll, stepper } from './browser.mjs';

const run = new DemoRun('whip');
const ARTIFACTS = run.artifacts;
const WHIP_BIN = path.join(path.dirname(PLENUM_BIN), 'plenum-whip');

const state = (page) => page.evaluate(() => window.plenumTest.state());
const stats = (page) => page.evaluate(() => window.plenumTest.stats());

describe('WHIP: a hall camera on a browser delegate\'s stage', { timeout: 120_000 }, () => {
  const whipLog = [];
  let browser;
  let camera;
  let page;
  let cameraId;
  const step = stepper();

  before(async () => {
    const printed = await run.start();
    const publicUrl = new URL(printed[0].url).origin;
    const hall = await run.invite({ name: 'Saalkamera', role: 'moderator', publicUrl });
    const token = hall.url.split('#token=')[1];
    camera = spawn(WHIP_BIN, ['--url', publicUrl, '--ca', path.join(run.dataDir, 'tls/cert.pem'), '--token', token, '--room', 'demo'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    camera.stdout.on('data', (c) => whipLog.push(c.toString()));
    camera.stderr.on('data', (c) => whipLog.push(c.toString()));
    browser = await launchChromium({ fakeMedia: false });
    page = await (await newContext(browser, { locale: 'de-DE' })).newPage();
    await page.goto(printed[1].url);
  });

  after(async () => {
    camera?.kill('SIGKILL');
    await writeFile(path.join(ARTIFACTS, 'whip.log'), whipLog.join('')).catch(() => {});
    await run.stop(browser);
  });

  step('the camera publishes over WHIP', async () => {
    await poll('plenum-whip to report its session', () => whipLog.join('').includes('publishing at /whip/demo/'), { timeout: 20_000 });
  }, 25_000);

  step('the delegate joins and sees the camera on stage, receiving its video and audio', async () => {
    await page.click('[data-testid=join]', { timeout: 15_000 });
    await poll('the delegate to see the camera on stage with video arriving', async (saw) => {
      const s = await state(page);
      cameraId = s.participants.find((p) => p.name === 'Saalkamera')?.id;
      const stage = s.slots.find((slot) => slot.slot === 'stage');
      const st = await stats(page);
      saw({ cameraId, stage, video: st.stage, audio: st.audio });
      return cameraId && stage?.participant_id === cameraId && st.stage.packetsReceived > 100
        && st.audio.some((a) => a.participant_id === cameraId && a.packetsReceived > 50);
    }, { timeout: 30_000, interval: 500 });
    const s = await state(page);
    assert.equal(s.stage, cameraId, 'the room reports the camera on stage');
    await page.screenshot({ path: path.join(ARTIFACTS, 'stage.png') });
  }, 45_000);

  step('ending the WHIP session takes the camera off the stage', async () => {
    const exited = new Promise((resolve) => camera.once('exit', resolve));
    camera.kill('SIGTERM');
    await exited;
    assert.match(whipLog.join(''), /session ended \(HTTP 200\)/);
    await poll('the camera to leave the delegate\'s room', async (saw) => {
      const s = await state(page);
      saw({ stage: s.stage, participants: s.participants.map((p) => p.name) });
      return !s.participants.some((p) => p.id === cameraId) && s.stage !== cameraId;
    }, { timeout: 10_000 });
  }, 15_000);
});
