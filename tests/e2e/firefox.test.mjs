// End-to-end: a Firefox delegate among Chromium participants — Debian's Firefox ESR
// (`/usr/bin/firefox-esr`) driven by puppeteer-core over WebDriver BiDi (no browser is
// downloaded), the moderator M and the delegate A in headless Chromium (playwright-core), all
// against the real `plenum serve`. Firefox F receives the stage's video and the moderator's
// audio; once F has the floor, A decodes F's camera on the stage and receives F's microphone;
// F votes in a secret motion through the vote panel and sees the published count; F and A chat.
// Media is counted with getStats (`framesDecoded`, `packetsReceived`): in headless Firefox the
// <video> element's own frame counter stays 0.
// Firefox gathers no ICE candidates without a default route: the test adds one on lo to its
// private namespace when it finds none (or run it with `NETNS_DEFAULT_ROUTE_LO=1`, netns.sh).
// Run from the repo root (see README.md): tests/e2e/netns.sh node --test tests/e2e/firefox.test.mjs

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import puppeteer from 'puppeteer-core';
import { DemoRun, launchChromium, newContext, nonLoopbackInterfaces, poll, stepper } from './browser.mjs';

const run = new DemoRun('firefox');
const ARTIFACTS = run.artifacts;
const FIREFOX = process.env.FIREFOX_BIN ?? '/usr/bin/firefox-esr';

/**
 * shared/recipes/firefox-user.js as puppeteer's `extraPrefsFirefox` (puppeteer writes them into
 * the fresh profile it makes for each launch, next to its own prefs that keep Firefox quiet).
 */
const FIREFOX_PREFS = {
  'media.navigator.streams.fake': true, // fake camera (moving pattern) and microphone (beeps)
  'media.navigator.permission.disabled': true, // no permission prompt
  'media.peerconnection.ice.loopback': true, // gather 127.0.0.1 host candidates
  'media.peerconnection.ice.obfuscate_host_addresses': false, // no mDNS .local names
  'media.autoplay.default': 0, // the client plays received audio without a click
  'intl.accept_languages': 'de-DE, de', // navigator.languages: F reads German
  'app.update.enabled': false,
  'app.normandy.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'services.settings.server': 'http://127.0.0.1:9/',
  'dom.push.enabled': false,
};

const MOTION = 'Antrag F1: Firefox im Plenum';
const F_SAYS = 'Hallo aus Firefox, ich höre und sehe alle.';
const A_SAYS = 'Hello Firefox, received loud and clear.';

// The same calls work on a playwright page (Chromium) and a puppeteer page (Firefox).
const state = (page) => page.evaluate(() => window.plenumTest.state());
const stats = (page) => page.evaluate(() => window.plenumTest.stats());
const roomTexts = (s) => (s.chat?.conversations?.room ?? []).map((m) => m.text);

/** Firefox needs a default route to gather host candidates; this namespace is private (only lo). */
async function ensureDefaultRouteOnLo() {
  const run = promisify(execFile);
  const { stdout } = await run('ip', ['route', 'show', 'default']);
  if (stdout.trim()) return;
  await run('ip', ['route', 'add', 'default', 'dev', 'lo', 'src', '127.0.0.1']);
}

function launchFirefox() {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    acceptInsecureCerts: true, // the server's certificate is self-signed
    defaultViewport: { width: 1280, height: 720 },
    extraPrefsFirefox: FIREFOX_PREFS,
  });
}

/** Polls `page`'s stats until `pick(stats)` (a counter) grew twice; resolves with its last value. */
async function counterGrows(what, page, pick, { timeout = 20_000 } = {}) {
  let previous = null;
  let grew = 0;
  let value = 0;
  await poll(what, async (saw) => {
    const s = await stats(page);
    value = pick(s);
    saw({ value, grewSoFar: grew, stats: s });
    if (value === null) {
      previous = null;
      return false;
    }
    if (previous !== null && value > previous) grew++;
    previous = value;
    return grew >= 2;
  }, { timeout, interval: 500 });
  return value;
}

/** Sum of the packets received in `listener`'s audio slots that show `speakerId`, or null if none does. */
const audioFrom = (speakerId) => (s) => {
  const slots = s.audio.filter((a) => a.participant_id === speakerId);
  return slots.length ? slots.reduce((n, a) => n + a.packetsReceived, 0) : null;
};

