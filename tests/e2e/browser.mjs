// Shared helpers of the browser end-to-end tests: Debian's Chromium through playwright-core with
// the flags from shared/recipes/real-browsers.md (fake camera 1280x720 and beeping microphone,
// loopback ICE), the `plenum` server and its invites, polling, and steps that stop at the first
// failure.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const REPO = path.resolve(E2E_DIR, '../..');
/** The server binary under test. */
export const PLENUM_BIN = path.resolve(REPO, process.env.PLENUM_BIN ?? 'target/debug/plenum');

export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

// playwright-core itself adds --headless (the new headless mode in this Chromium) and --no-sandbox.
export const CHROMIUM_ARGS = [
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', // without it: no ICE candidates at all on lo
  '--disable-features=WebRtcHideLocalIpsWithMdns', // real 127.0.0.1 candidates, no .local names
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--no-default-browser-check',
  '--ignore-certificate-errors', // the server's certificate is self-signed
  '--autoplay-policy=no-user-gesture-required',
];

/** Interfaces other than loopback that are up (the test must see none). */
export function nonLoopbackInterfaces() {
  return Object.entries(os.networkInterfaces())
    .filter(([, addrs]) => addrs.some((a) => !a.internal))
    .map(([name]) => name);
}

/**
 * `fakeMedia: false` leaves out the fake camera and microphone: the participants find no
 * devices and join without sending, which spares the CPU in tests that need no media.
 * `netns` runs the browser in that named network namespace (`ip netns exec`, through a
 * one-line wrapper script, as playwright-core wants one executable); playwright-core talks to
 * it over a pipe, which crosses namespaces.
 */
export async function launchChromium({ fakeMedia = true, netns } = {}) {
  const args = fakeMedia ? CHROMIUM_ARGS : CHROMIUM_ARGS.filter((a) => a !== '--use-fake-device-for-media-stream');
  // playwright-core makes a fresh, empty profile directory for every launch.
  if (!netns) return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'plenum-e2e-chromium-'));
  const wrapper = path.join(dir, 'chromium');
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${shellQuote(netns)} ${shellQuote(CHROMIUM)} "$@"\n`, { mode: 0o755 });
  try {
    return await chromium.launch({ executablePath: wrapper, headless: true, args });
  } finally {
    await rm(dir, { recursive: true, force: true }); // exec'd by now
  }
}

function shellQuote(s) {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

export function newContext(browser, options = {}) {
  return browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 720 },
    permissions: ['camera', 'microphone'],
    ...options,
  });
}

/** Polls `fn` until it returns a truthy value; fails with what it last saw. */
export async function poll(what, fn, { timeout = 30_000, interval = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    let value;
    try {
      value = await fn((seen) => {
        last = seen;
      });
    } catch (err) {
      last = `error: ${err.message}`;
    }
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last seen: ${typeof last === 'string' ? last : JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

const SERVER_START_TIMEOUT_MS = 30_000;
const INVITE_LINE = /^ {2}(\S+)\s+(.+?)\s+(\S+\/join#token=\S+)\s*$/;

/**
 * Starts `plenum serve` on free loopback ports with `dataDir`; `ready` resolves with the three
 * invites of the demo congress once the server printed them. Output goes to `log`. `netns`
 * runs it in that named network namespace (`ip netns exec`, which execs: `child` is the server).
 */
export function startServer(bin, dataDir, log, { cwd, env = {}, httpBind = '127.0.0.1:0', mediaBind = '127.0.0.1:0', netns } = {}) {
  const serveArgs = ['serve', '--data-dir', dataDir, '--http-bind', httpBind, '--media-bind', mediaBind];
  const [command, args] = netns ? ['ip', ['netns', 'exec', netns, bin, ...serveArgs]] : [bin, serveArgs];
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
        // Not a terminal: the server writes the links to an owner-only file and names it.
        const file = /^plenum: demo links .* are in (.+)$/.exec(line)?.[1];
        if (!file) continue;
        for (const l of readFileSync(file.trim(), 'utf8').split('\n')) {
          const m = INVITE_LINE.exec(l);
          if (m) invites.push({ role: m[1], name: m[2], url: m[3] });
        }
        clearTimeout(timer);
        if (invites.length >= 3) resolve(invites.slice(0, 3));
        else reject(new Error(`${file} holds ${invites.length} of 3 invite links`));
      }
    });
    child.stderr.on('data', (chunk) => log.push(chunk.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${bin}: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (code ${code}, signal ${signal}); output:\n${log.join('')}`));
    });
  });
  return { child, ready };
}

