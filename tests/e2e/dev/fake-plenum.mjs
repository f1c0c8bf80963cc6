#!/usr/bin/env node
// A stand-in for the `plenum` binary, to check the end-to-end test itself before the real server
// exists: `PLENUM_BIN=tests/e2e/dev/fake-plenum.mjs tests/e2e/netns.sh node --test tests/e2e/`.
// Speaks `serve --http-bind … ` like the real one and prints the same lines, but runs
// dev/mock-server.mjs over plain HTTP with a headless Chromium as its "SFU" (no simulcast: the
// stage carries the fake camera's single 1280x720 stream). Passing the test against this proves
// nothing about the server.

import { startMockServer } from './mock-server.mjs';
import { launchChromium, newContext } from '../browser.mjs';

const args = process.argv.slice(2);
if (args[0] !== 'serve') {
  console.error('usage: fake-plenum.mjs serve --data-dir DIR --http-bind ADDR --media-bind ADDR');
  process.exit(2);
}
const httpBind = args[args.indexOf('--http-bind') + 1] ?? '127.0.0.1:0';
const port = Number(httpBind.split(':').pop());

const mock = await startMockServer({ port, demoPeople: false });
const browser = await launchChromium();
const sfu = await (await newContext(browser)).newPage();
await sfu.goto(`${mock.url}/dev/sfu.html`);
await sfu.waitForFunction(() => document.title === 'fake sfu ready');

function token(sub, name, role) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, name, role, room: 'demo', iat: now, exp: now + 3600, jti: sub })}.c2ln`;
}

console.log(`plenum: listening on ${mock.url} (media udp 127.0.0.1:0)`);
console.log('plenum: demo congress created: Demo-Parteitag (room demo)');
console.log(`  moderator  Moderation  ${mock.url}/join#token=${token('p-mod', 'Moderation', 'moderator')}`);
console.log(`  delegate  Delegierte A  ${mock.url}/join#token=${token('p-a', 'Delegierte A', 'delegate')}`);
console.log(`  delegate  Delegierte B  ${mock.url}/join#token=${token('p-b', 'Delegierte B', 'delegate')}`);

async function stop() {
  await browser.close().catch(() => {});
  await mock.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
