// End-to-end: the party's admin sets up a congress in the browser, without a shell. They
// create a Landesverband, import its member list (a dry run, then the import), create a congress with
// an agenda, give two Landesverbände delegate seats, seat delegates one by one and by group
// and themselves as moderator, and download the invitations. A new delegate opens the
// activation link from that file, sets a password, finds the congress on the start page,
// looks colleagues up (a member of another Landesverband stays hidden), and joins; the
// admin's attendance table and the moderator's participant list show them present. The chair
// opens the session and calls the first agenda item, which the delegate sees; the chair makes
// the delegate minute-taker, who writes a note; the chair approves the minutes in the room,
// and the delegate downloads the approved PDF (with its SHA-256 and the note) from the start
// page.

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { activate, DemoRun, launchChromium, newContext, poll, stepper } from './browser.mjs';

const run = new DemoRun('admin');
const ARTIFACTS = run.artifacts;
const state = (page) => page.evaluate(() => window.plenumTest.state());

describe('Administration: a congress set up from the member list', { timeout: 180_000 }, () => {
  let browser;
  let admin;
  let delegate;
  let origin;
  let invitationsCsv;
  let moderatorPage;
  const step = stepper();

  before(async () => {
    const printed = await run.start();
    origin = new URL(printed[0].url).origin;
    browser = await launchChromium({ fakeMedia: true });
    admin = await (await newContext(browser, { locale: 'de-DE' })).newPage();
    delegate = await (await newContext(browser, { locale: 'de-DE' })).newPage();
    run.watch(admin, 'admin');
    run.watch(delegate, 'delegate');
    // The demo's party admin (member 10001) sets a password.
    const link = (await run.cli('member', 'activation', '--number', '10001', '--public-url', origin)).trim();
    await activate(admin, link, 'Verwaltung-2027');
  });

  after(async () => {
    await run.stop(browser);
  });

  step('the admin creates a Landesverband beside the demo\'s sixteen', async () => {
    await admin.click('[data-testid=start-admin]');
    await admin.waitForSelector('[data-testid=screen-admin]:not([hidden])');
    await poll('the unit tree', async () => (await admin.locator('[data-testid=unit-item]').count()) === 21);
    await admin.fill('[data-testid=unit-id]', 'x-nord');
    await admin.fill('[data-testid=unit-name]', 'Landesverband Nord');
    await admin.fill('[data-testid=unit-parent]', 'Bundesverband');
    await admin.click('[data-testid=unit-submit]');
    await poll('the new unit', async () => (await admin.locator('[data-testid=unit-item][data-unit=x-nord]').count()) === 1);
    assert.match(await admin.textContent('[data-testid=units-message]'), /angelegt/);
  }, 20_000);

  step('the admin checks and imports the member list of Landesverband Nord', async () => {
    const csv = path.join(run.dataDir, 'nord.csv');
    // Windows-1252, as party offices export it: "ö" and "ä" are single bytes.
    const rows = 'Mitgliedsnummer;Vorname;Nachname;Gliederung;E-Mail\r\n'
      + '30001;Jörg;Nordmann;Landesverband Nord;joerg@example.org\r\n'
      + '30002;Käthe;Küster;Landesverband Nord;kaethe@example.org\r\n';
    await writeFile(csv, Buffer.from(rows, 'latin1'));
    await admin.fill('[data-testid=import-scope]', 'Landesverband Nord');
    await admin.setInputFiles('[data-testid=import-file]', csv);
    await admin.click('[data-testid=import-check]');
    await poll('the dry run', async () => (await admin.textContent('[data-testid=import-result]')).includes('Prüfung: 2 neu'));
    assert.equal(await admin.isEnabled('[data-testid=import-apply]'), true);
    await admin.click('[data-testid=import-apply]');
    await poll('the import', async () => (await admin.textContent('[data-testid=import-result]')).includes('Importiert: 2 neu'));
  }, 30_000);

  step('the admin creates a congress, gives seats, seats delegates and downloads the invitations', async () => {
    await admin.click('[data-testid=event-new]');
    await admin.fill('[data-testid=event-title-input]', 'Bundesparteitag 2027');
    await admin.selectOption('[data-testid=event-kind]', 'congress');
    await admin.fill('[data-testid=event-starts]', '2027-05-08T10:00');
    await admin.fill('[data-testid=event-agenda]', 'Eröffnung\nBericht des Bundesvorstands\nWahlen');
    await admin.click('[data-testid=event-create]');
    await admin.waitForSelector('[data-testid=event-detail]:not([hidden])');
    assert.equal(await admin.textContent('[data-testid=event-heading]'), 'Bundesparteitag 2027');
    assert.equal(await admin.locator('[data-testid=event-agenda-list] li').count(), 3);

    await admin.fill('[data-testid=quota-text]', 'Landesverband Nord = 1\nLandesverband Mecklenburg-Vorpommern = 2');
    await admin.click('[data-testid=quota-submit]');
    await poll('the seats', async () => (await admin.textContent('[data-testid=event-message]')).includes('gespeichert'));
    // Two from the north exceed its one seat: refused in German, nobody seated.
    await admin.fill('[data-testid=assign-numbers]', '30001, 30002');
    await admin.click('[data-testid=assign-submit]');
    await poll('the refusal', async () => (await admin.textContent('[data-testid=event-message]')).includes('vergeben'));
    assert.equal(await admin.locator('[data-testid=roster-row]').count(), 0);
    // One by one, then by group, then the admin as moderator.
    await admin.fill('[data-testid=assign-numbers]', '30001');
    await admin.click('[data-testid=assign-submit]');
    await poll('one seated', async () => (await admin.locator('[data-testid=roster-row]').count()) === 1);
    await admin.fill('[data-testid=assign-group]', 'Delegierte LV Mecklenburg-Vorpommern');
    await admin.click('[data-testid=assign-submit]');
    await poll('the group seated', async () => (await admin.locator('[data-testid=roster-row]').count()) === 3);
    await admin.fill('[data-testid=assign-group]', '');
    await admin.selectOption('[data-testid=assign-role]', 'moderator');
    await admin.fill('[data-testid=assign-numbers]', '10001');
    await admin.click('[data-testid=assign-submit]');
    await poll('the moderator seated', async () => (await admin.locator('[data-testid=roster-row]').count()) === 4);
    const units = await admin.locator('[data-testid=attendance-row]').evaluateAll((rows) => rows.map((r) => r.dataset.unit));
    assert.deepEqual(units.sort(), ['lv-bw', 'lv-mv', 'x-nord']);

    const [download] = await Promise.all([
      admin.waitForEvent('download'),
      admin.click('[data-testid=invitations-download]'),
    ]);
    assert.match(download.suggestedFilename(), /^einladungen-e-[0-9a-f]+\.csv$/);
    const file = path.join(ARTIFACTS, 'einladungen.csv');
    await download.saveAs(file);
    invitationsCsv = (await readFile(file, 'utf8')).replace(/^\ufeff/, '');
    assert.match(invitationsCsv, /^number;name;unit;role;email;kind;link\n/);
    assert.match(invitationsCsv, /30001;Jörg Nordmann;Landesverband Nord;delegate;joerg@example.org;activation;https:\/\/\S+\/activate#token=[0-9a-f]{64}\n/);
    await admin.screenshot({ path: path.join(ARTIFACTS, 'admin-event.png'), fullPage: true });
  }, 45_000);

  step('the delegate activates from the invitation, finds the congress and colleagues, not strangers', async () => {
    const link = /30001;[^\n]*;activation;(\S+)/.exec(invitationsCsv)[1];
    await activate(delegate, link, 'Nordlicht-2027');
    const room = delegate.locator('[data-testid=start-room]', { hasText: 'Bundesparteitag 2027' });
    assert.equal(await room.count(), 1, 'the congress is on the start page');
    assert.equal(await delegate.isHidden('[data-testid=start-admin]'), true, 'no administration for a delegate');

    await delegate.click('[data-testid=start-directory]');
    await delegate.waitForSelector('[data-testid=screen-directory]:not([hidden])');
    await delegate.fill('[data-testid=directory-query]', 'Käthe');
    await delegate.click('[data-testid=directory-search]');
    await poll('the colleague', async () => (await delegate.locator('[data-testid=directory-result][data-number="30002"]').count()) === 1);
    await delegate.click('[data-testid=directory-result][data-number="30002"] [data-testid=directory-show]');
    await poll('her profile', async () => (await delegate.textContent('[data-testid=profile-name]').catch(() => '')) === 'Käthe Küster');
    assert.equal(await delegate.locator('[data-testid=directory-write]').count(), 1);
    // A member of Mecklenburg-Vorpommern: hidden under the party's default ("own Landesverband").
    await delegate.fill('[data-testid=directory-query]', '10008');
    await delegate.click('[data-testid=directory-search]');
    await poll('nobody found', async () => (await delegate.textContent('[data-testid=directory-status]')) === 'Niemand gefunden.');
    assert.equal(await delegate.locator('[data-testid=directory-result]').count(), 0);
    await delegate.screenshot({ path: path.join(ARTIFACTS, 'directory.png') });
    await delegate.click('[data-testid=directory-back]');
    await delegate.waitForSelector('[data-testid=screen-start]:not([hidden])');
  }, 30_000);

  step('the delegate joins; the admin and the moderator see them present', async () => {
    await delegate.locator('[data-testid=start-room]', { hasText: 'Bundesparteitag 2027' }).locator('[data-testid=start-enter]').click();
    await delegate.waitForSelector('[data-testid=screen-preview]:not([hidden])', { timeout: 10_000 });
    await delegate.click('[data-testid=join]', { timeout: 15_000 });
    await poll('the delegate in the room', async () => (await state(delegate)).joined === true, { timeout: 15_000 });

    await poll('the attendance table to count the north present', async (saw) => {
      const present = await admin.locator('[data-testid=attendance-row][data-unit=x-nord] [data-testid=attendance-present]').textContent();
      const row = await admin.locator('[data-testid=roster-row][data-number="30001"] [data-testid=roster-present]').textContent();
      saw({ present, row });
      return present === '1' && row === 'ja';
    }, { timeout: 15_000 });
    assert.equal(await admin.textContent('[data-testid=roster-row][data-number="30001"] [data-testid=roster-activated]'), 'ja');

    // The admin, as the congress's moderator, enters it from the start page in a second tab.
    const moderator = await admin.context().newPage();
    run.watch(moderator, 'moderator');
    await moderator.goto(`${origin}/`);
    await moderator.waitForSelector('[data-testid=screen-start]:not([hidden])', { timeout: 10_000 });
    await moderator.locator('[data-testid=start-room]', { hasText: 'Bundesparteitag 2027' }).locator('[data-testid=start-enter]').click();
    await moderator.click('[data-testid=join]', { timeout: 15_000 });
    await poll('the moderator to see the delegate', async (saw) => {
      const s = await state(moderator);
      saw(s.participants?.map((p) => `${p.name} (${p.role})`));
      return s.joined && s.participants.some((p) => p.name === 'Jörg Nordmann' && p.role === 'delegate');
    }, { timeout: 20_000 });
    await moderator.screenshot({ path: path.join(ARTIFACTS, 'moderator.png') });
    moderatorPage = moderator;
  }, 60_000);

  step('the chair opens the session and calls the first agenda item; the delegate sees it', async () => {
    const moderator = moderatorPage;
    assert.equal(await moderator.textContent('[data-testid=session-status]'), 'Die Sitzung ist noch nicht eröffnet.');
    await moderator.click('[data-testid=session-open]');
    await poll('the session to be open', async () => (await moderator.textContent('[data-testid=session-status]')).startsWith('Sitzung eröffnet um'));
    await moderator.selectOption('[data-testid=agenda-select]', '0');
    await moderator.click('[data-testid=agenda-call]');
    await poll('the delegate to see the item', async () => (await delegate.textContent('[data-testid=agenda-current]')) === 'TOP 1: Eröffnung');
    assert.equal(await delegate.isHidden('[data-testid=session-moderation]'), true, 'no chair controls for a delegate');
  }, 30_000);

  step('the admin downloads the minutes as PDF; page 1 is kept as an image', async () => {
    const [download] = await Promise.all([
      admin.waitForEvent('download'),
      admin.click('[data-testid=minutes-pdf]'),
    ]);
    assert.match(download.suggestedFilename(), /^protokoll-e-[0-9a-f]+\.pdf$/);
    const file = path.join(ARTIFACTS, 'protokoll.pdf');
    await download.saveAs(file);
    const run = promisify(execFile);
    const { stdout } = await run('pdftotext', ['-layout', file, '-']);
    for (const needle of ['Protokoll: Bundesparteitag 2027', 'Jörg Nordmann', 'Landesverband Nord', 'Eröffnung', 'Seite 1 von']) {
      assert.ok(stdout.includes(needle), `${needle} in the minutes:\n${stdout}`);
    }
    await run('pdftoppm', ['-png', '-r', '80', '-f', '1', '-l', '1', file, path.join(ARTIFACTS, 'protokoll-seite')]);
  }, 30_000);

  step('the chair makes the delegate minute-taker; the delegate writes a note', async () => {
    const moderator = moderatorPage;
    const id = (await state(delegate)).self.id;
    const row = moderator.locator(`[data-testid=participant][data-participant-id="${id}"]`);
    await row.locator('[data-testid=participant-actions]').click();
    await row.locator('[data-testid=toggle-minutes]').click();
    await delegate.waitForSelector('[data-testid=notes-panel]:not([hidden])', { timeout: 10_000 });
    await delegate.selectOption('[data-testid=note-item]', '1');
    await delegate.fill('[data-testid=note-text]', 'Die Versammlung wurde um 10 Uhr eröffnet; „Anträge“ folgen.');
    await delegate.click('[data-testid=note-submit]');
    await poll('the note in the list', async () => (await delegate.locator('[data-testid=note]').count()) === 1);
    await poll('the chair sees it too', async () => (await moderator.locator('[data-testid=note]').count()) === 1);
  }, 30_000);

  step('the chair approves the minutes in the room; the delegate downloads the approved PDF from the start page', async () => {
    await moderatorPage.click('[data-testid=notes-approve]');
    await poll('the approval', async () => (await moderatorPage.textContent('[data-testid=notes-error]')).includes('Fassung 1'));
    // The event page shows the version on its next refresh (every 5 s).
    await poll('the version listed', async () => (await admin.locator('[data-testid=minutes-version]').count()) === 1, { timeout: 15_000 });
    const sha = /SHA-256 ([0-9a-f]{64})/.exec(await admin.textContent('[data-testid=minutes-versions]'))[1];
    const start = await delegate.context().newPage();
    run.watch(start, 'delegate-start');
    await start.goto(`${origin}/`);
    await start.waitForSelector('[data-testid=start-minutes-item]', { timeout: 10_000 });
    const [download] = await Promise.all([
      start.waitForEvent('download'),
      start.click('[data-testid=start-minutes-pdf]'),
    ]);
    const file = path.join(ARTIFACTS, 'protokoll-genehmigt.pdf');
    await download.saveAs(file);
    const exec = promisify(execFile);
    const { stdout } = await exec('pdftotext', [file, '-']);
    const text = stdout.replace(/\s+/g, ' ');
    for (const needle of ['Genehmigt', 'Fassung 1', sha, 'Notizen der Protokollführung', 'Die Versammlung wurde um 10 Uhr eröffnet; „Anträge“ folgen.']) {
      assert.ok(text.includes(needle), `${needle} in the approved minutes:\n${text}`);
    }
    await exec('pdftoppm', ['-png', '-r', '80', '-f', '1', '-l', '1', file, path.join(ARTIFACTS, 'protokoll-genehmigt-seite')]);
    await start.screenshot({ path: path.join(ARTIFACTS, 'start-minutes.png') });
  }, 30_000);
});