/**
 * The common start of every e2e file: checks that it runs in a private network namespace
 * and that the binary exists, makes `artifacts`, and starts the server on a fresh data
 * directory (`tmpPrefix…`). Calls `started(server, dataDir)` at once, so the caller's
 * `after` can clean up even if the start fails; resolves with the three demo invites.
 */
export async function startDemo({ bin, repo, artifacts, tmpPrefix, log, started, serverOptions = {} }) {
  const outside = nonLoopbackInterfaces();
  assert.deepEqual(
    outside,
    [],
    `this test must run in a private network namespace with only lo; found ${outside.join(', ')}. ` +
      'Run it from the repo root as: tests/e2e/netns.sh node --test tests/e2e/',
  );
  await access(bin, constants.X_OK).catch(() => {
    throw new Error(`no plenum binary at ${bin}: build it (cargo build) or set PLENUM_BIN`);
  });
  await mkdir(artifacts, { recursive: true });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), tmpPrefix));
  const server = startServer(bin, dataDir, log, { cwd: repo, ...serverOptions });
  started(server, dataDir);
  return server.ready;
}

export async function stopServer(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** A new invite from `plenum invite` against the running server's data directory. */
export async function issueInvite(bin, dataDir, { room = 'demo', name, role, publicUrl }) {
  const args = ['invite', '--data-dir', dataDir, '--room', room, '--name', name, '--role', role, '--public-url', publicUrl];
  const { stdout } = await promisify(execFile)(bin, args, { timeout: 15_000 });
  const url = /(\S+\/join#token=\S+)/.exec(stdout)?.[1];
  if (!url) throw new Error(`plenum invite printed no link: ${stdout}`);
  return { role, name, url };
}

/**
 * `step(name, fn, timeout)` declares one test; once a step failed, the later ones are skipped
 * instead of timing out one after the other.
 */
export function stepper() {
  let broken = null;
  return function step(name, fn, timeout) {
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
  };
}

/** Sets a password on `page` with an activation link and waits for the start page. */
export async function activate(page, link, password) {
  await page.goto(link);
  await page.fill('[data-testid=activate-password]', password);
  await page.fill('[data-testid=activate-repeat]', password);
  await page.click('[data-testid=activate-submit]');
  await page.waitForSelector('[data-testid=screen-start]:not([hidden])', { timeout: 10_000 });
}

/**
 * One test file's run: its server on a fresh data directory, its folder under `artifacts/`,
 * and the server's and the browsers' logs, written there by `stop()`.
 */
export class DemoRun {
  constructor(name) {
    this.artifacts = path.join(E2E_DIR, 'artifacts', name);
    this.tmpPrefix = `plenum-e2e-${name}-`;
    this.serverLog = [];
    this.consoleLog = [];
    this.server = null;
    this.dataDir = null;
  }

  /** Starts the server (see `startDemo`); resolves with the three demo invites. */
  start(serverOptions = {}) {
    return startDemo({
      bin: PLENUM_BIN,
      repo: REPO,
      artifacts: this.artifacts,
      tmpPrefix: this.tmpPrefix,
      log: this.serverLog,
      started: (server, dataDir) => {
        this.server = server;
        this.dataDir = dataDir;
      },
      serverOptions,
    });
  }

  /** Runs `plenum ARGS… --data-dir <this run's>` (the CLI); resolves with its output. */
  async cli(...args) {
    const { stdout } = await promisify(execFile)(PLENUM_BIN, [...args, '--data-dir', this.dataDir], { timeout: 15_000 });
    return stdout;
  }

  /** A new invite for this run's server (`plenum invite`). */
  invite(options) {
    return issueInvite(PLENUM_BIN, this.dataDir, options);
  }

  /** Keeps `page`'s console messages and errors for `console.log`, tagged with `name`. */
  watch(page, name) {
    page.on('console', (m) => this.consoleLog.push(`[${name}] ${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => this.consoleLog.push(`[${name}] pageerror: ${e.message}`));
  }

  /** Closes `browser`, stops the server, removes the data directory, writes the logs. */
  async stop(browser) {
    await browser?.close().catch(() => {});
    await stopServer(this.server?.child);
    if (this.dataDir) await rm(this.dataDir, { recursive: true, force: true });
    await writeFile(path.join(this.artifacts, 'server.log'), this.serverLog.join('')).catch(() => {});
    if (this.consoleLog.length) {
      await writeFile(path.join(this.artifacts, 'console.log'), this.consoleLog.join('\n')).catch(() => {});
    }
  }
}
