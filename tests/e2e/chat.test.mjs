// End-to-end: the chat with the real `plenum` server and three headless Chromium participants
// of the demo congress — moderator M and delegates A and B (printed by the server), all joining
// through the UI. Everything a person does goes through the chat panel or the participant list:
// room messages and the unread badge, a private message that M never receives (checked on the
// WebSocket, in M's chat state and in M's page), an announcement, deleting, switching the chat
// off and on, muting one person's chat, the rate limit's translated error, and the history
// after a reload.
// Run from the repo root (see README.md): tests/e2e/netns.sh node --test tests/e2e/

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { DemoRun, launchChromium, newContext, poll, stepper } from './browser.mjs';

const run = new DemoRun('chat');
const ARTIFACTS = run.artifacts;

const ROOM_TEXT = 'Guten Morgen zusammen, Antrag A1 liegt aus.';
const SECRET = 'Nur für B: Treffen um 12 Uhr am Stand 7';
const REPLY = 'Einverstanden, bis gleich';
const ANNOUNCEMENT = 'Die Mittagspause beginnt um 12:30 Uhr.';
/** Long enough for a message that should not arrive to have arrived. */
const QUIET_MS = 1_000;

const state = (page) => page.evaluate(() => window.plenumTest.state());
const roomTexts = (s) => (s.chat?.conversations?.room ?? []).map((m) => m.text);
/** Every message text in every conversation of a page's chat state. */
const allTexts = (s) => Object.values(s.chat?.conversations ?? {}).flat().map((m) => m.text);
/** The texts the page's message list shows now. */
const shownTexts = (page) => page.$$eval('[data-testid=chat-messages] [data-testid=chat-message] .chat-text', (els) => els.map((el) => el.textContent));

