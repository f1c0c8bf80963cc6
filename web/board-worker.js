// Checks a board export (verifyBoard) off the page's main thread: with many ballots the check
// takes seconds, and the page must stay usable meanwhile. verifiable.js posts
// `{ id, exported }` and gets `{ id, ok: true, summary }` or `{ id, ok: false, index, kind,
// code, message }` (the first failing entry, as plenum-verify names it).

import { verifyBoard } from './ballot-crypto.js';

self.addEventListener('message', (ev) => {
  const { id, exported } = ev.data;
  try {
    self.postMessage({ id, ok: true, summary: verifyBoard(exported) });
  } catch (err) {
    self.postMessage({ id, ok: false, index: err.index ?? null, kind: err.kind ?? null, code: err.code ?? 'malformed', message: err.message });
  }
});
