// End-to-end: the Bundesvorstand decides by circulation, and the congress gets its papers.
// The party's admin puts a motion to the board on the admin page; a board member votes "Ja"
// from the start page; the other board members vote; the last vote, the admin's own, settles
// it and the motion is in the resolutions register, where a member finds it and downloads
// the register as CSV and PDF. The admin attaches the board's report to its agenda item (a
// forged file is refused first); a board member on the roster finds it on the start page and
// downloads exactly that file.

import { describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { activate, DemoRun, launchChromium, newContext, poll, stepper } from './browser.mjs';

const run = new DemoRun('resolutions');
const ARTIFACTS = run.artifacts;
const exec = promisify(execFile);

async function activationLink(number, origin) {
  return (await run.cli('member', 'activation', '--number', number, '--public-url', origin)).trim();
}

/** `2027-05-08T10:00` for a Date, in local time (what a datetime-local input takes). */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

describe('Resolutions: a circulation, the register, attachments', { timeout: 180_000 }, () => {
  let browser;
  let admin;
  let member;
  let origin;
  let number;
  const step = stepper();

  before(async () => {
    const printed = await run.start();
    origin = new URL(printed[0].url).origin;
    browser = await launchChromium({ fakeMedia: false });
    admin = await (await newContext(browser, { locale: 'de-DE' })).newPage();
    member = await (await newContext(browser, { locale: 'de-DE' })).newPage();
    run.watch(admin, 'admin');
    run.watch(member, 'member');
    // 10001 is the party's admin and on the board, 10002 on the board.
    await activate(admin, await activationLink('10001', origin), 'Verwaltung-2027');
    await activate(member, await activationLink('10002', origin), 'Vorstand-2027');
  });

  after(async () => {
    await run.stop(browser);
  });

  step('the admin puts a motion to the Bundesvorstand', async () => {
    await admin.click('[data-testid=start-admin]');
    await admin.waitForSelector('[data-testid=screen-admin]:not([hidden])');
    await admin.click('[data-testid=circ-new]');
    await admin.fill('[data-testid=circ-title]', 'Haushalt 2028 beschließen');
    await admin.fill('[data-testid=circ-text]', 'Der Bundesvorstand beschließt den Haushalt „2028“ wie vorgelegt.');
    await admin.fill('[data-testid=circ-group]', 'Bundesvorstand');
    await admin.fill('[data-testid=circ-body]', 'BuVo');
    await admin.fill('[data-testid=circ-deadline]', localInput(new Date(Date.now() + 3 * 24 * 3600 * 1000)));
    assert.equal(await admin.isChecked('[data-testid=circ-objection]'), true, 'the objection rule by default');
    await admin.click('[data-testid=circ-submit]');
    await poll('the circulation', async () => (await admin.textContent('[data-testid=circ-message]')).includes('U-0001 ist im Umlauf bei 7 Mitgliedern'));
    await poll('it is listed', async () => (await admin.locator('[data-testid=admin-circulation][data-id=U-0001]').count()) === 1);
  }, 30_000);

  step('a board member votes "Ja" from the start page', async () => {
    await member.reload();
    const card = member.locator('[data-testid=circulation][data-id=U-0001]');
    await card.waitFor({ timeout: 10_000 });
    assert.match(await card.textContent(), /Haushalt 2028 beschließen/);
    assert.match(await card.locator('[data-testid=circulation-status]').textContent(), /0 von 7 haben abgestimmt/);
    assert.equal(await card.locator('[data-testid=circulation-object]').count(), 1, 'objecting is offered');
    await card.locator('[data-testid=circulation-yes]').click();
    await poll('the vote', async () => (await card.locator('[data-testid=circulation-mine]').textContent().catch(() => '')) === 'Ihre Stimme: Ja');
    assert.equal(await card.locator('[data-testid=circulation-yes]').count(), 0, 'one vote: the buttons are gone');
    assert.match(await card.locator('[data-testid=circulation-status]').textContent(), /1 von 7 haben abgestimmt/);
    await member.screenshot({ path: path.join(ARTIFACTS, 'circulation-start.png'), fullPage: true });
  }, 30_000);

  step('the rest of the board votes; the admin votes last and the motion is adopted', async () => {
    // Five board members vote through the REST API, each signed in in a context of their own.
    for (const n of ['10003', '10004', '10005', '10006', '10007']) {
      const ctx = await newContext(browser);
      const token = new URL(await activationLink(n, origin)).hash.replace('#token=', '');
      const activated = await ctx.request.post(`${origin}/api/account/activate`, { data: { token, password: `Vorstand-${n}` } });
      assert.equal(activated.status(), 200);
      const voted = await ctx.request.post(`${origin}/api/org/reports`, { data: { action: 'circulation_vote', id: 'U-0001', vote: n === '10007' ? 'abstain' : 'yes' } });
      assert.equal(voted.status(), 200, await voted.text());
      await ctx.close();
    }
    const start = await admin.context().newPage();
    run.watch(start, 'admin-start');
    await start.goto(`${origin}/`);
    const card = start.locator('[data-testid=circulation][data-id=U-0001]');
    await card.waitFor({ timeout: 10_000 });
    await card.locator('[data-testid=circulation-no]').click();
    await poll('the outcome', async () => /angenommen · Ja 5, Nein 1, Enthaltung 1 · Beschluss BuVo-\d{4}-001/.test(await card.locator('[data-testid=circulation-status]').textContent()));
    number = /BuVo-\d{4}-001/.exec(await card.locator('[data-testid=circulation-status]').textContent())[0];
    await start.close();
  }, 60_000);

  step('a member finds the resolution in the register and downloads it as CSV and PDF', async () => {
    await member.reload();
    await member.click('[data-testid=register-open]');
    await member.fill('[data-testid=register-q]', 'haushalt');
    await member.click('[data-testid=register-search]');
    const entry = member.locator(`[data-testid=register-entry][data-number="${number}"]`);
    await entry.waitFor({ timeout: 10_000 });
    assert.match(await entry.textContent(), /Haushalt 2028 beschließen.*Ja 5, Nein 1, Enthaltung 1/s);
    await member.fill('[data-testid=register-q]', 'satzung');
    await member.click('[data-testid=register-search]');
    await poll('nothing for another word', async () => (await member.locator('[data-testid=register-entry]').count()) === 0 && await member.isVisible('[data-testid=register-empty]'));
    await member.fill('[data-testid=register-q]', 'haushalt');
    await member.click('[data-testid=register-search]');
    await entry.waitFor({ timeout: 10_000 });

    const [csvDownload] = await Promise.all([member.waitForEvent('download'), member.click('[data-testid=register-csv]')]);
    const csvFile = path.join(ARTIFACTS, 'beschlussbuch.csv');
    await csvDownload.saveAs(csvFile);
    const csv = await readFile(csvFile, 'utf8');
    assert.match(csv, /^"Nummer";"Datum";"Gremium";"Beschluss"/);
    assert.ok(csv.includes(`"${number}"`) && csv.includes('Haushalt „2028“'), csv);

    const [pdfDownload] = await Promise.all([member.waitForEvent('download'), member.click('[data-testid=register-pdf]')]);
    const pdfFile = path.join(ARTIFACTS, 'beschlussbuch.pdf');
    await pdfDownload.saveAs(pdfFile);
    const { stdout } = await exec('pdftotext', [pdfFile, '-']);
    const text = stdout.replace(/\s+/g, ' ');
    for (const needle of ['Beschlussbuch', number, 'Haushalt 2028 beschließen', 'Umlaufverfahren U-0001', 'Seite 1 von 1']) {
      assert.ok(text.includes(needle), `${needle} in the register:\n${text}`);
    }
    await exec('pdftoppm', ['-png', '-r', '80', '-f', '1', '-l', '1', pdfFile, path.join(ARTIFACTS, 'beschlussbuch-seite')]);
    await member.screenshot({ path: path.join(ARTIFACTS, 'register.png'), fullPage: true });
  }, 45_000);

  step('the admin attaches the board report to its agenda item; a forged file is refused', async () => {
    await poll('the demo congress in the list', async (saw) => {
      const rooms = await admin.locator('[data-testid=event-item]').evaluateAll((items) => items.map((i) => i.dataset.room));
      saw(rooms);
      return rooms.includes('demo');
    }, { timeout: 10_000 });
    await admin.locator('[data-testid=event-item][data-room=demo] [data-testid=event-open]').click();
    await admin.waitForSelector('[data-testid=event-detail]:not([hidden])');
    await poll('the agenda in the item list', async (saw) => {
      const n = await admin.locator('[data-testid=attachments-item] option').count();
      saw(n);
      return n === 8;
    }, { timeout: 10_000 });
    // A text file with a .pdf name: refused by its content.
    const forged = path.join(run.dataDir, 'bericht.pdf');
    await writeFile(forged, 'Dies ist kein PDF, nur ein Text mit falscher Endung.\n');
    await admin.selectOption('[data-testid=attachments-item]', '4');
    await admin.setInputFiles('[data-testid=attachments-file]', forged);
    await admin.click('[data-testid=attachments-upload]');
    await poll('the refusal', async (saw) => {
      const m = await admin.textContent('[data-testid=attachments-message]');
      saw(m);
      return m === 'Die Datei ist kein PDF-Dokument.';
    }, { timeout: 10_000 });
    assert.equal(await admin.locator('[data-testid=attachment-item]').count(), 0);
    // A real PDF: the register just downloaded, as the board's report.
    const report = path.join(run.dataDir, 'Bericht des Bundesvorstands.pdf');
    await writeFile(report, await readFile(path.join(ARTIFACTS, 'beschlussbuch.pdf')));
    await admin.selectOption('[data-testid=attachments-item]', '4');
    await admin.setInputFiles('[data-testid=attachments-file]', report);
    await admin.click('[data-testid=attachments-upload]');
    await poll('the upload', async () => (await admin.locator('[data-testid=attachment-item]').count()) === 1);
    assert.match(await admin.textContent('[data-testid=attachment-item]'), /Bericht des Bundesvorstands\.pdf · TOP 4/);
  }, 30_000);

  step('a board member on the roster downloads the report from the start page', async () => {
    await member.reload();
    const item = member.locator('[data-testid=start-attachment]');
    await item.waitFor({ timeout: 10_000 });
    assert.match(await item.textContent(), /Bericht des Bundesvorstands\.pdf · .* · TOP 4: Bericht des Bundesvorstands/);
    const [download] = await Promise.all([member.waitForEvent('download'), member.click('[data-testid=start-attachment-pdf]')]);
    assert.equal(download.suggestedFilename(), 'Bericht des Bundesvorstands.pdf', 'the name as uploaded (RFC 8187 filename*)');
    const file = path.join(ARTIFACTS, 'anlage.pdf');
    await download.saveAs(file);
    assert.deepEqual(await readFile(file), await readFile(path.join(ARTIFACTS, 'beschlussbuch.pdf')), 'exactly the uploaded file');
    await member.screenshot({ path: path.join(ARTIFACTS, 'start-attachments.png'), fullPage: true });
  }, 30_000);
});