describe('chat: room, private messages and moderation with three browsers', { timeout: 180_000 }, () => {
  let browser;
  const step = stepper();
  /** @type {Record<'M'|'A'|'B', { name: string, invite: object, page: import('playwright-core').Page, id?: string }>} */
  const people = {};
  const everyone = () => Object.values(people);
  /** Every WebSocket frame M's browser received, as text. */
  const framesAtM = [];
  /** The id of A's room message, once sent. */
  let roomMessageId;

  before(async () => {
    const printed = await run.start();
    assert.deepEqual(printed.map((i) => i.role), ['moderator', 'delegate', 'delegate'], 'the demo congress prints a moderator and two delegates');
    // The chat needs no camera or microphone: everyone joins receiving only, which spares the CPU.
    browser = await launchChromium({ fakeMedia: false });
    const invites = { M: printed[0], A: printed[1], B: printed[2] };
    for (const [key, invite] of Object.entries(invites)) {
      // A reads English, M and B German: errors and notes are checked in both.
      const context = await newContext(browser, { locale: key === 'A' ? 'en-US' : 'de-DE' });
      const page = await context.newPage();
      const name = `${key} (${invite.name})`;
      run.watch(page, name);
      if (key === 'M') {
        page.on('websocket', (ws) => ws.on('framereceived', (frame) => framesAtM.push(String(frame.payload))));
      }
      people[key] = { name, invite, page };
    }
  });

  after(async () => {
    await run.stop(browser);
  });

  /** Opens `person`'s chat panel unless it is open. */
  async function openChat(person) {
    if ((await state(person.page)).chat.open) return;
    await person.page.click('[data-testid=chat-toggle]');
    await person.page.waitForSelector('[data-testid=chat-panel]:not([hidden])', { timeout: 5_000 });
  }

  /** Types `text` into `person`'s chat input and sends it with the send button. */
  async function typeAndSend(person, text) {
    await person.page.fill('[data-testid=chat-input]', text);
    await person.page.click('[data-testid=chat-send]');
  }

  /** `person`'s input to be disabled (or not) and the note above it to be `noteState` ('' for none). */
  async function inputIs(person, { disabled, noteState, noteText = null }) {
    await poll(`${person.name}'s chat input to be ${disabled ? 'disabled' : 'enabled'}`, async (saw) => {
      const s = await state(person.page);
      const input = await person.page.isDisabled('[data-testid=chat-input]');
      const note = await person.page.getAttribute('[data-testid=chat-note]', 'data-state');
      const text = await person.page.textContent('[data-testid=chat-note]');
      saw({ enabled: s.chat.enabled, muted: s.chat.muted, input, note, text });
      return input === disabled && note === noteState && (noteText === null || noteText.test(text));
    }, { timeout: 10_000 });
  }

  step('M, A and B join through the UI; each gets the chat history and an enabled chat', async () => {
    await Promise.all(
      everyone().map(async (person) => {
        await person.page.goto(person.invite.url);
        await person.page.click('[data-testid=join]', { timeout: 15_000 });
      }),
    );
    await Promise.all(
      everyone().map(async (person) => {
        await poll(`${person.name} to be joined with 3 participants and the chat history`, async (saw) => {
          const s = await state(person.page);
          saw({ joined: s.joined, participants: s.participants.length, mediaReady: s.mediaReady, chat: s.chat, lastError: s.lastError });
          return s.joined && s.mediaReady && s.participants.length === 3 && s.chat.historyReceived;
        }, { timeout: 20_000 });
        const s = await state(person.page);
        person.id = s.self.id;
        assert.equal(s.chat.enabled, true, `${person.name}: the chat starts on`);
        assert.equal(s.chat.muted, false, `${person.name}: not muted`);
        assert.deepEqual(allTexts(s), [], `${person.name}: a fresh room has no messages`);
        assert.equal(await person.page.isHidden('[data-testid=chat-unread-total]'), true, `${person.name}: no unread badge`);
      }),
    );
    assert.equal((await state(people.M.page)).self.grants.moderate, true, 'M may moderate');
    assert.equal((await state(people.A.page)).self.grants.moderate, false, 'A may not moderate');
  }, 45_000);

  step("A sends a room message: it reaches B and M, and B's badge counts it while B's chat is closed", async () => {
    const { M, A, B } = people;
    await openChat(M);
    await openChat(A);
    assert.equal(await A.page.isVisible('[data-testid=chat-moderation]'), false, 'A has no moderation tools');
    assert.equal(await A.page.isVisible('[data-testid=chat-announce]'), false, 'A cannot announce');
    await typeAndSend(A, ROOM_TEXT);
    await Promise.all(
      [A, M].map((person) =>
        poll(`${person.name} to show A's room message`, async (saw) => {
          const s = await state(person.page);
          const shown = await shownTexts(person.page);
          saw({ room: roomTexts(s), shown, error: s.chat.error });
          return shown.includes(ROOM_TEXT) && roomTexts(s).includes(ROOM_TEXT);
        }, { timeout: 10_000 }),
      ),
    );
    assert.equal(await A.page.inputValue('[data-testid=chat-input]'), '', "A's input is empty again");
    const atA = (await state(A.page)).chat.conversations.room.find((m) => m.text === ROOM_TEXT);
    assert.equal(atA.from, A.id);
    assert.equal(atA.announcement, false);
    roomMessageId = atA.id;
    const item = M.page.locator(`[data-testid=chat-message][data-message-id="${roomMessageId}"]`);
    assert.equal(await item.locator('.chat-from').textContent(), A.invite.name, "M's item names the sender");
    assert.match(await item.locator('time').textContent(), /^\d\d:\d\d$/, 'with the time');

    await poll("B's unread badge to count A's message", async (saw) => {
      const s = await state(B.page);
      const badgeHidden = await B.page.isHidden('[data-testid=chat-unread-total]');
      const badge = await B.page.textContent('[data-testid=chat-unread-total]');
      saw({ room: roomTexts(s), unread: s.chat.unread, open: s.chat.open, badgeHidden, badge });
      return roomTexts(s).includes(ROOM_TEXT) && s.chat.unread.room === 1 && !badgeHidden && badge === '1';
    }, { timeout: 10_000 });
    assert.equal(await B.page.isHidden('[data-testid=chat-panel]'), true, "B's chat is closed");
    assert.match(await B.page.getAttribute('[data-testid=chat-toggle]', 'aria-label'), /1 ungelesen/);

    await openChat(B);
    assert.deepEqual(await shownTexts(B.page), [ROOM_TEXT]);
    await poll("B's badge to go once B read the message", async (saw) => {
      const s = await state(B.page);
      saw({ unread: s.chat.unread, unreadTotal: s.chat.unreadTotal });
      return s.chat.unreadTotal === 0 && (await B.page.isHidden('[data-testid=chat-unread-total]'));
    }, { timeout: 5_000 });
  }, 30_000);

  step('A writes to B privately from the participant list: B gets it in the conversation with A, M never sees it', async () => {
    const { M, A, B } = people;
    // Anything in M's page that ever shows the private text is remembered.
    await M.page.evaluate((secret) => {
      window.sawSecret = false;
      const check = () => {
        if (document.body.textContent.includes(secret) || document.querySelector('[data-testid=chat-input]')?.value.includes(secret)) window.sawSecret = true;
      };
      new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
      check();
    }, SECRET);

    await A.page.click(`[data-testid=participant][data-participant-id="${B.id}"] [data-testid=chat-message-to]`);
    await poll("A's chat to be on the conversation with B", async () => (await state(A.page)).chat.active === B.id, { timeout: 5_000 });
    assert.match(await A.page.textContent('[data-testid=chat-private-note]'), /only .* and you/);
    await typeAndSend(A, SECRET);

    await poll("B's conversation with A to hold the private message, unread", async (saw) => {
      const s = await state(B.page);
      const tabBadge = await B.page
        .locator(`[data-testid=chat-conversation][data-conversation="${A.id}"] [data-testid=chat-unread]`)
        .textContent({ timeout: 500 })
        .catch(() => null);
      saw({ conversations: s.chat.conversations, unread: s.chat.unread, tabBadge });
      const msgs = s.chat.conversations[A.id] ?? [];
      return msgs.some((m) => m.text === SECRET && m.to === B.id && m.from === A.id) && s.chat.unread[A.id] === 1 && tabBadge === '1';
    }, { timeout: 10_000 });
    assert.equal(roomTexts(await state(B.page)).includes(SECRET), false, 'not in the room conversation');
    assert.equal((await shownTexts(B.page)).includes(SECRET), false, 'B still shows the room');

    await B.page.click(`[data-testid=chat-conversation][data-conversation="${A.id}"]`);
    assert.deepEqual(await shownTexts(B.page), [SECRET], "B's conversation with A");
    await poll("B's private unread count to go", async () => (await state(B.page)).chat.unread[A.id] === 0, { timeout: 5_000 });
    // B answers in the conversation: A gets it grouped with the first message.
    await typeAndSend(B, REPLY);
    await poll("A's conversation with B to show both messages", async (saw) => {
      const shown = await shownTexts(A.page);
      const s = await state(A.page);
      saw({ shown, conversations: s.chat.conversations });
      return JSON.stringify(shown) === JSON.stringify([SECRET, REPLY]) && (s.chat.conversations[B.id] ?? []).length === 2;
    }, { timeout: 10_000 });

    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const s = await state(M.page);
    assert.deepEqual(Object.keys(s.chat.conversations), ['room'], "M's chat has no private conversation");
    assert.equal(allTexts(s).some((text) => text === SECRET || text === REPLY), false, "M's chat state never held the private messages");
    assert.equal(await M.page.evaluate(() => window.sawSecret), false, "M's page never showed the private message");
    assert.equal((await M.page.content()).includes(SECRET), false);
    assert.equal(framesAtM.length > 0, true, "M's WebSocket frames were recorded");
    assert.equal(framesAtM.some((f) => f.includes('Treffen um 12 Uhr') || f.includes(REPLY)), false, "no frame to M carried the private messages");
    await B.page.screenshot({ path: path.join(ARTIFACTS, 'b-private.png') });
  }, 40_000);

  step('M sends an announcement: highlighted for everyone', async () => {
    const { M, B } = people;
    await M.page.check('[data-testid=chat-announce]');
    assert.equal(await M.page.textContent('[data-testid=chat-send]'), 'Ankündigen');
    await typeAndSend(M, ANNOUNCEMENT);
    await B.page.click('[data-testid=chat-conversation][data-conversation="room"]');
    await poll('B to show the announcement highlighted', async (saw) => {
      const item = B.page.locator('[data-testid=chat-message][data-announcement="true"]');
      const n = await item.count();
      const text = n ? await item.locator('.chat-text').textContent() : null;
      saw({ n, text, room: roomTexts(await state(B.page)) });
      return n === 1 && text === ANNOUNCEMENT && (await item.evaluate((el) => el.classList.contains('announcement')));
    }, { timeout: 10_000 });
    assert.match(await B.page.locator('[data-testid=chat-message][data-announcement="true"]').textContent(), /Ankündigung/);
    await M.page.screenshot({ path: path.join(ARTIFACTS, 'moderator.png') });
  }, 20_000);

  step("M deletes A's room message: it disappears at B and A", async () => {
    const { M, A, B } = people;
    assert.equal(await B.page.locator('[data-testid=chat-delete]').count(), 0, 'B cannot delete');
    await M.page.click(`[data-testid=chat-message][data-message-id="${roomMessageId}"] [data-testid=chat-delete]`);
    await Promise.all(
      [B, A, M].map((person) =>
        poll(`${person.name} to drop A's room message`, async (saw) => {
          const s = await state(person.page);
          const shown = await person.page.locator(`[data-testid=chat-message][data-message-id="${roomMessageId}"]`).count();
          saw({ room: roomTexts(s), shown });
          return !roomTexts(s).includes(ROOM_TEXT) && shown === 0;
        }, { timeout: 10_000 }),
      ),
    );
    assert.deepEqual(roomTexts(await state(B.page)), [ANNOUNCEMENT], 'the announcement stays');
  }, 20_000);

  step("M switches the chat off: B's input is disabled with an explanation; M switches it on again", async () => {
    const { M, A, B } = people;
    await M.page.click('[data-testid=chat-moderation-open]');
    await M.page.uncheck('[data-testid=chat-enabled-toggle]');
    await inputIs(B, { disabled: true, noteState: 'disabledNote', noteText: /Moderation hat den Chat ausgeschaltet/ });
    await inputIs(A, { disabled: true, noteState: 'disabledNote', noteText: /switched the chat off/ });
    assert.equal(await B.page.isDisabled('[data-testid=chat-send]'), true, "B's send button too");
    await inputIs(M, { disabled: false, noteState: 'disabledModeratorNote' });
    await B.page.screenshot({ path: path.join(ARTIFACTS, 'b-chat-off.png') });
    await M.page.check('[data-testid=chat-enabled-toggle]');
    await inputIs(B, { disabled: false, noteState: '' });
    await inputIs(A, { disabled: false, noteState: '' });
  }, 30_000);

  step("M mutes B's chat and frees it again", async () => {
    const { M, B } = people;
    await M.page.selectOption('[data-testid=chat-mute-select]', B.id);
    await M.page.click('[data-testid=chat-mute]');
    await inputIs(B, { disabled: true, noteState: 'mutedNote', noteText: /Chat gesperrt/ });
    await M.page.click(`[data-testid=chat-muted][data-participant-id="${B.id}"] [data-testid=chat-unmute]`);
    await inputIs(B, { disabled: false, noteState: '' });
    assert.equal(await M.page.locator('[data-testid=chat-muted]').count(), 0, "M's list of muted people is empty again");
  }, 20_000);

  step('A writes too fast: the rate limit is shown in English', async () => {
    const { A } = people;
    await A.page.click('[data-testid=chat-conversation][data-conversation="room"]');
    let limited = false;
    for (let i = 1; i <= 7 && !limited; i++) {
      await typeAndSend(A, `Nachricht ${i}`);
      limited = await poll(`A's message ${i} to be sent or refused`, async (saw) => {
        const s = await state(A.page);
        const value = await A.page.inputValue('[data-testid=chat-input]');
        saw({ value, error: s.chat.error, room: roomTexts(s) });
        if (s.chat.error) return 'limited';
        return value === '' && roomTexts(s).includes(`Nachricht ${i}`) ? 'sent' : false;
      }, { timeout: 10_000 }) === 'limited';
    }
    assert.equal(limited, true, 'the server refused a message within the window');
    assert.equal(await A.page.textContent('[data-testid=chat-error]'), 'Too many messages – please wait a moment');
    assert.notEqual(await A.page.inputValue('[data-testid=chat-input]'), '', 'the refused text stays in the input');
  }, 40_000);

  step('B reloads and joins again: the history brings the room and the private conversation back, nothing unread', async () => {
    const { A, B } = people;
    await B.page.goto('about:blank');
    await B.page.goto(B.invite.url);
    await B.page.click('[data-testid=join]', { timeout: 15_000 });
    await poll('B to be back with the history', async (saw) => {
      const s = await state(B.page);
      saw({ joined: s.joined, chat: s.chat });
      const privateTexts = (s.chat.conversations[A.id] ?? []).map((m) => m.text);
      return s.joined && s.chat.historyReceived && roomTexts(s).includes(ANNOUNCEMENT) && JSON.stringify(privateTexts) === JSON.stringify([SECRET, REPLY]);
    }, { timeout: 20_000 });
    const s = await state(B.page);
    assert.equal(roomTexts(s).includes(ROOM_TEXT), false, 'the deleted message stays deleted');
    assert.equal(s.chat.unreadTotal, 0, 'history counts as read');
    assert.equal(await B.page.isHidden('[data-testid=chat-unread-total]'), true);
  }, 30_000);
});
