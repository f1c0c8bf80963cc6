// End-to-end: congress control with the real `plenum` server and headless Chromium
// participants — moderator M, delegates B, C (printed by the server) and D (`plenum invite`),
// later an observer E (`plenum invite`) who comes through the lobby.
// The speaker list in every browser, the floor, and the media plane's audio gating: a delegate
// is heard only while holding the floor or when a moderator allows it.
// Run from the repo root (see README.md): tests/e2e/netns.sh node --test tests/e2e/

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { DemoRun, launchChromium, newContext, poll, stepper } from './browser.mjs';

const run = new DemoRun('congress');
const ARTIFACTS = run.artifacts;
/** Long enough to see packets that should not arrive (Opus sends 50 packets a second). */
const SILENCE_WINDOW_MS = 2_000;

const state = (page) => page.evaluate(() => window.plenumTest.state());
const stats = (page) => page.evaluate(() => window.plenumTest.stats());

/** The speaker list as a page's state has it: [[participant id, kind], …]. */
const queueOf = (s) => (s.queue?.entries ?? []).map((e) => [e.participant_id, e.kind]);

/** The speaker list as a page shows it. */
const shownQueue = (page) =>
  page.$$eval('[data-testid=queue] [data-testid=queue-entry]', (items) => items.map((li) => [li.dataset.participantId, li.dataset.kind]));

/**
 * Waits until an audio slot of `listener` is assigned to `speaker` and its packet count grew
 * twice while it stayed assigned.
 */
async function receivesAudioOf(listener, speaker, timeout = 15_000) {
  const seen = new Map();
  let grew = 0;
  await poll(`${listener.name} to receive ${speaker.name}'s audio`, async (saw) => {
    const { audio } = await stats(listener.page);
    saw(audio);
    for (const a of audio.filter((x) => x.participant_id === speaker.id)) {
      if (seen.has(a.slot) && a.packetsReceived > seen.get(a.slot)) grew++;
      seen.set(a.slot, a.packetsReceived);
    }
    return grew >= 2;
  }, { timeout, interval: 500 });
}

/**
 * Checks over SILENCE_WINDOW_MS that no audio slot of `listener` shows `gated` and that no
 * packets arrive in slots that show anyone but `heard` (or nobody): `gated`'s audio is dropped.
 */
async function hearsOnly(listener, heard, gated) {
  const before = await stats(listener.page);
  await new Promise((resolve) => setTimeout(resolve, SILENCE_WINDOW_MS));
  const after = await stats(listener.page);
  const start = new Map(before.audio.map((a) => [a.slot, a]));
  for (const a of after.audio) {
    assert.notEqual(a.participant_id, gated.id, `${listener.name}'s ${a.slot} shows ${gated.name}: ${JSON.stringify(after.audio)}`);
    const was = start.get(a.slot);
    if (a.participant_id === heard.id || was?.participant_id !== a.participant_id) continue;
    assert.equal(
      a.packetsReceived - (was?.packetsReceived ?? 0),
      0,
      `${listener.name}'s ${a.slot} (showing ${a.participant_id ?? 'nobody'}) received packets; before ${JSON.stringify(before.audio)}, after ${JSON.stringify(after.audio)}`,
    );
  }
}

