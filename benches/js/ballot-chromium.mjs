// Browser cost of a verifiable ballot (web/ballot-crypto.js) for a 10-candidate election, in
// headless Chromium: what a voter's browser spends between "cast" and a ballot ready to send
// (encryption of every option, every 0/1 proof, the bounds proof, the Ed25519 signature), and
// what checking one costs there. The same election as benches/js/ballot-crypto.mjs (node).
// Run from the repo root (needs Debian's chromium and `npm ci` in tests/e2e for playwright-core):
//   node benches/js/ballot-chromium.mjs [runs]
// The page is served from web/ by a throwaway HTTP server on 127.0.0.1 (ES modules do not load
// from file:// URLs); nothing else is loaded. Prints one line per election and a JSON summary.

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../../tests/e2e/browser.mjs';

const runs = Number(process.argv[2] || 20);
const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');
const TYPES = { '.js': 'text/javascript', '.html': 'text/html; charset=utf-8' };

// web/ as static files; `/` is an empty page to import the module into.
const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/') {
    res.writeHead(200, { 'content-type': TYPES['.html'] });
    res.end('<!doctype html><title>ballot bench</title>');
    return;
  }
  const file = path.join(WEB, path.normalize(url.pathname));
  if (!file.startsWith(`${WEB}${path.sep}`)) {
    res.writeHead(403).end();
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await launchChromium({ fakeMedia: false });
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  const results = await page.evaluate(async (runs) => {
    const bc = await import('/ballot-crypto.js');
    const rng = bc.seededRng(new Uint8Array(32).fill(1));
    const keys = [1, 2, 3].map((i) => bc.dkgKeyGenerate('bench', 2, i, `member ${i}`, rng));
    const committee = bc.committeeOf('bench', 2, keys.map((k) => k.member));
    const transcript = {
      id: 'bench',
      threshold: 2,
      members: keys.map((k) => k.member),
      dealings: keys.map((k) => bc.deal(committee, k.secret, rng).dealing),
      complaints: [],
      answers: [],
    };
    const roll = [{ holder: 'a', proxy: null, weight: 1 }];
    const options = Array.from({ length: 10 }, (_, i) => ({ label: `candidate ${i}`, coefficient: 1 }));
    const header = (min, max) => ({
      poll_id: 'bench',
      questions: [{ text: 'Election', options, min, max }],
      roll_hash: bc.rollHash(roll),
      committee: transcript,
      election_key: bc.encodePoint(bc.qualify(transcript).electionKey),
    });
    const choose = (n) => [options.map((_, i) => i < n)];
    const out = [];
    for (const [name, min, max, n] of [
      ['10 options, choose 1', 1, 1, 1],
      ['10 options, choose up to 10 (4 chosen)', 0, 10, 4],
    ]) {
      let t0 = performance.now();
      const poll = bc.verifyPoll(header(min, max));
      const headerMs = performance.now() - t0;
      // The very first ballot of a fresh page (cold JIT): what a voter waits for at worst.
      t0 = performance.now();
      bc.encryptBallot(poll, bc.credentialGenerate(), choose(n));
      const firstMs = performance.now() - t0;
      bc.benchmarkBallot(poll, choose(n), 2); // warm-up
      const { encryptMs, verifyMs } = bc.benchmarkBallot(poll, choose(n), runs);
      out.push({ name, headerMs, firstMs, encryptMs, verifyMs });
    }
    return { results: out, userAgent: navigator.userAgent, cores: navigator.hardwareConcurrency };
  }, runs);
  for (const r of results.results) {
    console.log(
      `${r.name}: encrypt + prove + sign ${r.encryptMs.toFixed(1)} ms (first, cold: ${r.firstMs.toFixed(1)} ms), ` +
        `verify ${r.verifyMs.toFixed(1)} ms, header check ${r.headerMs.toFixed(1)} ms wall (${runs} runs)`,
    );
  }
  console.log(JSON.stringify({ browser: browser.version(), runs, ...results }));
} finally {
  await browser.close();
  server.close();
}
