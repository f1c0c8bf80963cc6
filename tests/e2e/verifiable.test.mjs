// End-to-end: a verifiable secret election (docs/protocol.md, "Verifiable polls") with the real
// `plenum` server, headless Chromium and the standalone verifier — moderator M, delegates A and B
// (printed by the server), Carla, Dana and Emil (`plenum invite`), all in the web UI.
// Once all have joined, M gives B a vote weight of 3 and Emil delegates to Dana. First a
// rehearsal: a verifiable draft whose committee member Carla stays silent (her page is
// paused): M moves the key generation on without her, Dana and Emil are numbered again and
// finish, M cancels. Then the election proper: M creates the election "choose up to 2
// of Anna, Ben, Cem, or no to all" with the tally committee Carla, A and B, 2 of 3: their
// browsers run the key generation by themselves and keep only their share (localStorage). M
// opens; A audits an encrypted ballot first (Benaloh), then everyone casts encrypted ballots
// (Dana twice: her own and Emil's), sees the ballot tracker and finds it on the board. Carla
// leaves before the tally, B reloads its page (the share comes back from localStorage); A's and
// B's browsers decrypt the tally by themselves; M publishes: Anna 2,
// Ben 4, Cem 1 (Ben elected). The board export is downloaded through the UI and `plenum-verify`
// accepts it; a copy with one flipped byte in any one ballot is refused (exit non-zero) — also
// with the hash chain recomputed, then for the ballot's own fault —, and so is one in the
// browser's own check. No share is in the server's log or data directory. Last, a motion whose
// committee (Dana and Emil, 2 of 2) loses Emil before the tally: one partial decryption of two,
// no result; M can only cancel it.
// Run from the repo root (see README.md): tests/e2e/netns.sh node --test tests/e2e/

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, constants, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { DemoRun, PLENUM_BIN, launchChromium, newContext, poll, stepper } from './browser.mjs';
import * as bc from '../../web/ballot-crypto.js';

const run = new DemoRun('verifiable');
const ARTIFACTS = run.artifacts;
/** The standalone verifier (crate verify/): beside the server binary unless named. */
const VERIFY_BIN = process.env.PLENUM_VERIFY_BIN ?? path.join(path.dirname(PLENUM_BIN), 'plenum-verify');

const state = (page) => page.evaluate(() => window.plenumTest.state());
const card = (page, pollId) => page.locator(`[data-testid=poll][data-poll-id="${pollId}"]`);
const pollIn = (s, pollId) => s.polls.find((p) => p.id === pollId) ?? null;

