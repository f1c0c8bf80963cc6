// Screenshots of every screen of web/ against dev/mock-server.mjs, for people to look at while
// the real server is not at hand. Run from the repo root:
//   tests/e2e/netns.sh node tests/e2e/dev/screenshots.mjs
// Pictures go to tests/e2e/artifacts/dev/.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMockServer } from './mock-server.mjs';
import { launchChromium, newContext, poll } from '../browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.resolve(here, '../artifacts/dev');
await mkdir(OUT, { recursive: true });

function token(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ room: 'demo', iat: now, exp: now + 3600, jti: 'x', ...claims })}.c2ln`;
}

const mock = await startMockServer();
const dead = await startMockServer({ withSignalling: false });
const browser = await launchChromium();
const shot = async (page, name) => {
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(OUT, `${name}.png`) });
  console.log('wrote', name);
};
const consoleLines = [];
async function open(url, { locale = 'de-DE', viewport, colorScheme = 'light' } = {}) {
  const ctx = await newContext(browser, { locale, colorScheme, ...(viewport ? { viewport } : {}) });
  const page = await ctx.newPage();
  page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
  await page.goto(url);
  return page;
}

try {
  const sfu = await open(`${mock.url}/dev/sfu.html?tiles`);
  await poll('fake sfu', async () => (await sfu.title()) === 'fake sfu ready', { timeout: 10_000 });

  await shot(await open(`${mock.url}/`), 'landing-de');
  await shot(await open(`${mock.url}/`, { locale: 'en-US' }), 'landing-en');
  await shot(await open(`${mock.url}/join#token=garbage`, { locale: 'en-US' }), 'invalid-en');

  const mod = token({ sub: 'p-mod', name: 'Moderation', role: 'moderator' });
  const del = token({ sub: 'p-del', name: 'Delegierte A', role: 'delegate' });
  const preview = await open(`${mock.url}/join#token=${del}`);
  await preview.waitForSelector('[data-testid=join]:not([disabled])');
  await shot(preview, 'preview-de');
  await preview.click('[data-testid=lang-en]');
  await shot(preview, 'preview-en');
  console.log('lang after switch:', await preview.evaluate(() => document.documentElement.lang));

  await shot(await open(`${mock.url}/join#token=${token({ sub: 'p-obs', name: 'Gast Gustav', role: 'observer' })}`), 'preview-observer-de');

  const noServer = await open(`${dead.url}/join#token=${del}`);
  await noServer.click('[data-testid=join]');
  await noServer.waitForFunction(() => window.plenumTest.state().lastError);
  await shot(noServer, 'join-no-server-de');

  const expired = await open(`${mock.url}/join#token=${token({ sub: 'p-x', name: 'expired Erna', role: 'delegate' })}`, { locale: 'en-US' });
  await expired.click('[data-testid=join]');
  await expired.waitForFunction(() => window.plenumTest.state().lastError);
  await shot(expired, 'join-expired-en');
  await shot(await open(`${mock.url}/join#token=${del}`, { locale: 'en-US', viewport: { width: 390, height: 844 } }), 'preview-phone-en');

  const room = await open(`${mock.url}/join#token=${mod}`);
  await room.click('[data-testid=join]');
  await poll('stage frames', async () => (await room.evaluate(() => window.plenumTest.stats())).stage.framesDecoded > 10);
  await shot(room, 'room-moderator-de');
  await room.click('[data-testid=mute]');
  await room.click('[data-participant-id=p-cem] [data-testid=put-on-stage]');
  await room.waitForSelector('[data-testid=stage-auto]:not([hidden])');
  await room.keyboard.press('Tab');
  await shot(room, 'room-moderator-pinned-muted-de');
  console.log('state:', JSON.stringify(await room.evaluate(() => window.plenumTest.state())));
  console.log('stats:', JSON.stringify(await room.evaluate(() => window.plenumTest.stats())));
  await room.context().close(); // the fake SFU encodes per slot: keep the CPU for the next ones

  const dark = await open(`${mock.url}/join#token=${token({ sub: 'p-dark', name: 'Dunkel Dana', role: 'delegate' })}`, { colorScheme: 'dark' });
  await dark.click('[data-testid=join]');
  await poll('dark stage frames', async () => (await dark.evaluate(() => window.plenumTest.stats())).stage.framesDecoded > 10);
  await dark.click('[data-testid=camera]');
  await shot(dark, 'room-dark-camera-off-de');
  await dark.context().close();

  const phone = await open(`${mock.url}/join#token=${del}`, { locale: 'en-US', viewport: { width: 390, height: 844 } });
  await phone.click('[data-testid=join]');
  await poll('phone stage frames', async () => (await phone.evaluate(() => window.plenumTest.stats())).stage.framesDecoded > 10);
  await shot(phone, 'room-phone-en');
  await phone.screenshot({ path: path.join(OUT, 'room-phone-full-en.png'), fullPage: true });

  // The same invite in a second window takes over: the first one shows "replaced".
  const second = await open(`${mock.url}/join#token=${del}`, { locale: 'en-US' });
  await second.click('[data-testid=join]');
  await phone.waitForSelector('[data-testid=screen-ended]:not([hidden])');
  await shot(phone, 'replaced-phone-en');

  await second.click('[data-testid=leave]');
  await second.waitForSelector('[data-testid=screen-ended]:not([hidden])');
  await shot(second, 'left-en');
  await second.click('[data-testid=rejoin]');
  await second.waitForFunction(() => window.plenumTest.state().joined);
  console.log('rejoined:', JSON.stringify(await second.evaluate(() => window.plenumTest.state().participants.length)));
} finally {
  console.log(consoleLines.join('\n'));
  await browser.close();
  await mock.close();
  await dead.close();
}
