// End-to-end: the real `plenum` server and three headless Chromium participants.
// Run from the repo root (see README.md): tests/e2e/netns.sh node --test tests/e2e/

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { DemoRun, launchChromium, newContext, poll, stepper } from './browser.mjs';

const run = new DemoRun('plenum');
const ARTIFACTS = run.artifacts;

const state = (page) => page.evaluate(() => window.plenumTest.state());
const stats = (page) => page.evaluate(() => window.plenumTest.stats());
/** The width a page's camera currently sends in simulcast layer `rid`. */
const layerWidth = async (page, rid) => (await stats(page)).send.find((l) => l.rid === rid)?.frameWidth ?? 0;

describe('three browsers in the demo room', { timeout: 150_000 }, () => {
  let browser;
  /** @type {{ invite: object, page: import('playwright-core').Page, id?: string }[]} */
  let people = [];
  const step = stepper();

  before(async () => {
    // Layers follow rendered sizes here, not bandwidth: three Chromiums and the server share
    // two cores, and the CPU-delayed congestion feedback of a starved browser keeps the
    // server's bandwidth estimate at 0.5–1.5 Mbit/s (seen in CI), below the full layer.
    // Estimation has its own real-socket test (tests/bandwidth_udp.rs); the other browser
    // tests run with it on.
    const invites = await run.start({ env: { PLENUM_MEDIA__BANDWIDTH_ESTIMATION: 'false' } });
    browser = await launchChromium();
    people = await Promise.all(
      invites.map(async (invite, i) => {
        const context = await newContext(browser, { locale: i === 1 ? 'en-US' : 'de-DE' });
        const page = await context.newPage();
        run.watch(page, invite.name);
        return { invite, page };
      }),
    );
  });

  after(async () => {
    await run.stop(browser);
  });

  step('all three open their invite, join and see three participants', async () => {
    assert.deepEqual(
      people.map((p) => p.invite.role),
      ['moderator', 'delegate', 'delegate'],
      'the demo congress prints a moderator and two delegates',
    );
    await Promise.all(
      people.map(async (person) => {
        await person.page.goto(person.invite.url);
        await person.page.click('[data-testid=join]', { timeout: 15_000 });
      }),
    );
    await Promise.all(
      people.map(async (person) => {
        await poll(`${person.invite.name} to be joined with 3 participants listed`, async (saw) => {
          const s = await state(person.page);
          const listed = await person.page.locator('[data-testid=participant]').count();
          saw({ joined: s.joined, participants: s.participants.map((p) => p.name), listed, lastError: s.lastError });
          return s.joined && s.participants.length === 3 && listed === 3;
        }, { timeout: 15_000 });
        person.id = (await state(person.page)).self.id;
      }),
    );
    assert.equal(new Set(people.map((p) => p.id)).size, 3, 'three distinct participant ids');
  }, 40_000);

  step('every stage decodes frames and reaches the top layer', async () => {
    await Promise.all(
      people.map(async ({ invite, page }) => {
        let previous = -1;
        let grew = 0;
        await poll(`${invite.name}'s stage framesDecoded to grow twice`, async (saw) => {
          const { stage } = await stats(page);
          const { slots, stage: onStage } = await state(page);
          saw({ stage, grewSoFar: grew, stageSlot: slots.find((x) => x.slot === 'stage') ?? null, onStage });
          if (previous >= 0 && stage.framesDecoded > previous) grew++;
          previous = stage.framesDecoded;
          return grew >= 2;
        }, { timeout: 30_000, interval: 500 });
        // The top layer is 1280 wide unless the publisher's browser scaled it down (CPU or
        // bandwidth adaptation on a loaded machine): compare with what it sends as `f`.
        await poll(`${invite.name}'s stage to show the publisher's top layer`, async (saw) => {
          const s = await stats(page);
          const source = (await state(page)).slots.find((x) => x.slot === 'stage')?.participant_id;
          const publisher = people.find((p) => p.id === source);
          const top = publisher ? await layerWidth(publisher.page, 'f') : 0;
          saw({ stage: s.stage, source, top });
          return top >= 640 && s.stage.frameWidth === top;
        }, { timeout: 30_000, interval: 500 });
      }),
    );
  }, 65_000);

  // The demo room is in congress mode: only the floor holder and moderators are heard.
  step('a stage shrunk to a thumbnail gets the 320-wide layer within 2 s, enlarged the 1280-wide one; dynacast pauses the unwatched layer', async () => {
    const [moderator, watcher, other] = people;
    const resize = (page, width) => page.evaluate((w) => {
      const video = document.getElementById('stage-video');
      video.style.width = w ? `${w}px` : '';
      video.style.height = w ? `${Math.round((w * 9) / 16)}px` : '';
    }, width);
    // The moderator's layers are 320 / 1280 wide unless its browser scaled them down.
    const widthWithin = async (rid, what) => {
      const started = Date.now();
      await poll(`${watcher.invite.name}'s stage to show ${what}`, async (saw) => {
        const { stage } = await stats(watcher.page);
        const wanted = await layerWidth(moderator.page, rid);
        saw({ stage, wanted });
        return wanted > 0 && stage.frameWidth === wanted;
      }, { timeout: 2_000, interval: 100 });
      return Date.now() - started;
    };
    // Pausing and resuming goes browser → server → publisher's browser (resize observer,
    // set_slot_sizes, publish_layers, setParameters); with the whole suite on 2 cores one run
    // in CI took longer than 5 s, so this waits up to 10 s. (The 2 s of the issue are the
    // subscriber's layer switch, checked by widthWithin.)
    const fullLayerActive = async (wanted) => {
      await poll(`the moderator's full layer to be ${wanted ? 'sent' : 'paused'}`, async (saw) => {
        const { send } = await stats(moderator.page);
        saw(send);
        return send.some((l) => l.rid === 'f' && l.active === wanted);
      }, { timeout: 10_000, interval: 200 });
    };
    await resize(watcher.page, 160);
    const down = await widthWithin('q', 'the quarter (320-wide) layer');
    // With the other delegate's stage small too, nobody needs the moderator's full layer.
    await resize(other.page, 160);
    await fullLayerActive(false);
    await resize(other.page, null);
    await fullLayerActive(true);
    await resize(watcher.page, null);
    const up = await widthWithin('f', 'the full (1280-wide) layer again');
    console.log(`layer switch by rendered size: down in ${down} ms, up in ${up} ms`);
  }, 35_000);

  step("both delegates receive the moderator's audio", async () => {
    const moderator = people[0];
    await Promise.all(
      people.slice(1).map(async ({ invite, page }) => {
        const seen = new Map();
        let grew = 0;
        await poll(`${invite.name} to receive packets in an audio slot assigned to the moderator`, async (saw) => {
          const { audio } = await stats(page);
          saw(audio);
          for (const a of audio.filter((x) => x.participant_id === moderator.id)) {
            if (seen.has(a.slot) && a.packetsReceived > seen.get(a.slot)) grew++;
            seen.set(a.slot, a.packetsReceived);
          }
          return grew >= 2;
        }, { timeout: 15_000, interval: 500 });
      }),
    );
    await people[0].page.screenshot({ path: path.join(ARTIFACTS, 'room.png') });
  }, 20_000);

  step('the moderator, the only one heard, is reported as the active speaker', async () => {
    const moderator = people[0];
    await Promise.all(
      people.slice(1).map(async ({ invite, page }) => {
        await poll(`${invite.name} to see the moderator marked as speaking`, async (saw) => {
          const s = await state(page);
          const marked = await page.locator(`[data-testid=participant][data-participant-id="${moderator.id}"] [data-testid=speaking]`).count();
          saw({ activeSpeaker: s.activeSpeaker, marked });
          return s.activeSpeaker === moderator.id && marked === 1;
        }, { timeout: 15_000, interval: 500 });
      }),
    );
  }, 20_000);

  step('the third participant leaves; the others see two and no slot of the leaver', async () => {
    const [, , leaver] = people;
    await leaver.page.click('[data-testid=leave]');
    await leaver.page.waitForSelector('[data-testid=screen-ended]:not([hidden])', { timeout: 5_000 });
    await Promise.all(
      people.slice(0, 2).map(async ({ invite, page }) => {
        await poll(`${invite.name} to list 2 participants and show ${leaver.id} nowhere`, async (saw) => {
          const s = await state(page);
          const listed = await page.locator('[data-testid=participant]').count();
          const shownInDom = await page.locator(`[data-slot][data-participant-id="${leaver.id}"]`).count();
          const inSlots = s.slots.filter((slot) => slot.participant_id === leaver.id).map((slot) => slot.slot);
          saw({ participants: s.participants.map((p) => p.id), listed, inSlots, shownInDom });
          return s.participants.length === 2 && listed === 2 && inSlots.length === 0 && shownInDom === 0;
        }, { timeout: 10_000 });
      }),
    );
    await people[0].page.screenshot({ path: path.join(ARTIFACTS, 'after-leave.png') });
  }, 20_000);
});