describe('Firefox ESR among Chromium participants', { timeout: 240_000 }, () => {
  let chromium;
  let firefox;
  const step = stepper();
  /** @type {Record<'M'|'A'|'F', { name: string, invite: object, page: any, id?: string }>} */
  const people = {};
  const everyone = () => Object.values(people);
  let motionId;
  const report = { firefox: null, firefoxReceives: {}, chromiumReceivesFromFirefox: {}, vote: {}, timingsMs: {} };
  const started = Date.now();

  before(async () => {
    // startDemo checks for the private namespace too; check before touching its routes.
    assert.deepEqual(nonLoopbackInterfaces(), [], 'run this test in a private network namespace: tests/e2e/netns.sh node --test tests/e2e/firefox.test.mjs');
    await ensureDefaultRouteOnLo();
    const printed = await run.start();
    assert.deepEqual(printed.map((i) => i.role), ['moderator', 'delegate', 'delegate'], 'the demo congress prints a moderator and two delegates');
    chromium = await launchChromium();
    for (const [key, invite, locale] of [['M', printed[0], 'de-DE'], ['A', printed[1], 'en-US']]) {
      const page = await (await newContext(chromium, { locale })).newPage();
      const name = `${key} (${invite.name}, Chromium)`;
      run.watch(page, name);
      people[key] = { name, invite, page };
    }
    const launchedAt = Date.now();
    firefox = await launchFirefox();
    report.firefox = await firefox.version();
    report.timingsMs.firefoxLaunch = Date.now() - launchedAt;
    const page = await firefox.newPage();
    const name = `F (${printed[2].name}, ${report.firefox})`;
    run.watch(page, name);
    people.F = { name, invite: printed[2], page };
  });

  after(async () => {
    report.timingsMs.total = Date.now() - started;
    await people.F?.page.screenshot({ path: path.join(ARTIFACTS, 'firefox.png') }).catch(() => {});
    await writeFile(path.join(ARTIFACTS, 'report.json'), `${JSON.stringify(report, null, 2)}\n`).catch(() => {});
    await firefox?.close().catch(() => {});
    await run.stop(chromium);
  });

  step('M and A (Chromium) and F (Firefox) open their invites, join and see three participants', async () => {
    await Promise.all(
      everyone().map(async ({ invite, page }) => {
        await page.goto(invite.url);
        // The join button is enabled once the camera preview runs.
        await page.waitForSelector('[data-testid=join]:not([disabled])', { timeout: 15_000 });
        await page.click('[data-testid=join]');
      }),
    );
    await Promise.all(
      everyone().map(async (person) => {
        await poll(`${person.name} to be joined with 3 participants`, async (saw) => {
          const s = await state(person.page);
          saw({ joined: s.joined, mediaReady: s.mediaReady, participants: s.participants.map((p) => p.name), lastError: s.lastError });
          return s.joined && s.mediaReady && s.participants.length === 3;
        }, { timeout: 30_000 });
        person.id = (await state(person.page)).self.id;
      }),
    );
    assert.equal(new Set(everyone().map((p) => p.id)).size, 3, 'three distinct participant ids');
    const { F } = people;
    assert.equal(await F.page.$eval('html', (el) => el.lang), 'de', 'F reads German (intl.accept_languages)');
    report.timingsMs.joined = Date.now() - started;
  }, 60_000);

  step("F decodes the stage's video and receives the moderator's audio", async () => {
    const { M, F } = people;
    const stageFrom = (s) => s.stage.framesDecoded;
    await poll("F's stage to show somebody else", async (saw) => {
      const source = (await state(F.page)).slots.find((x) => x.slot === 'stage')?.participant_id ?? null;
      saw({ source });
      return source && source !== F.id;
    }, { timeout: 20_000 });
    const frames = await counterGrows("F's stage framesDecoded to grow twice", F.page, stageFrom, { timeout: 30_000 });
    const audio = await counterGrows("F to receive packets in an audio slot showing M", F.page, audioFrom(M.id));
    const { stage } = await stats(F.page);
    report.firefoxReceives = { stageFramesDecoded: frames, stageWidth: stage.frameWidth, audioPacketsFromM: audio };
    assert.ok(stage.frameWidth > 0, `F knows the decoded frame's width: ${JSON.stringify(stage)}`);
  }, 60_000);

  step('F asks to speak and M gives the floor: F is heard', async () => {
    const { M, F } = people;
    await F.page.click('[data-testid=request-floor]');
    await poll("F's request to be on M's speaker list", async (saw) => {
      const entries = (await state(M.page)).queue?.entries ?? [];
      saw(entries);
      return entries.some((e) => e.participant_id === F.id);
    }, { timeout: 10_000 });
    await M.page.click('[data-testid=give-floor-next]');
    await Promise.all(
      everyone().map(({ name, page }) =>
        poll(`${name} to show F with the floor`, async (saw) => {
          const s = await state(page);
          saw({ floor: s.queue?.floor ?? null });
          return s.queue?.floor?.participant_id === F.id;
        }, { timeout: 10_000 }),
      ),
    );
    await poll('F to be heard by the media plane', async (saw) => {
      const s = await state(F.page);
      saw({ self: s.self });
      return s.self?.heard === true;
    }, { timeout: 10_000 });
  }, 30_000);

  step("A (Chromium) decodes F's camera on the stage and receives F's microphone", async () => {
    const { A, F } = people;
    await poll("A's stage to show F", async (saw) => {
      const source = (await state(A.page)).slots.find((x) => x.slot === 'stage')?.participant_id ?? null;
      saw({ source });
      return source === F.id;
    }, { timeout: 20_000 });
    const frames = await counterGrows("A's stage (F's camera) framesDecoded to grow twice", A.page, (s) => s.stage.framesDecoded, { timeout: 30_000 });
    const audio = await counterGrows("A to receive packets in an audio slot showing F", A.page, audioFrom(F.id));
    const { stage } = await stats(A.page);
    const sent = (await stats(F.page)).send;
    report.chromiumReceivesFromFirefox = { stageFramesDecoded: frames, stageWidth: stage.frameWidth, audioPacketsFromF: audio, firefoxSends: sent };
    assert.ok(stage.frameWidth > 0, `A knows the width of F's decoded frames: ${JSON.stringify(stage)}`);
    assert.ok(sent.some((l) => l.kind === 'video' && l.packetsSent > 0), `F's outbound video: ${JSON.stringify(sent)}`);
    assert.ok(sent.some((l) => l.kind === 'audio' && l.packetsSent > 0), `F's outbound audio: ${JSON.stringify(sent)}`);
    await A.page.screenshot({ path: path.join(ARTIFACTS, 'a-sees-firefox.png') });
  }, 60_000);

  step('M creates and opens a secret motion; F votes yes through the vote panel, A votes no', async () => {
    const { M, A, F } = people;
    const before = new Set((await state(M.page)).polls.map((p) => p.id));
    if (!(await M.page.locator('#poll-create').evaluate((d) => d.open))) await M.page.click('[data-testid=poll-create-open]');
    await M.page.fill('[data-testid=new-poll-title]', MOTION);
    await M.page.click('[data-testid=new-poll-motion]');
    assert.equal(await M.page.isChecked('[data-testid=new-poll-secret]'), true, 'secret is the default');
    await M.page.click('[data-testid=new-poll-submit]');
    motionId = await poll("M's motion to be listed as a draft", async (saw) => {
      const s = await state(M.page);
      const created = s.polls.find((p) => !before.has(p.id));
      saw({ polls: s.polls.map((p) => [p.id, p.title, p.state]), lastError: s.lastError });
      return created?.state === 'draft' ? created.id : null;
    }, { timeout: 10_000 });
    await M.page.locator(`[data-testid=poll][data-poll-id="${motionId}"] [data-testid=poll-open]`).click();

    // F, in Firefox: choose yes, submit, read the confirmation, confirm.
    const panel = `[data-testid=poll][data-poll-id="${motionId}"] [data-testid=vote-panel][data-holder-id="${F.id}"]`;
    await F.page.waitForSelector(`${panel} [data-testid=choice-yes]`, { visible: true, timeout: 10_000 });
    await F.page.click(`${panel} [data-testid=choice-yes]`);
    await poll("F's yes to be checked", () => F.page.$eval(`${panel} [data-testid=choice-yes]`, (el) => el.checked), { timeout: 5_000 });
    await F.page.click(`${panel} [data-testid=vote-submit]`);
    await F.page.waitForSelector(`${panel} [data-testid=vote-confirm-text]`, { visible: true, timeout: 5_000 });
    assert.equal(await F.page.$eval(`${panel} [data-testid=vote-confirm-text]`, (el) => el.textContent.trim()), 'Stimme abgeben? Ihre Wahl: Ja');
    await F.page.click(`${panel} [data-testid=vote-confirm]`);
    await F.page.waitForSelector(`${panel} [data-testid=vote-receipt]`, { timeout: 10_000 });
    const receipt = await F.page.$eval(`${panel} [data-testid=vote-receipt]`, (el) => el.dataset.receipt);
    assert.match(receipt, /^[0-9a-f]{32}$/, 'F gets a receipt of 32 hex digits');
    assert.equal(await F.page.$eval(`${panel} [data-testid=vote-counted]`, (el) => el.textContent.trim()), 'Ihre Stimme wurde gezählt');
    assert.equal((await state(F.page)).receipts[motionId]?.[F.id], receipt, 'F keeps the receipt');
    report.vote.firefoxReceipt = receipt;

    // A, in Chromium, votes no the same way.
    const panelA = A.page.locator(`[data-testid=poll][data-poll-id="${motionId}"] [data-testid=vote-panel][data-holder-id="${A.id}"]`);
    await panelA.locator('[data-testid=choice-no]').click();
    await poll("A's no to be checked", () => panelA.locator('[data-testid=choice-no]').isChecked(), { timeout: 5_000 });
    await panelA.locator('[data-testid=vote-submit]').click();
    await panelA.locator('[data-testid=vote-confirm]').click();
    await panelA.locator('[data-testid=vote-receipt]').waitFor({ timeout: 10_000 });
    await Promise.all(
      everyone().map(({ name, page }) =>
        poll(`${name} to see 2 of 2 voted`, async (saw) => {
          const p = (await state(page)).polls.find((x) => x.id === motionId);
          saw(p);
          return p?.state === 'open' && p.voted === 2 && !p.result;
        }, { timeout: 10_000 }),
      ),
    );
  }, 45_000);

  step('M closes and publishes: F sees yes 1, no 1, abstain 0', async () => {
    const { M, F } = people;
    const card = (page) => page.locator(`[data-testid=poll][data-poll-id="${motionId}"]`);
    await card(M.page).locator('[data-testid=poll-close]').click();
    await poll('M to see the motion closed', async () => (await state(M.page)).polls.find((x) => x.id === motionId)?.state === 'closed', { timeout: 10_000 });
    await card(M.page).locator('[data-testid=poll-publish]').click();
    const row = `[data-testid=poll][data-poll-id="${motionId}"] [data-testid=result-row]`;
    const shown = await poll('F to show the published count', async (saw) => {
      const p = (await state(F.page)).polls.find((x) => x.id === motionId);
      const cells = await F.page.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent.trim()));
      const counts = await F.page.$$eval(row, (rows) => rows.map((r) => [r.dataset.yes, r.dataset.no, r.dataset.abstain].join()));
      saw({ state: p?.state, result: p?.result, cells, counts });
      return p?.state === 'published' && counts.length === 1 ? { counts: counts[0], cells: cells.join() } : null;
    }, { timeout: 10_000 });
    assert.deepEqual(shown, { counts: '1,1,0', cells: '1,1,0' });
    report.vote.publishedAtF = shown.counts;
  }, 30_000);

  step('F sends a room message in the chat; A and M get it; A answers and F shows the answer', async () => {
    const { M, A, F } = people;
    await F.page.click('[data-testid=chat-toggle]');
    await F.page.waitForSelector('[data-testid=chat-panel]:not([hidden])', { timeout: 5_000 });
    await F.page.type('[data-testid=chat-input]', F_SAYS);
    await F.page.click('[data-testid=chat-send]');
    await Promise.all(
      [M, A].map(({ name, page }) =>
        poll(`${name} to receive F's message`, async (saw) => {
          const s = await state(page);
          saw(s.chat);
          return s.chat.conversations.room?.some((m) => m.text === F_SAYS && m.from === F.id);
        }, { timeout: 10_000 }),
      ),
    );
    await A.page.click('[data-testid=chat-toggle]');
    await A.page.fill('[data-testid=chat-input]', A_SAYS);
    await A.page.click('[data-testid=chat-send]');
    await poll("F's chat to show A's answer after its own message", async (saw) => {
      const texts = roomTexts(await state(F.page));
      const shown = await F.page.$$eval('[data-testid=chat-messages] [data-testid=chat-message] .chat-text', (els) => els.map((el) => el.textContent));
      saw({ texts, shown });
      return texts.join('|') === `${F_SAYS}|${A_SAYS}` && shown.join('|') === `${F_SAYS}|${A_SAYS}`;
    }, { timeout: 10_000 });
  }, 30_000);

  step('F leaves; M and A list two participants and show F nowhere', async () => {
    const { M, A, F } = people;
    await F.page.click('[data-testid=leave]');
    await F.page.waitForSelector('[data-testid=screen-ended]:not([hidden])', { timeout: 5_000 });
    await Promise.all(
      [M, A].map(({ name, page }) =>
        poll(`${name} to list 2 participants and show F in no slot`, async (saw) => {
          const s = await state(page);
          const inSlots = s.slots.filter((slot) => slot.participant_id === F.id).map((slot) => slot.slot);
          saw({ participants: s.participants.map((p) => p.id), inSlots });
          return s.participants.length === 2 && inSlots.length === 0;
        }, { timeout: 10_000 }),
      ),
    );
    console.log(`firefox test: ${report.firefox}, ${JSON.stringify(report.firefoxReceives)}, ${Date.now() - started} ms`);
  }, 20_000);
});