describe('congress: speaker list, floor and audio gating with four browsers', { timeout: 300_000 }, () => {
  let browser;
  const step = stepper();
  /** @type {Record<'M'|'B'|'C'|'D', { name: string, invite: object, page: import('playwright-core').Page, id?: string }>} */
  const people = {};
  const everyone = () => Object.values(people);
  /** E, the observer who joins late through the lobby; not part of `everyone()`. */
  let guest;

  before(async () => {
    const printed = await run.start();
    assert.deepEqual(printed.map((i) => i.role), ['moderator', 'delegate', 'delegate'], 'the demo congress prints a moderator and two delegates');
    const publicUrl = new URL(printed[0].url).origin;
    const dora = await run.invite({ name: 'Dora', role: 'delegate', publicUrl });
    const erik = await run.invite({ name: 'Erik', role: 'observer', publicUrl });
    browser = await launchChromium();
    const invites = { M: printed[0], B: printed[1], C: printed[2], D: dora, E: erik };
    for (const [key, invite] of Object.entries(invites)) {
      const context = await newContext(browser, { locale: ['B', 'D', 'E'].includes(key) ? 'en-US' : 'de-DE' });
      const page = await context.newPage();
      const name = `${key} (${invite.name})`;
      run.watch(page, name);
      if (key === 'E') guest = { name, invite, page };
      else people[key] = { name, invite, page };
    }
  });

  after(async () => {
    await run.stop(browser);
  });

  /** Every page's state and shown speaker list to equal `expected` ([[person, kind], …]). */
  async function everyoneSeesQueue(expected, what) {
    const want = expected.map(([person, kind]) => [person.id, kind]);
    await Promise.all(
      everyone().map(({ name, page }) =>
        poll(`${name} to show the speaker list ${what}`, async (saw) => {
          const s = await state(page);
          const shown = await shownQueue(page);
          saw({ state: queueOf(s), shown, floor: s.queue?.floor ?? null, lastError: s.lastError });
          return JSON.stringify(queueOf(s)) === JSON.stringify(want) && JSON.stringify(shown) === JSON.stringify(want);
        }, { timeout: 10_000 }),
      ),
    );
  }

  /** Every page to show `holder` (or nobody) with the floor. */
  async function everyoneSeesFloor(holder) {
    await Promise.all(
      everyone().map(({ name, page }) =>
        poll(`${name} to show ${holder?.name ?? 'nobody'} with the floor`, async (saw) => {
          const s = await state(page);
          const shownHolder = await page.getAttribute('[data-testid=floor]', 'data-participant-id');
          saw({ floor: s.queue?.floor ?? null, shownHolder });
          return (s.queue?.floor?.participant_id ?? null) === (holder?.id ?? null) && shownHolder === (holder?.id ?? '');
        }, { timeout: 10_000 }),
      ),
    );
  }

  /** Opens `target`'s actions menu in M's participant list and clicks the control `testid`. */
  async function moderate(target, testid) {
    const row = people.M.page.locator(`[data-testid=participant][data-participant-id="${target.id}"]`);
    await row.locator('[data-testid=participant-actions]').click();
    await row.locator(`[data-testid=${testid}]`).click();
  }

  /** Opens M's speaker-list settings unless they are open already. */
  async function openSettings() {
    if (!(await people.M.page.$eval('#queue-settings', (details) => details.open))) await people.M.page.click('[data-testid=queue-settings]');
  }

  /** `person`'s own participant to be heard (or not) by the media plane, as the server says. */
  async function heardIs(person, heard) {
    await poll(`${person.name} to be ${heard ? '' : 'not '}heard`, async (saw) => {
      const s = await state(person.page);
      saw({ self: s.self });
      return s.self?.heard === heard;
    }, { timeout: 10_000 });
  }

  step('all four join the congress and see four participants and an empty speaker list', async () => {
    await Promise.all(
      everyone().map(async (person) => {
        await person.page.goto(person.invite.url);
        await person.page.click('[data-testid=join]', { timeout: 15_000 });
      }),
    );
    await Promise.all(
      everyone().map(async (person) => {
        await poll(`${person.name} to be joined with 4 participants and media`, async (saw) => {
          const s = await state(person.page);
          const listed = await person.page.locator('[data-testid=participant]').count();
          saw({ joined: s.joined, mode: s.mode, participants: s.participants.map((p) => p.name), listed, mediaReady: s.mediaReady, lastError: s.lastError });
          return s.joined && s.mediaReady && s.participants.length === 4 && listed === 4;
        }, { timeout: 20_000 });
        const s = await state(person.page);
        person.id = s.self.id;
        assert.equal(s.mode, 'congress', `${person.name}: the demo room is a congress`);
        assert.deepEqual(queueOf(s), [], `${person.name}: the speaker list starts empty`);
      }),
    );
    const { M, B } = people;
    assert.equal((await state(M.page)).self.grants.moderate, true, 'M may moderate');
    assert.equal((await state(B.page)).self.grants.moderate, false, 'B may not moderate');
    assert.equal(await M.page.isVisible('[data-testid=give-floor-next]'), true, 'M sees the queue controls');
    assert.equal(await B.page.isVisible('[data-testid=give-floor-next]'), false, 'B does not see the queue controls');
    assert.equal(await B.page.isVisible('[data-testid=request-floor]'), true, 'B can request to speak');
  }, 45_000);

  step("without the floor B is not heard: C gets the moderator's audio and nothing of B", async () => {
    const { M, B, C } = people;
    await heardIs(B, false);
    await receivesAudioOf(C, M);
    await hearsOnly(C, M, B);
  }, 30_000);

  step('B, then D (pro) request to speak; every browser lists B before D', async () => {
    const { B, D } = people;
    await B.page.click('[data-testid=request-floor]');
    await poll("B's request to reach the server", async () => queueOf(await state(B.page)).length === 1, { timeout: 10_000 });
    await D.page.selectOption('[data-testid=request-kind]', 'pro');
    await D.page.click('[data-testid=request-floor]');
    await everyoneSeesQueue([[B, 'contribution'], [D, 'pro']], 'B, D');
    assert.match(await B.page.textContent('[data-testid=own-place]'), /1/, 'B sees their own place');
    assert.equal(await B.page.isVisible('[data-testid=queue-entry] [data-testid=withdraw]'), true, 'B can withdraw');
  }, 30_000);

  step('M gives the floor to the next: B speaks, the clock runs down', async () => {
    const { M, B, D } = people;
    await M.page.click('[data-testid=give-floor-next]');
    await everyoneSeesFloor(B);
    await everyoneSeesQueue([[D, 'pro']], 'D only');
    await heardIs(B, true);
    assert.equal(await B.page.isVisible('[data-testid=end-own-floor]'), true, 'B is offered to end the speech');
    assert.equal(await D.page.isVisible('[data-testid=end-own-floor]'), false, 'D is not');
    // The demo room limits speeches (180 s): the countdown shows m:ss and goes down.
    const clock = async () => (await D.page.textContent('[data-testid=floor-remaining]')).trim();
    const first = await clock();
    assert.match(first, /^\d+:\d\d$/, `a countdown, not "${first}"`);
    await poll('the countdown to go down', async (saw) => {
      const now = await clock();
      saw(now);
      const secs = (t) => Number(t.split(':')[0]) * 60 + Number(t.split(':')[1]);
      return secs(now) < secs(first);
    }, { timeout: 5_000 });
  }, 30_000);

  step("C sees B on stage and receives B's audio", async () => {
    const { B, C } = people;
    let previous = -1;
    let grew = 0;
    await poll("C's stage to show B and decode frames", async (saw) => {
      const s = await state(C.page);
      const { stage } = await stats(C.page);
      const slot = s.slots.find((x) => x.slot === 'stage');
      saw({ stageSlot: slot, stage: s.stage, decoded: stage });
      if (slot?.participant_id !== B.id) return false;
      if (previous >= 0 && stage.framesDecoded > previous) grew++;
      previous = stage.framesDecoded;
      return grew >= 2;
    }, { timeout: 20_000, interval: 500 });
    await receivesAudioOf(C, B);
    await C.page.screenshot({ path: path.join(ARTIFACTS, 'b-has-the-floor.png') });
  }, 45_000);

  step('C asks for a point of order: first in every browser, ahead of D', async () => {
    const { C, D } = people;
    await C.page.click('[data-testid=request-point-of-order]');
    await everyoneSeesQueue([[C, 'point_of_order'], [D, 'pro']], 'C (point of order), D');
    await people.M.page.screenshot({ path: path.join(ARTIFACTS, 'moderator.png') });
  }, 20_000);

  step("M ends B's speech: B is gated again, C gets none of B's audio", async () => {
    const { M, B, C } = people;
    await M.page.click('[data-testid=end-floor]');
    await everyoneSeesFloor(null);
    await heardIs(B, false);
    await poll('no audio slot of C to show B', async (saw) => {
      const { audio } = await stats(C.page);
      saw(audio);
      return audio.every((a) => a.participant_id !== B.id);
    }, { timeout: 5_000 });
    // Packets already on their way may still arrive; after that, silence from B.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await hearsOnly(C, M, B);
    await poll("C's speech history to list B's speech", async (saw) => {
      const s = await state(C.page);
      const shown = await C.page.locator('[data-testid=history-entry]').count();
      saw({ history: s.history, shown });
      return s.history.length === 1 && s.history[0].participant_id === B.id && s.history[0].ended === 'ended' && shown === 1;
    }, { timeout: 10_000 });
  }, 30_000);

  step("C gets the floor for the point of order and ends it with 'my speech is over'", async () => {
    const { M, C, D } = people;
    await M.page.click(`[data-testid=queue-entry][data-participant-id="${C.id}"] [data-testid=give-floor]`);
    await everyoneSeesFloor(C);
    await everyoneSeesQueue([[D, 'pro']], 'D only');
    await C.page.click('[data-testid=end-own-floor]');
    await everyoneSeesFloor(null);
  }, 30_000);

  step('D loses the connection, reconnects by itself and keeps the place on the list', async () => {
    const { M, D } = people;
    await D.page.evaluate(() => window.plenumTest.breakConnection());
    await poll('D to be connected again with media', async (saw) => {
      const s = await state(D.page);
      saw({ sessions: s.sessions, reconnecting: s.reconnecting, mediaReady: s.mediaReady, screen: s.screen, lastError: s.lastError });
      return s.sessions === 2 && !s.reconnecting && s.mediaReady && s.screen === 'room';
    }, { timeout: 20_000 });
    await everyoneSeesQueue([[D, 'pro']], 'D still waiting');
    let previous = -1;
    let grew = 0;
    await poll("D's stage to decode frames again", async (saw) => {
      const { stage } = await stats(D.page);
      saw(stage);
      if (previous >= 0 && stage.framesDecoded > previous) grew++;
      previous = stage.framesDecoded;
      return grew >= 2;
    }, { timeout: 20_000, interval: 500 });
    await poll('M to list D again', async () => (await state(M.page)).participants.some((p) => p.id === D.id), { timeout: 10_000 });
  }, 50_000);
  step('with a 6 s limit D speaks: pause freezes the clock, the warning arrives, the time runs out', async () => {
    const { M, D } = people;
    await openSettings();
    await M.page.fill('[data-testid=time-limit]', '6');
    await M.page.click('[data-testid=set-time-limit]');
    await poll('the time limit to be 6 s', async () => (await state(M.page)).queue?.time_limit_s === 6, { timeout: 10_000 });
    await M.page.click(`[data-testid=queue-entry][data-participant-id="${D.id}"] [data-testid=give-floor]`);
    await M.page.click('[data-testid=pause-floor]');
    await poll("D's clock to be paused", async () => (await state(D.page)).queue?.floor?.paused === true, { timeout: 5_000 });
    const clock = () => D.page.textContent('[data-testid=floor-remaining]');
    const frozen = await clock();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(await clock(), frozen, 'the paused clock stands still');
    await M.page.click('[data-testid=resume-floor]');
    await poll('the floor warning to reach D', async (saw) => {
      const s = await state(D.page);
      const shown = await D.page.getAttribute('[data-testid=floor]', 'data-warning');
      saw({ floorWarned: s.floorWarned, shown, floor: s.queue?.floor ?? null });
      return s.floorWarned && shown === 'true';
    }, { timeout: 10_000 });
    await everyoneSeesFloor(null);
    await poll("D's history to end with D's speech, time up", async (saw) => {
      const { history } = await state(D.page);
      saw(history);
      return history.at(-1)?.participant_id === D.id && history.at(-1)?.ended === 'time_up';
    }, { timeout: 10_000 });
    await heardIs(D, false);
  }, 40_000);

  step('M allows C to be heard without the floor, then mutes C server-side', async () => {
    const { M, C } = people;
    await moderate(C, 'force-unmute');
    await heardIs(C, true);
    await receivesAudioOf(M, C);
    await moderate(C, 'force-mute');
    await heardIs(C, false);
    await poll("C's page to say the moderator muted the microphone", async (saw) => {
      const s = await state(C.page);
      const note = await C.page.getAttribute('[data-testid=hearing]', 'data-state');
      saw({ self: s.self, note });
      return s.self.force_muted && note === 'forceMuted';
    }, { timeout: 5_000 });
    await poll('no audio slot of M to show C', async (saw) => {
      const { audio } = await stats(M.page);
      saw(audio);
      return audio.every((a) => a.participant_id !== C.id);
    }, { timeout: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await hearsOnly(M, M, C);
  }, 40_000);

  step('M switches to open discussion: B is heard without the floor; back to congress: gated again', async () => {
    const { M, B, C } = people;
    await openSettings();
    await M.page.click('[data-testid=mode-open]');
    await Promise.all(everyone().map(({ name, page }) => poll(`${name} to be in open mode`, async () => (await state(page)).mode === 'open', { timeout: 5_000 })));
    await heardIs(B, true);
    await receivesAudioOf(C, B);
    await M.page.click('[data-testid=mode-congress]');
    await Promise.all(everyone().map(({ name, page }) => poll(`${name} to be in congress mode`, async () => (await state(page)).mode === 'congress', { timeout: 5_000 })));
    await heardIs(B, false);
  }, 40_000);

  step('with the lobby on, the observer E waits until M admits them', async () => {
    const { M } = people;
    await M.page.click('[data-testid=lobby-toggle]');
    await poll('the lobby to be on', async () => (await state(M.page)).lobby?.enabled === true, { timeout: 5_000 });
    await guest.page.goto(guest.invite.url);
    await guest.page.click('[data-testid=join]', { timeout: 15_000 });
    await poll('E to wait in the lobby', async (saw) => {
      const s = await state(guest.page);
      saw({ screen: s.screen, inLobby: s.inLobby, lastError: s.lastError });
      return s.inLobby && s.screen === 'lobby';
    }, { timeout: 10_000 });
    guest.id = (await state(guest.page)).self.id;
    await poll('M to see E waiting', async (saw) => {
      const s = await state(M.page);
      const shown = await M.page.locator(`[data-testid=lobby-entry][data-participant-id="${guest.id}"]`).count();
      saw({ lobby: s.lobby, shown });
      return shown === 1;
    }, { timeout: 10_000 });
    await M.page.click(`[data-testid=lobby-entry][data-participant-id="${guest.id}"] [data-testid=admit]`);
    await poll('E to be in the room, receiving', async (saw) => {
      const s = await state(guest.page);
      const { stage } = await stats(guest.page);
      saw({ screen: s.screen, joined: s.joined, mediaReady: s.mediaReady, participants: s.participants.length, stage });
      return s.screen === 'room' && s.mediaReady && s.participants.length === 5 && stage.framesDecoded > 0;
    }, { timeout: 20_000, interval: 500 });
    assert.equal((await state(guest.page)).self.role, 'observer');
    assert.deepEqual((await stats(guest.page)).send, [], 'an observer sends nothing');
    await poll("M's lobby to be empty", async (saw) => {
      const { lobby } = await state(M.page);
      const shown = await M.page.locator('[data-testid=lobby-entry]').count();
      saw({ lobby, shown });
      return lobby.waiting.length === 0 && shown === 0;
    }, { timeout: 5_000 });
  }, 45_000);

  step("M makes E a guest speaker: E's browser starts camera and microphone and sends", async () => {
    const { M } = people;
    const row = M.page.locator(`[data-testid=participant][data-participant-id="${guest.id}"]`);
    await row.locator('[data-testid=participant-actions]').click();
    await row.locator('[data-testid=role-select]').selectOption('guest_speaker');
    await poll('E to send audio and video as a guest speaker', async (saw) => {
      const s = await state(guest.page);
      const { send } = await stats(guest.page);
      saw({ role: s.self?.role, grants: s.self?.grants, sessions: s.sessions, mediaReady: s.mediaReady, send });
      return s.self?.role === 'guest_speaker' && s.mediaReady && ['audio', 'video'].every((kind) => send.some((x) => x.kind === kind && x.packetsSent > 0));
    }, { timeout: 20_000, interval: 500 });
    await poll('M to see E publishing', async (saw) => {
      const e = (await state(M.page)).participants.find((p) => p.id === guest.id);
      saw(e);
      return e?.role === 'guest_speaker' && e.audio && e.video;
    }, { timeout: 10_000 });
  }, 40_000);

  step('M removes E with a ban: E is told so, and joining again is refused', async () => {
    const { M } = people;
    await moderate(guest, 'ban-participant');
    await guest.page.waitForSelector('[data-testid=screen-ended]:not([hidden])', { timeout: 10_000 });
    assert.match(await guest.page.textContent('#ended-text'), /removed you/);
    await poll('M to list four participants', async () => (await state(M.page)).participants.length === 4, { timeout: 10_000 });
    await guest.page.click('[data-testid=rejoin]');
    await poll("E's join to be refused as banned", async (saw) => {
      const s = await state(guest.page);
      const error = await guest.page.textContent('[data-testid=preview-error]');
      saw({ lastError: s.lastError, screen: s.screen, error });
      return s.lastError === 'banned' && /barred/.test(error) && (await guest.page.isHidden('[data-testid=join]'));
    }, { timeout: 10_000 });
  }, 30_000);
});
