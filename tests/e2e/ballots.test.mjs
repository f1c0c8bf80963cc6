// End-to-end: secret ballots with the real `plenum` server and headless Chromium — moderator
// M, delegates A and B (printed by the server) and C (`plenum invite`), all in the web UI.
// A secret motion (vote with confirmation, receipt, no second vote, progress without result,
// close, publish, receipt check), a choose-1-of-3 election with a delegated vote, and a
// named yes/no election whose quorum is missed (with a draft cancelled on the way).
// The participants have no camera or microphone: voting needs none, and it spares the CPU.
// Run from the repo root (see README.md): tests/e2e/netns.sh node --test tests/e2e/

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { DemoRun, launchChromium, newContext, poll, stepper } from './browser.mjs';

const run = new DemoRun('ballots');
const ARTIFACTS = run.artifacts;

const state = (page) => page.evaluate(() => window.plenumTest.state());
const card = (page, pollId) => page.locator(`[data-testid=poll][data-poll-id="${pollId}"]`);
const pollIn = (s, pollId) => s.polls.find((p) => p.id === pollId) ?? null;

describe('ballots: a secret motion and an election with a delegated vote', { timeout: 180_000 }, () => {
  let browser;
  const step = stepper();
  /** @type {Record<'M'|'A'|'B'|'C', { name: string, invite: object, page: import('playwright-core').Page, id?: string, lang: string }>} */
  const people = {};
  const everyone = () => Object.values(people);
  const voters = () => [people.A, people.B, people.C];
  let motionId;
  let electionId;
  let namedId;
  const receipts = {};

  before(async () => {
    const printed = await run.start();
    assert.deepEqual(printed.map((i) => i.role), ['moderator', 'delegate', 'delegate'], 'the demo congress prints a moderator and two delegates');
    const publicUrl = new URL(printed[0].url).origin;
    const cem = await run.invite({ name: 'Cem', role: 'delegate', publicUrl });
    browser = await launchChromium({ fakeMedia: false });
    const invites = { M: printed[0], A: printed[1], B: printed[2], C: cem };
    // M and B read German, A and C English.
    const langs = { M: 'de', A: 'en', B: 'de', C: 'en' };
    for (const [key, invite] of Object.entries(invites)) {
      const lang = langs[key];
      const context = await newContext(browser, { locale: lang === 'de' ? 'de-DE' : 'en-US', permissions: [] });
      if (key === 'A') await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: publicUrl });
      const page = await context.newPage();
      const name = `${key} (${invite.name})`;
      run.watch(page, name);
      people[key] = { name, invite, page, lang };
    }
  });

  after(async () => {
    for (const { page, name } of Object.values(people)) {
      await page.screenshot({ path: path.join(ARTIFACTS, `${name.split(' ')[0]}.png`), fullPage: true }).catch(() => {});
    }
    await run.stop(browser);
  });

  /** Polls every page in `people` until `check(person, state)` holds. */
  function allSee(what, check, { who = everyone(), timeout = 10_000 } = {}) {
    return Promise.all(
      who.map((person) =>
        poll(`${person.name} to ${what}`, async (saw) => {
          const s = await state(person.page);
          return check(person, s, saw);
        }, { timeout }),
      ),
    );
  }

  /** The progress line of a poll as `person` sees it: `{ voted, eligible, text }` or null. */
  async function progressOf(person, pollId) {
    const line = card(person.page, pollId).locator('[data-testid=poll-progress]');
    if ((await line.count()) === 0) return null;
    return { voted: await line.getAttribute('data-voted'), eligible: await line.getAttribute('data-eligible'), text: (await line.textContent()).trim() };
  }

  /** `person` creates a poll through the form; resolves with its id once it is listed as a draft. */
  async function createPoll(person, fill) {
    const { page } = person;
    const before = new Set((await state(page)).polls.map((p) => p.id));
    if (!(await page.locator('#poll-create').evaluate((d) => d.open))) await page.click('[data-testid=poll-create-open]');
    await fill(page);
    await page.click('[data-testid=new-poll-submit]');
    return poll(`${person.name}'s new poll to be listed as a draft`, async (saw) => {
      const s = await state(page);
      const created = s.polls.find((p) => !before.has(p.id));
      const error = await page.textContent('[data-testid=new-poll-error]');
      saw({ polls: s.polls.map((p) => [p.id, p.title, p.state]), error, lastError: s.lastError });
      if (!created || created.state !== 'draft') return null;
      return (await card(page, created.id).count()) === 1 ? created.id : null;
    }, { timeout: 10_000 });
  }

  /**
   * `person` votes through the vote panel of `holder`'s right: `pick(panel)` makes the choice,
   * then the confirmation step must show `confirmText`. Resolves with the receipt.
   */
  async function vote(person, pollId, pick, confirmText, holder = person) {
    const panel = card(person.page, pollId).locator(`[data-testid=vote-panel][data-holder-id="${holder.id}"]`);
    await pick(panel);
    await panel.locator('[data-testid=vote-submit]').click();
    assert.equal((await panel.locator('[data-testid=vote-confirm-text]').textContent()).trim(), confirmText);
    await panel.locator('[data-testid=vote-confirm]').click();
    const shown = panel.locator('[data-testid=vote-receipt]');
    await shown.waitFor({ timeout: 10_000 });
    const receipt = await shown.getAttribute('data-receipt');
    assert.match(receipt, /^[0-9a-f]{32}$/, `${person.name}: a receipt of 32 hex digits`);
    const counted = person.lang === 'de' ? 'Ihre Stimme wurde gezählt' : 'Your vote was counted';
    assert.equal((await panel.locator('[data-testid=vote-counted]').textContent()).trim(), counted);
    assert.equal((await state(person.page)).receipts[pollId]?.[holder.id], receipt, `${person.name} keeps the receipt`);
    // No second attempt in the UI: the panel offers no choice and no button any more.
    assert.equal(await panel.locator('[data-testid=vote-submit], [data-testid=vote-confirm], input').count(), 0, `${person.name}: nothing left to vote with`);
    return receipt;
  }

  /** Clicks a radio button or checkbox and waits until the re-rendered one is checked. */
  async function choose(panel, selector) {
    await panel.locator(selector).click();
    await poll(`${selector} to be checked`, async () => panel.locator(selector).isChecked(), { timeout: 5_000 });
  }

  step('all four join through the web UI; M may create polls, A, B and C may delegate', async () => {
    await Promise.all(
      everyone().map(async (person) => {
        await person.page.goto(person.invite.url);
        await person.page.click('[data-testid=join]', { timeout: 15_000 });
      }),
    );
    await allSee('be joined with 4 participants', (person, s, saw) => {
      saw({ joined: s.joined, participants: s.participants.length, lastError: s.lastError, screen: s.screen });
      if (!(s.joined && s.participants.length === 4)) return false;
      person.id = s.self.id;
      return true;
    }, { timeout: 20_000 });
    const { M, A } = people;
    assert.equal(await M.page.isVisible('[data-testid=poll-create]'), true, 'M sees the poll form');
    assert.equal(await M.page.isVisible('[data-testid=proxy]'), false, 'M has no vote to delegate');
    for (const voter of voters()) {
      assert.equal(await voter.page.isVisible('[data-testid=poll-create]'), false, `${voter.name} sees no poll form`);
      assert.equal(await voter.page.isVisible('[data-testid=proxy]'), true, `${voter.name} may delegate`);
      const s = await state(voter.page);
      assert.deepEqual([s.polls, s.proxy], [[], null], `${voter.name}: no polls, no proxy`);
    }
    assert.equal(await A.page.isVisible('[data-testid=polls-empty]'), true);
  }, 45_000);

  step('M creates a secret motion through the form; only M sees the draft; M opens it', async () => {
    const { M } = people;
    motionId = await createPoll(M, async (page) => {
      await page.fill('[data-testid=new-poll-title]', 'Antrag A1: Mehr Bänke im Park');
      await page.click('[data-testid=new-poll-motion]');
      assert.equal(await page.isChecked('[data-testid=new-poll-secret]'), true, 'secret is the default');
    });
    const draft = pollIn(await state(M.page), motionId);
    assert.equal(draft.kind, 'motion');
    assert.equal(draft.secret, true);
    for (const voter of voters()) {
      assert.equal(await card(voter.page, motionId).count(), 0, `${voter.name} does not see the draft`);
    }
    await card(M.page, motionId).locator('[data-testid=poll-open]').click();
    await allSee('show the motion open, 0 of 3, with no result', async (person, s, saw) => {
      const p = pollIn(s, motionId);
      const progress = await progressOf(person, motionId);
      saw({ poll: p, progress });
      return p?.state === 'open' && progress?.voted === '0' && progress.eligible === '3' && !p.result;
    });
    for (const voter of voters()) {
      const panels = card(voter.page, motionId).locator('[data-testid=vote-panel]');
      assert.equal(await panels.count(), 1, `${voter.name} gets one vote panel`);
      assert.equal(await panels.getAttribute('data-delegated'), 'false');
      const attention = await voter.page.$eval('[data-testid=ballot-panel]', (el) => el.classList.contains('attention'));
      assert.equal(attention, true, `${voter.name}: the poll panel moves up and asks for attention`);
    }
    assert.equal(await card(M.page, motionId).locator('[data-testid=vote-panel]').count(), 0, 'M has no vote');
  }, 30_000);

  step('A votes yes, B votes no, C votes yes, each through the confirmation step; each gets a receipt', async () => {
    const { A, B, C } = people;
    receipts.A = await vote(A, motionId, (panel) => choose(panel, '[data-testid=choice-yes]'), 'Cast your vote? Your choice: Yes');
    // Going back from the confirmation keeps the choice and sends nothing.
    const panelB = card(B.page, motionId).locator('[data-testid=vote-panel]');
    await choose(panelB, '[data-testid=choice-no]');
    await panelB.locator('[data-testid=vote-submit]').click();
    await panelB.screenshot({ path: path.join(ARTIFACTS, 'b-confirm.png') });
    await panelB.locator('[data-testid=vote-back]').click();
    assert.equal(await panelB.locator('[data-testid=choice-no]').isChecked(), true, 'the choice survives "back"');
    assert.equal(pollIn(await state(B.page), motionId).voted, 1, 'going back sent nothing');
    receipts.B = await vote(B, motionId, async () => {}, 'Stimme abgeben? Ihre Wahl: Nein');
    receipts.C = await vote(C, motionId, (panel) => choose(panel, '[data-testid=choice-yes]'), 'Cast your vote? Your choice: Yes');
    assert.equal(new Set(Object.values(receipts)).size, 3, 'three different receipts');
  }, 30_000);

  step('forced through plenumTest, a second vote of A is refused with already_voted, shown to A', async () => {
    const { A } = people;
    const answer = await A.page.evaluate((id) => window.plenumTest.castVote(id, { vote: 'no' }), motionId);
    assert.deepEqual(answer, { error: 'already_voted' });
    const error = card(A.page, motionId).locator('[data-testid=vote-error]');
    assert.equal(await error.getAttribute('data-code'), 'already_voted');
    assert.match(await error.textContent(), /already been cast/);
    assert.equal((await state(A.page)).receipts[motionId][A.id], receipts.A, 'the receipt stays');
  }, 15_000);

  step('while open everyone sees "3 of 3" and no result', async () => {
    await allSee('show 3 of 3 and no result', async (person, s, saw) => {
      const p = pollIn(s, motionId);
      const progress = await progressOf(person, motionId);
      const results = await card(person.page, motionId).locator('[data-testid=poll-result]').count();
      saw({ progress, results, state: p?.state });
      const text = person.lang === 'de' ? '3 von 3 haben abgestimmt' : '3 of 3 have voted';
      return p?.state === 'open' && progress?.text === text && results === 0 && !p.result;
    });
  }, 15_000);

  step('M closes: only M sees the result; M publishes: everyone sees yes 2, no 1, accepted', async () => {
    const { M } = people;
    await card(M.page, motionId).locator('[data-testid=poll-close]').click();
    await poll('M to see the unpublished result', async (saw) => {
      const notice = await card(M.page, motionId).locator('[data-testid=result-unpublished]').count();
      const outcome = card(M.page, motionId).locator('[data-testid=poll-outcome]');
      saw({ notice, poll: pollIn(await state(M.page), motionId) });
      return notice === 1 && (await outcome.count()) === 1 && (await outcome.getAttribute('data-outcome')) === 'accepted';
    }, { timeout: 10_000 });
    await allSee('show the motion closed without a result', async (person, s) => {
      const p = pollIn(s, motionId);
      return p?.state === 'closed' && !p.result && (await card(person.page, motionId).locator('[data-testid=poll-result]').count()) === 0;
    }, { who: voters() });
    await card(M.page, motionId).locator('[data-testid=poll-publish]').click();
    await allSee('show yes 2 / no 1 / abstain 0, accepted', async (person, s, saw) => {
      const c = card(person.page, motionId);
      const row = c.locator('[data-testid=result-row]');
      const outcome = c.locator('[data-testid=poll-outcome]');
      if ((await row.count()) !== 1 || (await outcome.count()) !== 1) return false;
      const shown = {
        counts: [await row.getAttribute('data-yes'), await row.getAttribute('data-no'), await row.getAttribute('data-abstain')],
        cells: await row.locator('td').allTextContents(),
        outcome: await outcome.getAttribute('data-outcome'),
        text: (await outcome.textContent()).trim(),
        state: pollIn(s, motionId)?.state,
      };
      saw(shown);
      const accepted = person.lang === 'de' ? 'Angenommen' : 'Accepted';
      return shown.state === 'published' && shown.counts.join() === '2,1,0' && shown.cells.join() === '2,1,0' && shown.outcome === 'accepted' && shown.text === accepted;
    });
    const participation = await card(people.C.page, motionId).locator('[data-testid=result-participation]').textContent();
    assert.match(participation, /^3 of 3 eligible voters voted/);
    const rule = await card(people.B.page, motionId).locator('[data-testid=poll-rule]').textContent();
    assert.match(rule, /Einfache Mehrheit/);
  }, 30_000);

  step('A copies the receipt and checks it: it is among the counted ballots', async () => {
    const { A } = people;
    const c = card(A.page, motionId);
    await c.locator('[data-testid=copy-receipt]').click();
    await poll("A's copy to be confirmed", async () => /Copied/.test(await c.locator('[data-testid=copy-status]').textContent()), { timeout: 5_000 });
    assert.equal(await A.page.evaluate(() => navigator.clipboard.readText()), receipts.A, 'the clipboard holds the receipt');
    await c.locator('[data-testid=check-receipt]').click();
    const check = c.locator('[data-testid=receipt-check]');
    await check.waitFor({ timeout: 10_000 });
    assert.equal(await check.getAttribute('data-found'), 'true');
    assert.equal(await check.getAttribute('data-receipt'), receipts.A);
    assert.match(await check.textContent(), /is among the 3 counted ballots/);
    await c.screenshot({ path: path.join(ARTIFACTS, 'a-receipt-check.png') });
  }, 20_000);

  step('M creates a secret election "choose 1 of 3" with a global no; B delegates to A before it opens', async () => {
    const { M, A, B } = people;
    electionId = await createPoll(M, async (page) => {
      await page.fill('[data-testid=new-poll-title]', 'Wahl des Vorstands');
      await page.click('[data-testid=new-poll-election]');
      await page.fill('[data-testid=new-poll-candidates]', 'Anna\nBen\nCem');
      await page.selectOption('[data-testid=new-poll-method]', 'choose');
      await page.fill('[data-testid=new-poll-k]', '1');
      await page.check('[data-testid=new-poll-global-no]');
      await page.locator('[data-testid=poll-create]').screenshot({ path: path.join(ARTIFACTS, 'm-election-form.png') });
    });
    const draft = pollIn(await state(M.page), electionId);
    assert.deepEqual([draft.kind, draft.candidates, draft.method, draft.secret], ['election', ['Anna', 'Ben', 'Cem'], { type: 'choose', k: 1, global_no: true, global_abstain: false }, true]);

    await B.page.click('[data-testid=proxy-open]');
    await B.page.selectOption('[data-testid=proxy-select]', A.id);
    await B.page.click('[data-testid=set-proxy]');
    await poll("B's delegation to A to be shown", async (saw) => {
      const s = await state(B.page);
      const text = await B.page.textContent('[data-testid=proxy-status]');
      saw({ proxy: s.proxy, text, lastError: s.lastError });
      return s.proxy === A.id && text.includes(A.invite.name) && (await B.page.isVisible('[data-testid=revoke-proxy]'));
    }, { timeout: 10_000 });

    // One delegation per proxy: C cannot delegate to A too, and is told why.
    const { C } = people;
    await C.page.click('[data-testid=proxy-open]');
    await C.page.selectOption('[data-testid=proxy-select]', A.id);
    await C.page.click('[data-testid=set-proxy]');
    await poll("C's delegation to be refused", async (saw) => {
      const s = await state(C.page);
      const error = await C.page.textContent('[data-testid=proxy-error]');
      saw({ proxy: s.proxy, error, lastError: s.lastError });
      return s.proxy === null && s.lastError === 'bad_request' && /already holds a delegated vote/.test(error);
    }, { timeout: 10_000 });
  }, 30_000);

  step("M opens the election: A gets two vote panels (own and B's), B none", async () => {
    const { M, A, B } = people;
    await card(M.page, electionId).locator('[data-testid=poll-open]').click();
    await allSee('show the election open, 0 of 3', async (person, s) => {
      const progress = await progressOf(person, electionId);
      return pollIn(s, electionId)?.state === 'open' && progress?.voted === '0' && progress.eligible === '3';
    });
    const panels = card(A.page, electionId).locator('[data-testid=vote-panel]');
    assert.equal(await panels.count(), 2, 'A holds two rights');
    const delegated = card(A.page, electionId).locator(`[data-testid=vote-panel][data-holder-id="${B.id}"]`);
    assert.equal(await delegated.getAttribute('data-delegated'), 'true');
    assert.match(await delegated.locator('.vote-label').textContent(), new RegExp(`Delegated vote of ${B.invite.name}`));
    assert.equal(await card(B.page, electionId).locator('[data-testid=vote-panel]').count(), 0, 'B votes no more');
    assert.equal(await card(B.page, electionId).locator('[data-testid=not-eligible]').count(), 1, 'B is told why');
    await card(A.page, electionId).screenshot({ path: path.join(ARTIFACTS, 'a-two-vote-panels.png') });
  }, 20_000);

  step('A votes Ben twice (own and for B), limited to one name; C votes Anna', async () => {
    const { A, B, C } = people;
    receipts.electionA = await vote(A, electionId, async (panel) => {
      await choose(panel, '[data-testid=candidate-choice][data-index="1"]');
      // k = 1: the other names are locked, the global no stays possible.
      assert.equal(await panel.locator('[data-testid=candidate-choice][data-index="0"]').isDisabled(), true);
      assert.equal(await panel.locator('[data-testid=candidate-choice][data-index="2"]').isDisabled(), true);
      assert.equal(await panel.locator('[data-testid=global-no]').isDisabled(), false);
      assert.equal(await panel.locator('[data-testid=global-abstain]').count(), 0, 'no global abstention offered');
    }, 'Cast your vote? Your choice: Ben');
    receipts.electionB = await vote(A, electionId, (panel) => choose(panel, '[data-testid=candidate-choice][data-index="1"]'), 'Cast your vote? Your choice: Ben', B);
    receipts.electionC = await vote(C, electionId, (panel) => choose(panel, '[data-testid=candidate-choice][data-index="0"]'), 'Cast your vote? Your choice: Anna');
    await allSee('show 3 of 3 in the election', async (person) => (await progressOf(person, electionId))?.voted === '3');
  }, 30_000);

  step('M closes and publishes: C sees Ben elected (2 votes), Anna 1, Cem 0', async () => {
    const { M, C } = people;
    await card(M.page, electionId).locator('[data-testid=poll-close]').click();
    await poll('M to see the election closed', async () => (await card(M.page, electionId).locator('[data-testid=poll-publish]').count()) === 1, { timeout: 10_000 });
    await card(M.page, electionId).locator('[data-testid=poll-publish]').click();
    await allSee('show Ben elected', async (person, s, saw) => {
      const outcome = card(person.page, electionId).locator('[data-testid=poll-outcome]');
      if ((await outcome.count()) !== 1) return false;
      const shown = { elected: await outcome.getAttribute('data-elected'), text: (await outcome.textContent()).trim(), result: pollIn(s, electionId)?.result };
      saw(shown);
      return shown.elected === '1' && /Ben/.test(shown.text) && !/Anna|Cem/.test(shown.text);
    });
    const rows = card(C.page, electionId).locator('[data-testid=result-row]');
    const yes = await rows.evaluateAll((trs) => trs.map((tr) => [tr.querySelector('th').firstChild.textContent, tr.dataset.yes]));
    assert.deepEqual(yes, [['Anna', '1'], ['Ben', '2'], ['Cem', '0']]);
    assert.equal((await card(C.page, electionId).locator('[data-testid=poll-outcome]').textContent()).trim(), 'Elected: Ben');
    await card(C.page, electionId).screenshot({ path: path.join(ARTIFACTS, 'c-election-result.png') });
  }, 30_000);

  step('B takes the delegation back', async () => {
    const { B } = people;
    await B.page.click('[data-testid=revoke-proxy]');
    await poll("B's delegation to be gone", async (saw) => {
      const s = await state(B.page);
      saw({ proxy: s.proxy, lastError: s.lastError });
      return s.proxy === null && (await B.page.isHidden('[data-testid=revoke-proxy]'));
    }, { timeout: 10_000 });
  }, 15_000);

  step('M cancels a draft after confirming; M creates a named yes/no election with a 100 % quorum and opens it', async () => {
    const { M } = people;
    const mistakeId = await createPoll(M, async (page) => {
      await page.fill('[data-testid=new-poll-title]', 'Versehen');
      await page.click('[data-testid=new-poll-motion]');
    });
    const mistake = card(M.page, mistakeId);
    await mistake.locator('[data-testid=poll-cancel]').click();
    await mistake.locator('[data-testid=poll-cancel-back]').click();
    assert.equal(await mistake.getAttribute('data-state'), 'draft', '"no" keeps the draft');
    await mistake.locator('[data-testid=poll-cancel]').click();
    await mistake.locator('[data-testid=poll-cancel-confirm]').click();
    await poll('the draft to be cancelled', async () => (await mistake.getAttribute('data-state')) === 'cancelled', { timeout: 10_000 });

    namedId = await createPoll(M, async (page) => {
      await page.fill('[data-testid=new-poll-title]', 'Rechnungsprüfung');
      await page.click('[data-testid=new-poll-election]');
      await page.fill('[data-testid=new-poll-candidates]', 'Dora\nEmil');
      await page.selectOption('[data-testid=new-poll-method]', 'yes_no');
      await page.uncheck('[data-testid=new-poll-secret]');
      await page.selectOption('[data-testid=new-poll-quorum-of]', 'voters');
      await page.fill('[data-testid=new-poll-quorum-percent]', '100');
      await page.selectOption('[data-testid=new-poll-rule]', 'two_thirds');
    });
    const draft = pollIn(await state(M.page), namedId);
    assert.deepEqual(
      [draft.secret, draft.method, draft.quorum, draft.majority],
      [false, { type: 'yes_no' }, { of: 'voters', percent: 100 }, { rule: 'two_thirds', abstentions: 'ignored' }],
    );
    await card(M.page, namedId).locator('[data-testid=poll-open]').click();
    await allSee('show the named election open, 0 of 3, and not the cancelled draft', async (person, s) => {
      const cancelledShown = await card(person.page, mistakeId).count();
      return pollIn(s, namedId)?.state === 'open' && (await progressOf(person, namedId))?.eligible === '3' && cancelledShown === (person === M ? 1 : 0);
    });
  }, 30_000);

  step('A and C answer per candidate, B does not: the quorum is missed, the roll call lists who chose what', async () => {
    const { M, A, B, C } = people;
    await vote(A, namedId, async (panel) => {
      await choose(panel, '[data-candidate="0"] [data-testid=answer-yes]');
      assert.equal(await panel.locator('[data-testid=vote-submit]').isDisabled(), true, 'every candidate needs an answer');
      await choose(panel, '[data-candidate="1"] [data-testid=answer-no]');
    }, 'Cast your vote? Your choice: Dora: Yes, Emil: No');
    await vote(C, namedId, async (panel) => {
      await choose(panel, '[data-candidate="0"] [data-testid=answer-abstain]');
      await choose(panel, '[data-candidate="1"] [data-testid=answer-yes]');
    }, 'Cast your vote? Your choice: Dora: Abstain, Emil: Yes');
    await allSee('show 2 of 3', async (person) => (await progressOf(person, namedId))?.voted === '2');
    await card(M.page, namedId).locator('[data-testid=poll-close]').click();
    await poll('M to be offered to publish', async () => (await card(M.page, namedId).locator('[data-testid=poll-publish]').count()) === 1, { timeout: 10_000 });
    await card(M.page, namedId).locator('[data-testid=poll-publish]').click();
    await allSee('show the quorum missed, nobody elected, and the roll call', async (person, s, saw) => {
      const c = card(person.page, namedId);
      const quorum = c.locator('[data-testid=result-quorum]');
      const outcome = c.locator('[data-testid=poll-outcome]');
      if ((await quorum.count()) !== 1 || (await outcome.count()) !== 1) return false;
      const named = await c.locator('[data-testid=named-vote]').evaluateAll((lis) => lis.map((li) => [li.dataset.participantId, li.textContent]));
      const shown = { reached: await quorum.getAttribute('data-reached'), outcome: await outcome.getAttribute('data-outcome'), named };
      saw(shown);
      return shown.reached === 'false' && shown.outcome === 'none' && named.length === 2;
    });
    const named = await card(B.page, namedId).locator('[data-testid=named-vote]').evaluateAll((lis) => lis.map((li) => [li.dataset.participantId, li.textContent]));
    assert.deepEqual(named, [
      [C.id, 'Cem: Dora: Enthaltung, Emil: Ja'],
      [A.id, `${A.invite.name}: Dora: Ja, Emil: Nein`],
    ], 'sorted by name, in B\'s language');
    assert.match(await card(B.page, namedId).locator('[data-testid=poll-rule]').textContent(), /Zweidrittelmehrheit.*Quorum: 100 % der Stimmberechtigten/);
  }, 30_000);
});