/** Runs plenum-verify on `file`: `{ code, stdout, stderr }` (code 0: accepted). */
async function verify(file) {
  try {
    const { stdout, stderr } = await promisify(execFile)(VERIFY_BIN, ['--require-result', file], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    if (typeof err.code !== 'number') throw err;
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Flips the lowest bit of byte `byte` of the lowercase hex string `s`. */
function flipByte(s, byte) {
  const v = parseInt(s.slice(2 * byte, 2 * byte + 2), 16) ^ 1;
  return s.slice(0, 2 * byte) + v.toString(16).padStart(2, '0') + s.slice(2 * byte + 2);
}

describe('verifiable polls: committee key generation, encrypted ballots, threshold tally, plenum-verify', { timeout: 300_000 }, () => {
  let browser;
  const step = stepper();
  /** @type {Record<string, { key: string, name: string, invite: object, page: import('playwright-core').Page, context: object, id?: string, lang: string }>} */
  const people = {};
  const everyone = () => Object.values(people).filter((p) => !p.gone);
  let committee; // [Carla, A, B] as people, in member order
  let pollId;
  const trackers = {}; // "voter key|holder key" → tracker
  const shares = {}; // person key → the share's hex, as stored in its browser
  let exportFile;
  let exported;

  before(async () => {
    await access(VERIFY_BIN, constants.X_OK).catch(() => {
      throw new Error(`no plenum-verify at ${VERIFY_BIN}: build it (cargo build -p plenum-verify) or set PLENUM_VERIFY_BIN`);
    });
    const printed = await run.start();
    assert.deepEqual(printed.map((i) => i.role), ['moderator', 'delegate', 'delegate'], 'the demo congress prints a moderator and two delegates');
    const publicUrl = new URL(printed[0].url).origin;
    const invites = { M: printed[0], A: printed[1], B: printed[2] };
    for (const [key, name] of [['Carla', 'Carla'], ['Dana', 'Dana'], ['Emil', 'Emil']]) invites[key] = await run.invite({ name, role: 'delegate', publicUrl });
    browser = await launchChromium({ fakeMedia: false });
    // M, B and Dana read German, the others English.
    const langs = { M: 'de', A: 'en', B: 'de', Carla: 'en', Dana: 'de', Emil: 'en' };
    for (const [key, invite] of Object.entries(invites)) {
      const lang = langs[key];
      const context = await newContext(browser, { locale: lang === 'de' ? 'de-DE' : 'en-US', permissions: [], acceptDownloads: true });
      const page = await context.newPage();
      const name = `${key} (${invite.name})`;
      run.watch(page, name);
      people[key] = { key, name, invite, page, context, lang };
    }
  });

  after(async () => {
    for (const p of Object.values(people)) {
      if (!p.gone) await p.page.screenshot({ path: path.join(ARTIFACTS, `${p.key}.png`), fullPage: true }).catch(() => {});
    }
    await run.stop(browser);
  });

  /** Polls every page in `who` until `check(person, state, saw)` holds. */
  function allSee(what, check, { who = everyone(), timeout = 15_000 } = {}) {
    return Promise.all(
      who.map((person) =>
        poll(`${person.name} to ${what}`, async (saw) => {
          const s = await state(person.page);
          return check(person, s, saw);
        }, { timeout }),
      ),
    );
  }

  /** The own committee panel of `person`: `{ status, index, error }` or null. */
  async function memberStatus(person) {
    const panel = card(person.page, pollId).locator('[data-testid=committee-panel]');
    if ((await panel.count()) === 0) return null;
    return { status: await panel.getAttribute('data-status'), index: await panel.getAttribute('data-index'), error: await panel.getAttribute('data-error') };
  }

  /**
   * The share `person`'s browser stored for the poll, parsed, or null: localStorage under
   * `plenum.ballot-share/<room>/<poll>/<participant>`, the only such key.
   */
  async function storedShare(person) {
    const found = await person.page.evaluate(() =>
      Object.keys(localStorage)
        .filter((k) => k.startsWith('plenum.ballot-share/'))
        .map((k) => [k, localStorage.getItem(k)]),
    );
    if (!found.length) return null;
    assert.equal(found.length, 1, `${person.name}: one stored share`);
    assert.equal(found[0][0], `plenum.ballot-share/demo/${pollId}/${person.id}`, `${person.name}: the share is stored under room, poll and participant`);
    return JSON.parse(found[0][1]);
  }

  /** Clicks a checkbox and waits until the re-rendered one is checked. */
  async function choose(panel, selector) {
    await panel.locator(selector).click();
    await poll(`${selector} to be checked`, async () => panel.locator(selector).isChecked(), { timeout: 5_000 });
  }

  /** The vote panel of `holder`'s right on `person`'s page. */
  const panelOf = (person, holder, id = pollId) => card(person.page, id).locator(`[data-testid=vote-panel][data-holder-id="${holder.id}"]`);

  /** Confirms the choice made in `panel` and waits until the browser has encrypted it. */
  async function confirmAndEncrypt(person, panel, confirmText) {
    await panel.locator('[data-testid=vote-submit]').click();
    assert.equal((await panel.locator('[data-testid=vote-confirm-text]').textContent()).trim(), confirmText);
    await poll(`${person.name}'s ballot to be encrypted`, async (saw) => {
      const status = panel.locator('[data-testid=ballot-status]');
      const ready = (await status.count()) ? await status.getAttribute('data-ready') : null;
      const error = panel.locator('[data-testid=vote-error]');
      saw({ ready, error: (await error.count()) ? await error.getAttribute('data-code') : null });
      return ready === 'true';
    }, { timeout: 20_000 });
  }

  /**
   * `person` casts `holder`'s right: `pick(panel)` makes the choice, the confirmation shows
   * `confirmText`, the browser encrypts, "cast" sends it. Resolves with the tracker, once the
   * browser found it on the board.
   */
  async function castBallot(person, pick, confirmText, holder = person, id = pollId) {
    const panel = panelOf(person, holder, id);
    await pick(panel);
    await confirmAndEncrypt(person, panel, confirmText);
    await panel.locator('[data-testid=vote-confirm]').click();
    const shown = panel.locator('[data-testid=vote-tracker]');
    await shown.waitFor({ timeout: 15_000 });
    const tracker = await shown.getAttribute('data-tracker');
    assert.match(tracker, /^[0-9a-f]{64}$/, `${person.name}: a tracker of 64 hex digits`);
    const accepted = person.lang === 'de' ? 'Ihr verschlüsselter Stimmzettel wurde angenommen' : 'Your encrypted ballot was accepted';
    assert.equal((await panel.locator('[data-testid=vote-counted]').textContent()).trim(), accepted);
    await poll(`${person.name}'s browser to find the tracker on the board`, async (saw) => {
      const status = panel.locator('[data-testid=tracker-status]');
      const found = { onBoard: await status.getAttribute('data-on-board'), index: await status.getAttribute('data-index'), text: await status.textContent() };
      saw(found);
      return found.onBoard === 'true' && Number(found.index) > 0;
    }, { timeout: 15_000 });
    assert.equal(await panel.locator('[data-testid=vote-submit], [data-testid=vote-confirm], input').count(), 0, `${person.name}: nothing left to vote with`);
    if (id === pollId) trackers[`${person.key}|${holder.key}`] = tracker;
    return tracker;
  }

  step('all six join through the web UI; M gives B a vote weight of 3; Emil delegates to Dana', async () => {
    await Promise.all(
      everyone().map(async (person) => {
        await person.page.goto(person.invite.url);
        await person.page.click('[data-testid=join]', { timeout: 20_000 });
      }),
    );
    await allSee('be joined with 6 participants', (person, s, saw) => {
      saw({ joined: s.joined, participants: s.participants.length, lastError: s.lastError, screen: s.screen });
      if (!(s.joined && s.participants.length === 6)) return false;
      person.id = s.self.id;
      return true;
    }, { timeout: 30_000 });
    const { M, A, B, Dana, Emil } = people;
    const answer = await M.page.evaluate((id) => window.plenumTest.command('set_grants', { participant_id: id, vote_weight: 3 }), B.id);
    assert.equal(answer?.error, undefined, `set_grants answered ${JSON.stringify(answer)}`);
    await allSee('know B votes with weight 3', (person, s) => s.participants.find((p) => p.id === B.id)?.grants?.vote_weight === 3, { who: [M, B] });

    await Emil.page.click('[data-testid=proxy-open]');
    await Emil.page.selectOption('[data-testid=proxy-select]', Dana.id);
    await Emil.page.click('[data-testid=set-proxy]');
    await poll("Emil's delegation to Dana", async (saw) => {
      const s = await state(Emil.page);
      saw({ proxy: s.proxy, lastError: s.lastError });
      return s.proxy === Dana.id;
    }, { timeout: 10_000 });
    assert.equal(await A.page.isVisible('[data-testid=poll-create]'), false, 'A sees no poll form');
  }, 60_000);

  /**
   * M fills the poll form (`fill`), makes it verifiable with the committee `members` (ticked
   * in this order) and threshold `t`, and submits; resolves with the new draft's id.
   */
  async function createVerifiable(fill, members, t, screenshot = null) {
    const { M } = people;
    const page = M.page;
    const before = new Set((await state(page)).polls.map((p) => p.id));
    if (!(await page.locator('#poll-create').evaluate((d) => d.open))) await page.click('[data-testid=poll-create-open]');
    await fill(page);
    await page.check('[data-testid=new-poll-verifiable]');
    await page.locator('[data-testid=new-poll-committee]').waitFor({ state: 'visible', timeout: 5_000 });
    // Each box is drawn anew on every change: find it by participant id every time.
    const box = (id) => page.locator(`[data-testid=committee-choice][data-participant-id="${id}"]`);
    const ticked = await page.locator('[data-testid=committee-choice]:checked').evaluateAll((els) => els.map((el) => el.dataset.participantId));
    for (const id of ticked) await box(id).uncheck();
    for (const member of members) {
      const box = () => page.locator(`[data-testid=committee-choice][data-participant-id="${member.id}"]`);
      await box().check();
      await poll(`${member.name} to be ticked`, () => box().isChecked(), { timeout: 5_000 });
    }
    await page.fill('[data-testid=new-poll-threshold]', String(t));
    if (screenshot) await page.locator('[data-testid=poll-create]').screenshot({ path: path.join(ARTIFACTS, screenshot) });
    await page.click('[data-testid=new-poll-submit]');
    return poll("M's verifiable poll to be listed as a draft", async (saw) => {
      const s = await state(page);
      const created = s.polls.find((p) => !before.has(p.id));
      saw({ polls: s.polls.map((p) => [p.id, p.state]), error: await page.textContent('[data-testid=new-poll-error]'), lastError: s.lastError });
      return created?.state === 'draft' ? created.id : null;
    }, { timeout: 10_000 });
  }

  /** The key generation's round as M's page shows it. */
  async function roundOnM(id) {
    const status = card(people.M.page, id).locator('[data-testid=dkg-status]');
    return (await status.count()) ? status.getAttribute('data-round') : null;
  }

  step('a committee member that does not answer: M moves on without it, the others are numbered again and finish; M cancels', async () => {
    const { M, Carla, Dana, Emil } = people;
    // Carla's page stops running scripts (the debugger pauses it): her browser stays silent.
    const cdp = await Carla.context.newCDPSession(Carla.page);
    await cdp.send('Debugger.enable');
    await cdp.send('Debugger.pause');
    const id = await createVerifiable(async (page) => {
      await page.fill('[data-testid=new-poll-title]', 'Probelauf');
      await page.click('[data-testid=new-poll-motion]');
    }, [Carla, Dana, Emil], 2);
    const draft = pollIn(await state(M.page), id);
    assert.deepEqual(draft.verifiable.committee, [Carla.id, Dana.id, Emil.id], 'the committee in the order of their names');
    await poll('Dana and Emil to send their keys as members 2 and 3, Carla silent', async (saw) => {
      const rows = await card(M.page, id).locator('[data-testid=dkg-member]').evaluateAll((lis) => lis.map((li) => [li.dataset.index, li.dataset.spoken]));
      saw({ rows, round: await roundOnM(id) });
      return JSON.stringify(rows) === JSON.stringify([['1', 'false'], ['2', 'true'], ['3', 'true']]);
    }, { timeout: 20_000 });
    assert.equal(await roundOnM(id), 'keys', 'the round waits for Carla');
    assert.equal(await card(M.page, id).locator('[data-testid=poll-open]').isDisabled(), true, 'no opening before the key exists');
    await card(M.page, id).locator('[data-testid=poll-dkg-advance]').click();
    await poll('the key generation to finish with Dana and Emil as members 1 and 2', async (saw) => {
      const p = pollIn(await state(M.page), id);
      saw({ round: await roundOnM(id), dkg: p?.verifiable?.dkg });
      const members = p?.verifiable?.dkg?.members ?? [];
      return (await roundOnM(id)) === 'done' && JSON.stringify(members.map((m) => [m.index, m.participant_id, m.qualified])) === JSON.stringify([[1, Dana.id, true], [2, Emil.id, true]]);
    }, { timeout: 30_000 });
    for (const [person, index] of [[Dana, '1'], [Emil, '2']]) {
      const status = await poll(`${person.name} to hold a share as member ${index}`, async (saw) => {
        const panel = card(person.page, id).locator('[data-testid=committee-panel]');
        const shown = { status: await panel.getAttribute('data-status'), index: await panel.getAttribute('data-index') };
        saw(shown);
        return shown.status === 'shareStored' && shown;
      }, { timeout: 20_000 });
      assert.equal(status.index, index);
    }
    // Carla's page runs again: it learns that it is out.
    await cdp.send('Debugger.resume');
    await cdp.send('Debugger.disable');
    await cdp.detach();
    await poll("Carla's page to say she is out of this committee", async (saw) => {
      const panel = card(Carla.page, id).locator('[data-testid=committee-panel]');
      const shown = (await panel.count()) ? await panel.getAttribute('data-status') : null;
      saw(shown);
      return shown === 'excluded';
    }, { timeout: 20_000 });
    await card(M.page, id).locator('[data-testid=poll-cancel]').click();
    await card(M.page, id).locator('[data-testid=poll-cancel-confirm]').click();
    await poll('the draft to be cancelled and the shares deleted', async (saw) => {
      const stored = await Promise.all([Dana, Emil].map((p) => p.page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('plenum.ballot-share/')))));
      const cancelled = pollIn(await state(M.page), id)?.state === 'cancelled';
      saw({ stored, cancelled });
      return cancelled && stored.every((keys) => keys.length === 0);
    }, { timeout: 15_000 });
  }, 90_000);

  step('M creates the verifiable election with the committee Carla, A, B (2 of 3) through the form', async () => {
    const { M, A, B, Carla, Dana, Emil } = people;
    pollId = await createVerifiable(async (page) => {
      await page.fill('[data-testid=new-poll-title]', 'Wahl der Beisitzenden');
      await page.click('[data-testid=new-poll-election]');
      await page.fill('[data-testid=new-poll-candidates]', 'Anna\nBen\nCem');
      await page.selectOption('[data-testid=new-poll-method]', 'choose');
      await page.fill('[data-testid=new-poll-k]', '2');
      await page.check('[data-testid=new-poll-global-no]');
      await page.uncheck('[data-testid=new-poll-verifiable]');
      assert.equal(await page.isVisible('[data-testid=new-poll-committee]'), false, 'the committee is asked for only when verifiable');
      await page.check('[data-testid=new-poll-verifiable]');
      // Everyone with a vote is offered, M (no vote) is not.
      const offered = await page.locator('[data-testid=committee-choice]').evaluateAll((els) => els.map((el) => el.dataset.participantId));
      assert.deepEqual(new Set(offered), new Set([A.id, B.id, Carla.id, Dana.id, Emil.id]), 'the voters present are offered');
    }, [Carla, A, B], 2, 'm-verifiable-form.png');
    const draft = pollIn(await state(M.page), pollId);
    assert.deepEqual([draft.kind, draft.candidates, draft.method, draft.secret], ['election', ['Anna', 'Ben', 'Cem'], { type: 'choose', k: 2, global_no: true, global_abstain: false }, true]);
    assert.equal(draft.verifiable.threshold, 2);
    assert.deepEqual(new Set(draft.verifiable.committee), new Set([Carla.id, A.id, B.id]));
    // Member order = the committee's order in the definition.
    committee = draft.verifiable.committee.map((id) => everyone().find((p) => p.id === id));
    for (const outsider of [Dana, Emil]) assert.equal(await card(outsider.page, pollId).count(), 0, `${outsider.name} does not see the draft`);
  }, 30_000);

  step("the committee's browsers generate the key by themselves; each keeps only its share; M opens", async () => {
    const { M } = people;
    await poll('M to see the key generation done', async (saw) => {
      const status = card(M.page, pollId).locator('[data-testid=dkg-status]');
      const round = (await status.count()) ? await status.getAttribute('data-round') : null;
      const rows = await card(M.page, pollId).locator('[data-testid=dkg-member]').allTextContents();
      saw({ round, rows, dkg: pollIn(await state(M.page), pollId)?.verifiable?.dkg });
      return round === 'done';
    }, { timeout: 60_000 });
    await card(M.page, pollId).screenshot({ path: path.join(ARTIFACTS, 'm-dkg-done.png') });
    const digests = new Set();
    await allSee('hold its share of the election key, and nothing else', async (person, s, saw) => {
      const status = await memberStatus(person);
      const snapshot = s.verifiable.members[pollId];
      const share = await storedShare(person);
      saw({ status, snapshot, share: Boolean(share) });
      if (status?.status !== 'shareStored' || !share) return false;
      assert.deepEqual(Object.keys(share).sort(), ['digest', 'member', 'share'], 'only the share, its index and the committee digest are stored');
      assert.match(share.share, /^[0-9a-f]{64}$/);
      assert.equal(String(share.member), status.index);
      assert.equal(snapshot.hasDkgKey, false, 'the DKG key is forgotten');
      shares[person.key] = share.share;
      const digest = await card(person.page, pollId).locator('[data-testid=committee-digest]').getAttribute('data-digest');
      assert.equal(digest, share.digest);
      digests.add(digest);
      return true;
    }, { who: committee, timeout: 30_000 });
    assert.equal(digests.size, 1, 'the three members see the same committee fingerprint');
    assert.equal(new Set(Object.values(shares)).size, 3, 'three different shares');

    const open = card(M.page, pollId).locator('[data-testid=poll-open]');
    assert.equal(await open.isDisabled(), false, 'M may open once the key exists');
    await open.click();
    await allSee('show the election open, 0 of 5', async (person, s, saw) => {
      const p = pollIn(s, pollId);
      saw({ state: p?.state, voted: p?.voted, eligible: p?.eligible_voters });
      return p?.state === 'open' && p.voted === 0 && p.eligible_voters === 5;
    });
    const { Dana, Emil } = people;
    assert.equal(await card(Dana.page, pollId).locator('[data-testid=vote-panel]').count(), 2, 'Dana holds two rights (her own and Emil\'s)');
    assert.equal(await card(Emil.page, pollId).locator('[data-testid=vote-panel]').count(), 0, 'Emil votes through Dana');
    const weight = await panelOf(people.B, people.B).locator('.vote-label').textContent();
    assert.match(weight, /Stimmgewicht 3/, 'B is told the weight');
  }, 120_000);

  step('A audits an encrypted ballot (Benaloh) instead of casting it, then casts a fresh one: Anna and Ben', async () => {
    const { A } = people;
    const panel = panelOf(A, A);
    await choose(panel, '[data-testid=candidate-choice][data-index="0"]');
    await choose(panel, '[data-testid=candidate-choice][data-index="1"]');
    await confirmAndEncrypt(A, panel, 'Cast your vote? Your choice: Anna, Ben');
    const audited = (await state(A.page)).verifiable.voters[`${pollId}|${A.id}`];
    assert.equal(audited.ready, true);
    await panel.locator('[data-testid=vote-audit]').click();
    const result = panel.locator('[data-testid=audit-result]');
    await result.waitFor({ timeout: 15_000 });
    assert.equal(await result.getAttribute('data-ok'), 'true', 'the opened ballot holds what A chose');
    assert.match(await result.textContent(), /held “Anna, Ben” — as chosen/);
    // A fresh ballot is encrypted at once; the audited one was never sent.
    await poll("A's fresh ballot to be encrypted", async () => (await panel.locator('[data-testid=ballot-status]').getAttribute('data-ready')) === 'true', { timeout: 20_000 });
    assert.equal(pollIn(await state(A.page), pollId).voted, 0, 'auditing sent nothing');
    await panel.screenshot({ path: path.join(ARTIFACTS, 'a-audit.png') });
    await panel.locator('[data-testid=vote-confirm]').click();
    const shown = panel.locator('[data-testid=vote-tracker]');
    await shown.waitFor({ timeout: 15_000 });
    trackers['A|A'] = await shown.getAttribute('data-tracker');
    await poll("A's browser to find the tracker on the board", async () => (await panel.locator('[data-testid=tracker-status]').getAttribute('data-on-board')) === 'true', { timeout: 15_000 });
  }, 60_000);

  step('B (weight 3) votes Ben, Carla Cem, Dana Anna for herself and "no to all" for Emil; each finds its tracker on the board', async () => {
    const { B, Carla, Dana, Emil } = people;
    await castBallot(B, (panel) => choose(panel, '[data-testid=candidate-choice][data-index="1"]'), 'Stimme abgeben? Ihre Wahl: Ben');
    await castBallot(Carla, (panel) => choose(panel, '[data-testid=candidate-choice][data-index="2"]'), 'Cast your vote? Your choice: Cem');
    await castBallot(Dana, (panel) => choose(panel, '[data-testid=candidate-choice][data-index="0"]'), 'Stimme abgeben? Ihre Wahl: Anna');
    await castBallot(Dana, (panel) => choose(panel, '[data-testid=global-no]'), 'Stimme abgeben? Ihre Wahl: Nein zu allen', Emil);
    assert.equal(new Set(Object.values(trackers)).size, 5, 'five different trackers');
    await allSee('show 5 of 5 voted', (person, s) => pollIn(s, pollId)?.voted === 5);
    // The board registered each right's weight: B's ballot with 3.
    const onBoard = (await state(B.page)).verifiable.voters[`${pollId}|${B.id}`].onBoard;
    assert.deepEqual([onBoard.registered, onBoard.weight], [3, 3]);
    await card(Dana.page, pollId).screenshot({ path: path.join(ARTIFACTS, 'dana-two-trackers.png') });
  }, 90_000);

  step('B (committee member) reloads the page: its share comes back from localStorage', async () => {
    const { B } = people;
    await B.page.goto('about:blank');
    await B.page.goto(B.invite.url);
    await B.page.click('[data-testid=join]', { timeout: 15_000 });
    await poll("B's page to be back with its share", async (saw) => {
      const s = await state(B.page);
      const status = s.joined ? await memberStatus(B) : null;
      saw({ joined: s.joined, status, snapshot: s.verifiable?.members?.[pollId] });
      return status?.status === 'shareStored' && s.verifiable.members[pollId].hasShare;
    }, { timeout: 20_000 });
    assert.equal(pollIn(await state(B.page), pollId).my_rights[0].voted, true, 'B has voted');
    assert.equal(await panelOf(B, B).locator('[data-testid=vote-cast-elsewhere]').count(), 1, 'the tracker stayed with the page that cast');
  }, 30_000);

  step('Carla (committee member) leaves; M closes; A and B decrypt by themselves; M publishes: Anna 2, Ben 4, Cem 1', async () => {
    const { M, Carla, A, B } = people;
    await Carla.context.close();
    Carla.gone = true;
    await allSee('see Carla gone', (person, s) => !s.participants.some((p) => p.id === Carla.id), { timeout: 15_000 });
    await card(M.page, pollId).locator('[data-testid=poll-close]').click();
    await poll('M to see the decrypted, unpublished result', async (saw) => {
      const p = pollIn(await state(M.page), pollId);
      const line = card(M.page, pollId).locator('[data-testid=poll-decryption]');
      saw({ state: p?.state, decryption: p?.verifiable?.decryption, result: Boolean(p?.result), line: (await line.count()) ? await line.textContent() : null });
      return p?.state === 'closed' && p.result && (await card(M.page, pollId).locator('[data-testid=result-unpublished]').count()) === 1;
    }, { timeout: 60_000 });
    const decryption = pollIn(await state(M.page), pollId).verifiable.decryption;
    assert.deepEqual([decryption.valid, decryption.needed], [2, 2], 'two valid partial decryptions of two needed');
    await allSee('have sent its partial decryption and deleted its share', async (person, s, saw) => {
      const status = await memberStatus(person);
      const share = await storedShare(person);
      saw({ status, snapshot: s.verifiable.members[pollId], share: Boolean(share) });
      return status?.status === 'finished' && !share;
    }, { who: [A, B], timeout: 30_000 });
    await card(M.page, pollId).locator('[data-testid=poll-publish]').click();
    await allSee('show Anna 2, Ben 4, Cem 1 of weight 7, Ben elected', async (person, s, saw) => {
      const c = card(person.page, pollId);
      const outcome = c.locator('[data-testid=poll-outcome]');
      if ((await outcome.count()) !== 1) return false;
      const rows = await c.locator('[data-testid=result-row]').evaluateAll((trs) => trs.map((tr) => [tr.querySelector('th').firstChild.textContent, tr.dataset.yes, tr.dataset.no]));
      const shown = { rows, elected: await outcome.getAttribute('data-elected'), state: pollIn(s, pollId)?.state, participation: pollIn(s, pollId)?.result?.participation };
      saw(shown);
      return (
        shown.state === 'published' &&
        JSON.stringify(rows) === JSON.stringify([['Anna', '2', '5'], ['Ben', '4', '3'], ['Cem', '1', '6']]) &&
        shown.elected === '1' &&
        shown.participation?.ballots === 5 &&
        shown.participation?.weight === 7
      );
    }, { timeout: 20_000 });
    await card(people.Dana.page, pollId).screenshot({ path: path.join(ARTIFACTS, 'dana-result.png') });
  }, 120_000);

  step("Dana downloads the board; plenum-verify accepts it; the browser's own check agrees", async () => {
    const { Dana } = people;
    const c = card(Dana.page, pollId);
    const [download] = await Promise.all([Dana.page.waitForEvent('download', { timeout: 15_000 }), c.locator('[data-testid=board-download]').click()]);
    exportFile = path.join(ARTIFACTS, 'board.json');
    await download.saveAs(exportFile);
    exported = JSON.parse(await readFile(exportFile, 'utf8'));
    assert.equal(exported.format, 'plenum-board/v1');
    const kinds = exported.entries.map((e) => e.entry.kind);
    assert.equal(kinds.filter((k) => k === 'ballot').length, 5);
    assert.equal(kinds.filter((k) => k === 'partial_decryption').length, 2);
    assert.equal(kinds.at(-1), 'result');
    // Every voter's tracker is a ballot on the board.
    const onBoard = await Dana.page.evaluate(async (exp) => {
      const bc = await import('/assets/ballot-crypto.js');
      return exp.entries.filter((e) => e.entry.kind === 'ballot').map((e) => bc.tracker(e.entry));
    }, exported);
    assert.deepEqual(new Set(onBoard), new Set(Object.values(trackers)), 'the five trackers are the five ballots');

    const verdict = await verify(exportFile);
    await writeFile(path.join(ARTIFACTS, 'plenum-verify.txt'), `${verdict.stdout}${verdict.stderr}`);
    assert.equal(verdict.code, 0, `plenum-verify refused the board:\n${verdict.stdout}${verdict.stderr}`);
    assert.match(verdict.stdout, /OK — every check holds/);
    assert.match(verdict.stdout, /ballots:\s+5 \(weight 7\)/);

    await c.locator('[data-testid=board-verify]').click();
    await poll("Dana's browser to check the board", async (saw) => {
      const line = c.locator('[data-testid=board-verdict]');
      if ((await line.count()) === 0) return false;
      const shown = { ok: await line.getAttribute('data-ok'), phase: await line.getAttribute('data-phase'), ballots: await line.getAttribute('data-ballots'), busy: await line.getAttribute('data-busy') };
      saw(shown);
      return shown.ok === 'true' && shown.phase === 'published' && shown.ballots === '5';
    }, { timeout: 30_000 });
    assert.equal((await state(Dana.page)).verifiable.checksIn, 'worker', 'the check ran off the main thread (board-worker.js)');
  }, 60_000);

  step('one flipped byte in any one ballot: plenum-verify refuses the board, naming that entry; so does the browser', async () => {
    const ballots = exported.entries.map((e, i) => [e.entry, i]).filter(([e]) => e.kind === 'ballot');
    // A different field of each ballot: a ciphertext, a 0/1 proof, the bounds proof, the
    // credential, the signature.
    const flips = [
      ['option 0 ciphertext alpha', (b) => (b.questions[0].options[0].ciphertext.alpha = flipByte(b.questions[0].options[0].ciphertext.alpha, 7))],
      ['option 2 proof z', (b) => (b.questions[0].options[2].proof[1].z = flipByte(b.questions[0].options[2].proof[1].z, 3))],
      ['bounds proof c', (b) => (b.questions[0].sum_proof[0].c = flipByte(b.questions[0].sum_proof[0].c, 0))],
      ['credential', (b) => (b.credential = flipByte(b.credential, 12))],
      ['signature', (b) => (b.signature = flipByte(b.signature, 40))],
    ];
    assert.equal(ballots.length, flips.length);
    let firstTampered = null;
    const refusals = [];
    for (const [k, [, index]] of ballots.entries()) {
      const [what, flip] = flips[k];
      const copy = JSON.parse(JSON.stringify(exported));
      flip(copy.entries[index].entry);
      const file = path.join(ARTIFACTS, `board-flipped-${index}.json`);
      await writeFile(file, JSON.stringify(copy, null, 2));
      firstTampered ??= file;
      const verdict = await verify(file);
      assert.notEqual(verdict.code, 0, `plenum-verify accepted a board with a flipped byte in entry ${index} (${what})`);
      assert.match(verdict.stderr, new RegExp(`FAILED: .*entry ${index}\\b`), `plenum-verify names entry ${index} (${what}): ${verdict.stderr}`);
      // The same change with the hash chain recomputed from there on: now the ballot's own
      // check (proofs, registration, signature) must catch it, not the chain.
      let head = index > 0 ? copy.entries[index - 1].hash : '00'.repeat(32);
      for (const e of copy.entries.slice(index)) e.hash = head = bc.chainHash(head, e.entry);
      const rechained = path.join(ARTIFACTS, `board-flipped-rechained-${index}.json`);
      await writeFile(rechained, JSON.stringify(copy, null, 2));
      const again = await verify(rechained);
      assert.notEqual(again.code, 0, `plenum-verify accepted a re-chained board with a flipped byte in entry ${index} (${what})`);
      assert.match(again.stderr, new RegExp(`FAILED: .*entry ${index}\\b`), `plenum-verify names entry ${index} (${what}): ${again.stderr}`);
      assert.doesNotMatch(again.stderr, /chain/i, `the ballot's own check refuses entry ${index} (${what}): ${again.stderr}`);
      refusals.push(`${what}: ${again.stderr.trim()}`);
    }
    await writeFile(path.join(ARTIFACTS, 'plenum-verify-refusals.txt'), `${refusals.join('\n')}\n`);
    const { Dana } = people;
    const c = card(Dana.page, pollId);
    await c.locator('[data-testid=board-file]').setInputFiles(firstTampered);
    await poll("Dana's browser to refuse the changed file", async (saw) => {
      const line = c.locator('[data-testid=board-verdict]');
      const shown = { ok: await line.getAttribute('data-ok'), index: await line.getAttribute('data-index'), code: await line.getAttribute('data-code'), source: await line.getAttribute('data-source') };
      saw(shown);
      return shown.source === 'file' && shown.ok === 'false' && shown.index === String(ballots[0][1]);
    }, { timeout: 30_000 });
  }, 60_000);

  step("no committee member's share is in the server's log or its data directory", async () => {
    const log = run.serverLog.join('');
    const files = await filesUnder(run.dataDir);
    for (const [who, share] of Object.entries(shares)) {
      const raw = Buffer.from(share, 'hex');
      assert.equal(log.includes(share), false, `${who}'s share is in the server log`);
      for (const file of files) {
        const bytes = await readFile(file);
        assert.equal(bytes.includes(raw) || bytes.includes(Buffer.from(share)), false, `${who}'s share is in ${file}`);
      }
    }
  }, 30_000);
  step('fewer than t members left at the tally: no result, M can only cancel; the share is deleted', async () => {
    const { M, Dana, Emil } = people;
    const id = await createVerifiable(async (page) => {
      await page.fill('[data-testid=new-poll-title]', 'Antrag B2');
      await page.click('[data-testid=new-poll-motion]');
    }, [Dana, Emil], 2);
    await poll('the key generation to be done', async () => (await roundOnM(id)) === 'done', { timeout: 30_000 });
    await allSee('hold a share', async (person) => (await card(person.page, id).locator('[data-testid=committee-panel]').getAttribute('data-status')) === 'shareStored', { who: [Dana, Emil], timeout: 20_000 });
    await card(M.page, id).locator('[data-testid=poll-open]').click();
    await poll('Dana to see the motion open', async () => pollIn(await state(Dana.page), id)?.state === 'open', { timeout: 10_000 });
    await castBallot(Dana, (panel) => panel.locator('[data-testid=choice-yes]').click(), 'Stimme abgeben? Ihre Wahl: Ja', Dana, id);
    await Emil.context.close();
    Emil.gone = true;
    await card(M.page, id).locator('[data-testid=poll-close]').click();
    await poll("Dana's partial decryption, one of two needed, and no result", async (saw) => {
      const line = card(M.page, id).locator('[data-testid=poll-decryption]');
      const shown = (await line.count()) ? { valid: await line.getAttribute('data-valid'), needed: await line.getAttribute('data-needed') } : null;
      const p = pollIn(await state(M.page), id);
      saw({ shown, state: p?.state, result: Boolean(p?.result) });
      return p?.state === 'closed' && !p.result && shown?.valid === '1' && shown.needed === '2';
    }, { timeout: 30_000 });
    assert.equal(await card(M.page, id).locator('[data-testid=poll-publish]').count(), 0, 'nothing to publish');
    await card(M.page, id).locator('[data-testid=poll-cancel]').click();
    await card(M.page, id).locator('[data-testid=poll-cancel-confirm]').click();
    await poll('the poll to be cancelled and Dana\'s share deleted', async (saw) => {
      const stored = await Dana.page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('plenum.ballot-share/')));
      const cancelled = pollIn(await state(M.page), id)?.state === 'cancelled';
      saw({ stored, cancelled });
      return cancelled && stored.length === 0;
    }, { timeout: 15_000 });
  }, 90_000);
});
