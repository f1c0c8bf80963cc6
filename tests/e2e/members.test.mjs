// End-to-end: a member of the organisation gets an activation link, sets a password in the
// browser, signs in, finds the demo congress on the start page and enters it without any
// token in the URL; the moderator (an invite link) sees them present. Wrong passwords get the
// translated refusal; signing out ends the session. The moderator revokes the member's
// invitation: the member's page says so and the start page no longer offers the congress.

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DemoRun, launchChromium, newContext, poll, stepper } from './browser.mjs';

const run = new DemoRun('members');
const ARTIFACTS = run.artifacts;
const state = (page) => page.evaluate(() => window.plenumTest.state());

describe('Members: activation, sign-in, start page, entering the congress', { timeout: 120_000 }, () => {
  let browser;
  let moderator;
  let member;
  let origin;
  const step = stepper();

  before(async () => {
    const printed = await run.start();
    origin = new URL(printed[0].url).origin;
    await run.cli('unit', 'put', '--id', 'bv', '--name', 'Bundesverband');
    await run.cli('unit', 'put', '--id', 'lv-by', '--name', 'Landesverband Bayern', '--parent', 'bv');
    const csv = path.join(run.dataDir, 'mitglieder.csv');
    await writeFile(csv, 'Mitgliedsnummer;Vorname;Nachname;Gliederung;E-Mail\n20001;Jürgen;Weiß;lv-by;juergen@example.org\n');
    await run.cli('member', 'import', csv);
    await run.cli('room', 'assign', '--room', 'demo', '--number', '20001', '--role', 'delegate');
    browser = await launchChromium({ fakeMedia: false });
    moderator = await (await newContext(browser, { locale: 'de-DE' })).newPage();
    member = await (await newContext(browser, { locale: 'de-DE' })).newPage();
    run.watch(moderator, 'moderator');
    run.watch(member, 'member');
    await moderator.goto(printed[0].url);
    await moderator.click('[data-testid=join]', { timeout: 15_000 });
    await poll('the moderator to be in the room', async () => (await state(moderator)).joined === true, { timeout: 15_000 });
  });

  after(async () => {
    await run.stop(browser);
  });

  step('the member sets a password with the activation link', async () => {
    const link = (await run.cli('member', 'activation', '--number', '20001', '--public-url', origin)).trim();
    assert.match(link, /\/activate#token=[0-9a-f]{64}$/);
    await member.goto(link);
    await member.fill('[data-testid=activate-password]', 'Sonnenblume-2027');
    await member.fill('[data-testid=activate-repeat]', 'Sonnenblume-2026');
    await member.click('[data-testid=activate-submit]');
    await poll('the mismatch to be reported', async () => (await member.textContent('[data-testid=activate-error]')).includes('stimmen nicht'));
    await member.fill('[data-testid=activate-repeat]', 'Sonnenblume-2027');
    await member.click('[data-testid=activate-submit]');
    await member.waitForSelector('[data-testid=screen-start]:not([hidden])', { timeout: 10_000 });
    assert.equal(await member.textContent('[data-testid=start-greeting]'), 'Hallo, Jürgen Weiß');
    assert.equal(new URL(member.url()).pathname, '/', 'no secret stays in the address bar');
    assert.equal(new URL(member.url()).hash, '');
  }, 30_000);

  step('signing out and in again: a wrong password is refused in German', async () => {
    await member.click('[data-testid=start-logout]');
    await member.waitForSelector('[data-testid=screen-landing]:not([hidden])');
    await member.fill('[data-testid=signin-login]', 'juergen@example.org');
    await member.fill('[data-testid=signin-password]', 'falsch-falsch');
    await member.click('[data-testid=signin-submit]');
    await poll('the refusal', async () => (await member.textContent('[data-testid=signin-error]')).includes('stimmen nicht'));
    await member.fill('[data-testid=signin-login]', '20001');
    await member.fill('[data-testid=signin-password]', 'Sonnenblume-2027');
    await member.click('[data-testid=signin-submit]');
    await member.waitForSelector('[data-testid=screen-start]:not([hidden])', { timeout: 10_000 });
    // A reload keeps the session (HttpOnly cookie) and shows the start page again.
    await member.reload();
    await member.waitForSelector('[data-testid=screen-start]:not([hidden])', { timeout: 10_000 });
    const cookies = await member.context().cookies();
    const session = cookies.find((c) => c.name === 'plenum_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.secure, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(await member.evaluate(() => document.cookie.includes('plenum_session')), false, 'scripts cannot read it');
  }, 30_000);

  step('the start page lists the demo congress; entering it joins without a token in the URL', async () => {
    await member.screenshot({ path: path.join(ARTIFACTS, 'start.png') });
    const room = member.locator('[data-testid=start-room][data-room=demo]');
    assert.match(await room.textContent(), /Demo-Parteitag/);
    await room.locator('[data-testid=start-enter]').click();
    await member.waitForSelector('[data-testid=screen-preview]:not([hidden])', { timeout: 10_000 });
    assert.equal(new URL(member.url()).hash, '', 'no token in the URL');
    await member.click('[data-testid=join]', { timeout: 15_000 });
    await poll('the moderator to see the member present', async (saw) => {
      const s = await state(moderator);
      saw(s.participants.map((p) => `${p.name} (${p.role})`));
      return s.participants.some((p) => p.name === 'Jürgen Weiß' && p.role === 'delegate');
    }, { timeout: 20_000 });
    await member.screenshot({ path: path.join(ARTIFACTS, 'member-in-room.png') });
  }, 45_000);

  step('the moderator revokes the invitation: the member is out and cannot come back', async () => {
    const id = (await state(member)).self.id;
    const row = moderator.locator(`[data-testid=participant][data-participant-id="${id}"]`);
    await row.locator('[data-testid=participant-actions]').click();
    await row.locator('[data-testid=revoke-invite]').click();
    await member.waitForSelector('[data-testid=screen-ended]:not([hidden])', { timeout: 10_000 });
    assert.match(await member.textContent('#ended-text'), /zurückgezogen/);
    await member.goto(`${origin}/`);
    await member.waitForSelector('[data-testid=screen-start]:not([hidden])', { timeout: 10_000 });
    assert.equal(await member.locator('[data-testid=start-room]').count(), 0, 'no congress on the start page');
  }, 30_000);
});
