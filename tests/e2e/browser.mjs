// Launching Debian's Chromium through playwright-core with the flags from
// shared/recipes/real-browsers.md (fake camera 1280x720 and beeping microphone, loopback ICE).

import os from 'node:os';
import { chromium } from 'playwright-core';

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

export function launchChromium() {
  // playwright-core makes a fresh, empty profile directory for every launch.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
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
