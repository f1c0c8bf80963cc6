// End-to-end: the real `plenum` server and three headless Chromium participants.
// Run from the repo root (see README.md): tests/e2e/netns.sh node --test tests/e2e/

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, newContext, nonLoopbackInterfaces, poll } from './browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '../..');
const ARTIFACTS = path.join(here, 'artifacts');
const PLENUM_BIN = path.resolve(REPO, process.env.PLENUM_BIN ?? 'target/debug/plenum');
const SERVER_START_TIMEOUT_MS = 30_000;
const INVITE_LINE = /^ {2}(\S+)\s+(.+?)\s+(\S+\/join#token=\S+)\s*$/;

/** Starts `plenum serve` and resolves with its three invites once it printed them. */
function startServer(dataDir, log) {
  const child = spawn(
    PLENUM_BIN,
    ['serve', '--data-dir', dataDir, '--http-bind', '127.0.0.1:0', '--media-bind', '127.0.0.1:0'],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const ready = new Promise((resolve, reject) => {
    const invites = [];
    let buffered = '';
    const timer = setTimeout(() => {
      reject(new Error(`server printed ${invites.length} of 3 invite links within ${SERVER_START_TIMEOUT_MS} ms; output:\n${log.join('')}`));
    }, SERVER_START_TIMEOUT_MS);
    child.stdout.on('data', (chunk) => {
      log.push(chunk.toString());
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) {
        const m = INVITE_LINE.exec(line);
        if (m && line.includes('/join#token=')) invites.push({ role: m[1], name: m[2], url: m[3] });
        if (invites.length === 3) {
          clearTimeout(timer);
          resolve(invites);
        }
      }
    });
    child.stderr.on('data', (chunk) => log.push(chunk.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${PLENUM_BIN}: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (code ${code}, signal ${signal}); output:\n${log.join('')}`));
    });
  });
  return { child, ready };
}

async function stopServer(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

const state = (page) => page.evaluate(() => window.plenumTest.state());
const stats = (page) => page.evaluate(() => window.plenumTest.stats());

describe('three browsers in the demo room', { timeout: 150_000 }, () => {
  const serverLog = [];
  const consoleLog = [];
  let dataDir;
  let server;
  let browser;
  /** @type {{ invite: object, page: import('playwright-core').Page, id?: string }[]} */
  let people = [];
  let broken = null;

  /** Runs one step; once a step failed the later ones are skipped instead of timing out. */
  function step(name, fn, timeout) {
    it(name, { timeout }, async (t) => {
      if (broken) {
        t.skip(`skipped: "${broken}" failed`);
        return;
      }
      try {
        await fn();
      } catch (err) {
        broken = name;
        throw err;
      }
    });
  }

  before(async () => {
    const outside = nonLoopbackInterfaces();
    assert.deepEqual(
      outside,
      [],
      `this test must run in a private network namespace with only lo; found ${outside.join(', ')}. ` +
        'Run it from the repo root as: tests/e2e/netns.sh node --test tests/e2e/',
    );
    await access(PLENUM_BIN, constants.X_OK).catch(() => {
      throw new Error(`no plenum binary at ${PLENUM_BIN}: build it (cargo build) or set PLENUM_BIN`);
    });
    await mkdir(ARTIFACTS, { recursive: true });
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'plenum-e2e-'));
    server = startServer(dataDir, serverLog);
    const invites = await server.ready;
    browser = await launchChromium();
    people = await Promise.all(
      invites.map(async (invite, i) => {
        const context = await newContext(browser, { locale: i === 1 ? 'en-US' : 'de-DE' });
        const page = await context.newPage();
        page.on('console', (m) => consoleLog.push(`[${invite.name}] ${m.type()}: ${m.text()}`));
        page.on('pageerror', (e) => consoleLog.push(`[${invite.name}] pageerror: ${e.message}`));
        return { invite, page };
      }),
    );
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopServer(server?.child);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await writeFile(path.join(ARTIFACTS, 'server.log'), serverLog.join('')).catch(() => {});
    await writeFile(path.join(ARTIFACTS, 'console.log'), consoleLog.join('\n')).catch(() => {});
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

  step('every stage decodes frames and reaches the full layer (1280 wide)', async () => {
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
        await poll(`${invite.name}'s stage to show the top layer (frameWidth 1280)`, async (saw) => {
          const s = await stats(page);
          saw({ stage: s.stage, send: s.send });
          return s.stage.frameWidth === 1280;
        }, { timeout: 30_000, interval: 500 });
      }),
    );
  }, 65_000);

  step('every page receives audio', async () => {
    await Promise.all(
      people.map(async ({ invite, page }) => {
        const first = new Map((await stats(page)).audio.map((a) => [a.slot, a.packetsReceived]));
        await poll(`${invite.name} to receive audio packets in some audio slot`, async (saw) => {
          const { audio } = await stats(page);
          saw(audio);
          return audio.some((a) => a.packetsReceived > (first.get(a.slot) ?? 0));
        }, { timeout: 15_000, interval: 500 });
      }),
    );
    await people[0].page.screenshot({ path: path.join(ARTIFACTS, 'room.png') });
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
