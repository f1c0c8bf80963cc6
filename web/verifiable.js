// Verifiable polls in the browser (docs/protocol.md, "Verifiable polls"; docs/ballot.md,
// "Verifiable ballots"): what a committee member's browser does by itself, what a voter's
// browser does when casting, and the board for everyone. The cryptography is ballot-crypto.js;
// this module runs it at the right moments, talks to the server and says what happened.
//
// `createVerifiable({ view, send, render, describe, storage })` — `view()` and `send()` as in
// ballots.js, `render()` redraws the poll panel, `describe(poll, choice)` words a choice,
// `storage` where a member keeps its share (default: the page's localStorage).
// Returns:
// - `handleEvent(msg)` for `dkg_changed` and `board_entry`; `sync()` after the polls changed
//   (a join, `poll_changed`): both move the committee member's work on, without clicks;
// - for the vote panels: `prepare` (encrypt as soon as the voter confirms the choice, before
//   they decide between casting and auditing), `confirmStep` (whose buttons call `cast` and
//   `audit`), `castBlock`, `hasCast`;
// - for the poll card: `section(poll, v)` (committee, key generation, the member's own status,
//   decryption), `boardSection(poll)` (the committee digest, the board's download and check)
//   and `canOpen(poll)`;
// - `snapshot()` for the end-to-end test.
//
// What a member keeps: the DKG key and polynomial in memory only, until the round is `done`;
// then only its share, in localStorage under the room, the poll and the participant (so a
// reload keeps it), deleted once the result is decrypted or the poll cancelled. A voter's
// credential seed and ballot opening live in memory until the ballot is cast.

import * as bc from './ballot-crypto.js';
import { t, errorText } from './i18n.js';
import { h, icon, smallButton } from './dom.js';

const ANSWERS = ['yes', 'no', 'abstain'];
const SHARE_PREFIX = 'plenum.ballot-share/';
/** Errors after which sending the same thing again may work. */
const TRANSIENT = new Set(['connection_lost', 'timeout', 'rate_limited', 'internal']);

const rightKey = (pollId, holderId) => `${pollId}|${holderId}`;
const grouped = (s) => s.match(/.{1,4}/g)?.join(' ') ?? s;
/** The first 16 hex digits in groups of four: short enough to read aloud and compare. */
const shortDigest = (s) => grouped(s.slice(0, 16));
const codeOf = (err) => err?.code ?? 'internal';
const nextFrame = () => new Promise((resolve) => setTimeout(resolve, 0));

/** The header entry's fields without `kind`, as verifyPoll takes them. */
function headerFields(entry) {
  const { kind: _kind, ...header } = entry;
  return header;
}

/** A poll's choice as the 0/1 vector of its board questions (docs/ballot.md, "Mapping"). */
export function choiceVector(poll, choice) {
  if (poll.kind === 'motion') return [ANSWERS.map((a) => a === choice.vote)];
  const candidates = poll.candidates ?? [];
  if (poll.method?.type === 'yes_no') return candidates.map((_, i) => ANSWERS.map((a) => a === choice.answers?.[i]));
  const options = candidates.map((_, i) => Boolean(choice.select?.includes(i)));
  if (poll.method?.global_no) options.push(choice.global === 'no');
  if (poll.method?.global_abstain) options.push(choice.global === 'abstain');
  return [options];
}

/** The choice a 0/1 vector stands for (the inverse of choiceVector), or null. */
export function choiceOfVector(poll, vector) {
  const picked = (row) => ANSWERS.filter((_, i) => row[i]);
  if (poll.kind === 'motion') {
    const [vote] = picked(vector[0] ?? []);
    return vote ? { vote } : null;
  }
  const candidates = poll.candidates ?? [];
  if (poll.method?.type === 'yes_no') return { answers: vector.map((row) => picked(row)[0]) };
  const row = vector[0] ?? [];
  let extra = candidates.length;
  if (poll.method?.global_no && row[extra++]) return { global: 'no' };
  if (poll.method?.global_abstain && row[extra]) return { global: 'abstain' };
  return { select: candidates.map((_, i) => i).filter((i) => row[i]) };
}

function sameVector(a, b) {
  return a.length === b.length && a.every((row, q) => row.length === b[q].length && row.every((x, o) => x === b[q][o]));
}

// --- The member's share in localStorage ------------------------------------------------------

/** The page's localStorage, or null where it is disabled (reading it may throw). */
function pageStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

function readShare(storage, key) {
  try {
    const raw = storage?.getItem(key);
    if (!raw) return null;
    const s = JSON.parse(raw);
    if (!Number.isInteger(s.member)) return null;
    return { member: s.member, secret: bc.decodeScalar(s.share), digest: typeof s.digest === 'string' ? s.digest : null };
  } catch {
    return null;
  }
}

function writeShare(storage, key, share) {
  try {
    if (!storage) return false;
    storage.setItem(key, JSON.stringify({ member: share.member, share: bc.encodeScalar(share.secret), digest: share.digest }));
    return true;
  } catch {
    return false; // storage disabled or full: the share stays in memory only
  }
}

function dropShare(storage, key) {
  try {
    storage?.removeItem(key);
  } catch {
    // Nothing stored.
  }
}

// --- Board checks off the main thread --------------------------------------------------------

let worker = null;
let workerBroken = false;
let nextCheck = 1;
const checks = new Map(); // check id → resolve

/** verifyBoard(exported) in board-worker.js: `{ ok: true, summary }` or `{ ok: false, index, kind, code, message }`. */
function checkBoard(exported) {
  const inPage = () => {
    try {
      return { ok: true, summary: bc.verifyBoard(exported) };
    } catch (err) {
      return { ok: false, index: err.index ?? null, kind: err.kind ?? null, code: err.code ?? 'malformed', message: err.message };
    }
  };
  if (workerBroken || typeof Worker === 'undefined') return nextFrame().then(inPage);
  try {
    if (!worker) {
      worker = new Worker(new URL('./board-worker.js', import.meta.url), { type: 'module' });
      worker.addEventListener('message', (ev) => {
        checks.get(ev.data.id)?.(ev.data);
        checks.delete(ev.data.id);
      });
      worker.addEventListener('error', () => {
        // The worker could not start (or died): check in the page instead.
        workerBroken = true;
        worker = null;
        for (const resolve of checks.values()) resolve(null);
        checks.clear();
      });
    }
    const id = nextCheck++;
    return new Promise((resolve) => {
      checks.set(id, resolve);
      worker.postMessage({ id, exported });
    }).then((answer) => answer ?? inPage());
  } catch {
    workerBroken = true;
    return nextFrame().then(inPage);
  }
}

// ---------------------------------------------------------------------------------------------

export function createVerifiable({ view, send, render, describe, storage = pageStorage() }) {
  const records = new Map(); // poll id → { round, committee } of the last dkg_changed
  const members = new Map(); // poll id → this participant's work as a committee member
  const boards = new Map(); // poll id → the board as far as this page follows it
  const voters = new Map(); // right key → this page's ballot for that right
  const verdicts = new Map(); // poll id → the last board check shown
  const running = new Map(); // poll id → { again } while the member's work runs
  const advanceErrors = new Map(); // poll id → error code of the moderator's last poll_dkg_advance
  let copied = null; // right key whose tracker was just copied, and how

  const pollOf = (id) => view().polls.find((p) => p.id === id) ?? null;
  const names = new Map(); // participant id → name, kept after they left (a committee member)
  const nameOf = (id) => {
    const name = view().participants.find((p) => p.id === id)?.name;
    if (name) names.set(id, name);
    return name ?? names.get(id) ?? id;
  };
  const selfId = () => view().self?.id ?? null;

  /** Whether this participant was chosen for the poll's tally committee. */
  function chosen(poll) {
    const me = selfId();
    return Boolean(me && poll.verifiable?.committee?.includes(me));
  }

  /**
   * This participant's member index (from 1) in the key generation, or 0 when it is not (or no
   * longer) a member. The server numbers the members again when a silent one leaves in round
   * `keys`, so the index comes from the key generation's member list, not the definition.
   */
  function memberIndex(poll) {
    const me = selfId();
    if (!me || !poll.verifiable) return 0;
    const list = poll.verifiable.dkg?.members;
    if (Array.isArray(list)) return list.find((x) => x.participant_id === me)?.index ?? 0;
    return (poll.verifiable.committee ?? []).indexOf(me) + 1;
  }

  function shareKey(pollId) {
    return `${SHARE_PREFIX}${view().room?.id ?? ''}/${pollId}/${selfId() ?? ''}`;
  }

  // --- The board, followed live ---------------------------------------------------------

  function board(pollId) {
    let b = boards.get(pollId);
    if (!b) {
      b = { entries: [], loading: null, pending: [], header: null, headerError: null };
      boards.set(pollId, b);
    }
    return b;
  }

  /** Loads the board once (poll_board), then follows board_entry; resolves with it. */
  function ensureBoard(pollId) {
    const b = board(pollId);
    if (b.entries.length) return Promise.resolve(b);
    b.loading ??= reloadBoard(pollId);
    return b.loading.then(() => b);
  }

  async function reloadBoard(pollId) {
    const b = board(pollId);
    let code = 'internal';
    const result = await send('poll_board', { poll_id: pollId }, { onError: (c) => (code = c) });
    b.loading = null;
    if (!result?.export) {
      b.headerError = code;
      return;
    }
    b.entries = result.export.entries;
    b.header = null;
    b.headerError = null;
    const pending = b.pending.sort((x, y) => x.index - y.index);
    b.pending = [];
    for (const msg of pending) applyEntry(b, msg);
    boardChanged(pollId);
  }

  function applyEntry(b, msg) {
    if (msg.index === b.entries.length) b.entries.push({ hash: msg.hash, entry: msg.entry });
    else if (msg.index > b.entries.length) b.loading ??= reloadBoard(msg.poll_id); // missed some
  }

  /** The checked header of a loaded board: { poll, digest } (throws with a code). */
  function headerOf(pollId) {
    const b = board(pollId);
    if (b.header) return b.header;
    const first = b.entries[0]?.entry;
    if (!first || first.kind !== 'header') throw new bc.BallotCryptoError(b.headerError ?? 'malformed', 'no header on the board');
    const poll = bc.verifyPoll(headerFields(first));
    if (poll.header.poll_id !== pollId) throw new bc.BallotCryptoError('wrong_poll');
    b.header = { poll, digest: bc.hex(poll.outcome.committee.digest) };
    return b.header;
  }

  function boardChanged(pollId) {
    checkTrackers(pollId);
    render();
  }

  // --- Events -----------------------------------------------------------------------------

  function handleEvent(msg) {
    if (msg.event === 'dkg_changed') {
      records.set(msg.poll_id, { round: msg.round, committee: msg.committee });
      kick(msg.poll_id);
      render();
      return;
    }
    if (msg.event === 'board_entry') {
      const b = boards.get(msg.poll_id);
      if (b?.loading) b.pending.push(msg);
      else if (b?.entries.length) {
        applyEntry(b, msg);
        boardChanged(msg.poll_id);
      }
      if (msg.entry?.kind === 'tally') kick(msg.poll_id);
    }
  }

  /** After the polls changed: move every member's work on, follow the boards voters need. */
  function sync() {
    for (const poll of view().polls) {
      if (!poll.verifiable) continue;
      if (chosen(poll)) kick(poll.id);
      const waiting = [...voters.entries()].some(([key, vs]) => key.startsWith(`${poll.id}|`) && vs.tracker && !vs.onBoard);
      const mayCast = poll.state === 'open' && (poll.my_rights ?? []).some((r) => !r.voted);
      if ((mayCast || waiting) && !boards.get(poll.id)?.entries.length) ensureBoard(poll.id).then(() => boardChanged(poll.id));
    }
  }

  // --- The committee member ---------------------------------------------------------------

  /** Runs the member's next step for a poll; one at a time per poll, again if asked meanwhile. */
  function kick(pollId) {
    const poll = pollOf(pollId);
    if (!poll?.verifiable || !chosen(poll)) return;
    const run = running.get(pollId);
    if (run) {
      run.again = true;
      return;
    }
    const me = { again: false };
    running.set(pollId, me);
    (async () => {
      do {
        me.again = false;
        const current = pollOf(pollId);
        if (!current) break;
        const m = member(pollId);
        try {
          await memberStep(current, m);
        } catch (err) {
          m.status = 'error';
          m.error = codeOf(err);
          console.warn('plenum: committee step failed', err);
        }
        render();
      } while (me.again);
      running.delete(pollId);
    })();
  }

  function member(pollId) {
    let m = members.get(pollId);
    if (!m) {
      m = { index: 0, dkgKey: null, dealSecret: null, sent: {}, complaints: [], status: 'waiting', error: null, digest: null, share: null, decrypt: null, board: null };
      members.set(pollId, m);
    }
    return m;
  }

  /** Forget the DKG key and polynomial: the encrypted shares stay on the board for ever. */
  function forgetDkg(m) {
    m.dkgKey = null;
    m.dealSecret = null;
  }

  /** Sends one of the member's commands; true once the server took it. */
  async function memberSend(m, cmd, poll, args) {
    let code = null;
    const result = await send(cmd, { poll_id: poll.id, ...args }, { onError: (c) => (code = c) });
    if (result) {
      m.error = null;
      return true;
    }
    m.status = 'error';
    m.error = code ?? 'internal';
    return false;
  }

  /**
   * What a member has said in the current key generation, from the poll view's flags and the
   * last record (whichever came first).
   */
  function spoken(poll, index) {
    const flags = poll.verifiable.dkg?.members?.find((x) => x.index === index) ?? {};
    const record = records.get(poll.id)?.committee;
    return {
      key: Boolean(flags.key) || Boolean(record?.members?.some((k) => k.index === index)),
      dealt: Boolean(flags.dealt) || Boolean(record?.dealings?.some((d) => d.dealer === index)),
      complaints: Boolean(flags.complaints_done),
      answered: Boolean(flags.answered) || Boolean(record?.answers?.some((a) => a.dealer === index)),
      qualified: flags.qualified ?? null,
    };
  }

  async function memberStep(poll, m) {
    const rec = records.get(poll.id);
    // The share first: a record of round `done` and the DKG secrets in memory (the poll may
    // have opened before this step ran).
    if (!m.share && m.dkgKey && m.dealSecret && rec?.round === 'done') finishKeyGeneration(poll, m, rec.committee);
    if (poll.state !== 'draft') return afterKeyGeneration(poll, m);
    const round = rec?.round ?? poll.verifiable.dkg?.round ?? 'keys';
    const index = memberIndex(poll);
    if (round === 'failed') {
      forgetDkg(m);
      m.status = 'failed';
      return;
    }
    if (!index) {
      // Left out: silent in round `keys` (a moderator moved on without it).
      forgetDkg(m);
      m.status = 'excluded';
      return;
    }
    const said = spoken(poll, index);
    const record = rec?.committee ?? null;
    const label = selfId();
    if (round !== 'keys' && record?.members?.length) {
      try {
        m.digest = bc.hex(bc.committeeOf(record.id, record.threshold, record.members).digest);
      } catch {
        // The round's own step reports it.
      }
    }
    /** The own DKG key, if it is the one of this index (a new index needs a new key). */
    const ownKey = m.dkgKey?.index === index ? m.dkgKey : null;
    switch (round) {
      case 'keys': {
        m.index = index;
        if (said.key) {
          m.status = ownKey ? 'keySent' : 'keyLost';
          return;
        }
        if (ownKey && m.sent.key === index) return; // on its way
        await nextFrame();
        const { secret, member: key } = bc.dkgKeyGenerate(record?.id ?? poll.id, record?.threshold ?? poll.verifiable.threshold, index, label);
        m.dkgKey = secret;
        m.dealSecret = null;
        m.status = 'working';
        m.sent.key = index;
        if (await memberSend(m, 'dkg_key', poll, { key })) m.status = 'keySent';
        else m.sent.key = null;
        return;
      }
      case 'dealings': {
        if (!ownKey) {
          m.status = said.key ? 'keyLost' : 'excluded';
          return;
        }
        if (said.dealt) {
          m.status = m.dealSecret ? 'dealt' : 'keyLost';
          return;
        }
        if (m.sent.deal || !record) return;
        const committee = bc.committeeOf(record.id, record.threshold, record.members);
        const { dealing, secret } = bc.deal(committee, ownKey);
        m.dealSecret = secret;
        m.sent.deal = true;
        if (await memberSend(m, 'dkg_deal', poll, { dealing })) m.status = 'dealt';
        else {
          m.sent.deal = false;
          m.dealSecret = null;
        }
        return;
      }
      case 'complaints': {
        if (!ownKey || !m.dealSecret) {
          m.status = said.key ? 'keyLost' : 'excluded';
          return;
        }
        if (m.sent.complain || said.complaints || !record) {
          if (m.sent.complain || said.complaints) m.status = 'checked';
          return;
        }
        const committee = bc.committeeOf(record.id, record.threshold, record.members);
        const complaints = [];
        for (const dealing of record.dealings ?? []) {
          if (dealing.dealer === index) continue;
          try {
            bc.openShare(committee, ownKey, dealing);
          } catch {
            complaints.push({ complainer: index, dealer: dealing.dealer });
          }
        }
        complaints.sort((a, b) => a.dealer - b.dealer);
        m.sent.complain = true;
        if (await memberSend(m, 'dkg_complain', poll, { complaints })) {
          m.complaints = complaints.map((c) => c.dealer);
          m.status = 'checked';
        } else m.sent.complain = false;
        return;
      }
      case 'answers': {
        const against = (record?.complaints ?? []).filter((c) => c.dealer === index).sort((a, b) => a.complainer - b.complainer);
        if (!against.length || m.sent.answer || said.answered) return;
        if (!m.dealSecret) {
          m.status = 'keyLost';
          return;
        }
        const answers = against.map((c) => bc.answerComplaint(m.dealSecret, c));
        m.sent.answer = true;
        if (await memberSend(m, 'dkg_answer', poll, { answers })) m.status = 'answered';
        else m.sent.answer = false;
        return;
      }
      case 'done':
        return finishKeyGeneration(poll, m, record);
      default:
    }
  }

  /** Round `done`: compute the share, check it, store it, forget the DKG secrets. */
  function finishKeyGeneration(poll, m, record) {
    if (m.share) return;
    const stored = readShare(storage, shareKey(poll.id));
    if (stored) {
      m.share = stored;
      m.index = stored.member;
      m.digest ??= stored.digest;
      m.status = 'shareStored';
      forgetDkg(m);
      return;
    }
    if (!m.dkgKey || !m.dealSecret || !record) {
      m.status = m.sent.key ? 'keyLost' : 'excluded';
      forgetDkg(m);
      return;
    }
    try {
      // trusteeShare checks x_i·G against the verification key from the public record.
      const share = bc.trusteeShare(record, m.dkgKey, m.dealSecret);
      m.digest = bc.hex(bc.committeeOf(record.id, record.threshold, record.members).digest);
      m.share = { member: share.member, secret: share.secret, digest: m.digest };
      m.index = share.member;
      m.status = writeShare(storage, shareKey(poll.id), m.share) ? 'shareStored' : 'shareMemoryOnly';
    } catch (err) {
      m.status = err.code === 'bad_trustee' || err.code === 'committee_too_small' ? 'disqualified' : 'error';
      m.error = codeOf(err);
    } finally {
      forgetDkg(m);
    }
  }

  function decryptionComplete(poll) {
    const d = poll.verifiable?.decryption;
    return Boolean(poll.result) || Boolean(d && d.needed > 0 && d.valid >= d.needed);
  }

  /** The poll is open or further: keep the share until the result is decrypted, then drop it. */
  async function afterKeyGeneration(poll, m) {
    forgetDkg(m);
    const key = shareKey(poll.id);
    if (poll.state === 'cancelled' || poll.state === 'published' || decryptionComplete(poll)) {
      const had = m.share || readShare(storage, key);
      dropShare(storage, key);
      m.share = null;
      if (had || m.decrypt === 'sent') m.status = 'finished';
      else if (m.status === 'waiting') m.status = 'idle';
      return;
    }
    m.share ??= readShare(storage, key);
    if (!m.share) {
      const index = m.index || memberIndex(poll);
      const qualified = poll.verifiable.dkg?.members?.find((x) => x.index === index)?.qualified;
      if (['excluded', 'disqualified', 'failed'].includes(m.status)) return;
      if (!index) m.status = 'excluded';
      else m.status = qualified === false ? 'disqualified' : 'shareLost';
      return;
    }
    m.digest ??= m.share.digest;
    if (['sent', 'checking', 'refused', 'failed'].includes(m.decrypt)) return;
    if (poll.state !== 'closed') {
      m.status = m.status === 'shareMemoryOnly' ? m.status : 'shareStored';
      return;
    }
    await decrypt(poll, m);
  }

  /**
   * The tally is on the board: check the whole board first (a server that passed off a single
   * ballot as the tally would otherwise get it decrypted), then send the partial decryption.
   */
  async function decrypt(poll, m) {
    m.decrypt = 'checking';
    m.status = 'checking';
    render();
    let code = 'internal';
    const result = await send('poll_board', { poll_id: poll.id }, { onError: (c) => (code = c) });
    const exported = result?.export;
    if (!exported) {
      m.decrypt = TRANSIENT.has(code) ? null : 'failed';
      m.status = 'error';
      m.error = code;
      return;
    }
    if (exported.entries.some((e) => e.entry.kind === 'partial_decryption' && e.entry.member === m.index)) {
      m.decrypt = 'sent';
      m.status = 'decrypted';
      return;
    }
    const verdict = await checkBoard(exported);
    m.board = verdict;
    if (!verdict.ok) {
      m.decrypt = 'refused';
      m.status = 'boardInvalid';
      return;
    }
    if (verdict.summary.phase === 'published') {
      m.decrypt = null; // decrypted without this member: poll_changed finishes it
      return;
    }
    if (verdict.summary.phase !== 'tallied') {
      m.decrypt = null; // no tally yet: board_entry of the tally kicks again
      m.status = 'shareStored';
      return;
    }
    const poll0 = bc.verifyPoll(headerFields(exported.entries[0].entry));
    if (m.share.digest && bc.hex(poll0.outcome.committee.digest) !== m.share.digest) {
      m.decrypt = 'refused';
      m.status = 'digestMismatch';
      return;
    }
    const tally = exported.entries.find((e) => e.entry.kind === 'tally').entry;
    const partial = bc.partialDecrypt(poll0, bc.decodeTally(poll0, tally), { member: m.share.member, secret: m.share.secret });
    code = 'internal';
    const sent = await send('dkg_decrypt', { poll_id: poll.id, partial }, { onError: (c) => (code = c) });
    if (sent) {
      m.decrypt = 'sent';
      m.status = 'decrypted';
      m.error = null;
    } else {
      m.decrypt = TRANSIENT.has(code) ? null : 'failed';
      m.status = 'error';
      m.error = code;
    }
  }

  // --- The voter --------------------------------------------------------------------------

  function voter(key) {
    let vs = voters.get(key);
    if (!vs) {
      vs = { credential: null, credentialKey: null, choice: null, encrypted: null, busy: null, audits: [], tracker: null, index: null, onBoard: null, error: null, seq: 0 };
      voters.set(key, vs);
    }
    return vs;
  }

  /** Encrypts `choice` for `right` now, before the voter decides between casting and auditing. */
  async function prepare(poll, right, choice) {
    const vs = voter(rightKey(poll.id, right.holder_id));
    const seq = ++vs.seq;
    vs.choice = choice;
    vs.encrypted = null;
    vs.error = null;
    vs.busy = 'encrypting';
    render();
    try {
      await ensureBoard(poll.id);
      const { poll: boardPoll } = headerOf(poll.id);
      await nextFrame(); // let "encrypting …" show
      if (seq !== vs.seq) return;
      // One credential per right and poll: kept across audits, dropped once cast.
      vs.credential ??= bc.credentialGenerate();
      vs.encrypted = bc.encryptBallot(boardPoll, vs.credential, choiceVector(poll, choice));
    } catch (err) {
      if (seq === vs.seq) vs.error = codeOf(err);
    } finally {
      if (seq === vs.seq) vs.busy = null;
      render();
    }
  }

  /** The voter went back to the choice: the encrypted ballot is dropped (never sent). */
  function discard(poll, right) {
    const vs = voter(rightKey(poll.id, right.holder_id));
    vs.seq++;
    vs.encrypted = null;
    vs.busy = null;
    vs.error = null;
  }

  /** Benaloh audit: reveal this ballot (signature zeroed: never castable), check it, encrypt afresh. */
  async function audit(poll, right) {
    const vs = voter(rightKey(poll.id, right.holder_id));
    if (!vs.encrypted) return;
    const spoiled = bc.spoilBallot(vs.encrypted);
    const fingerprint = vs.encrypted.tracker;
    vs.encrypted = null;
    vs.busy = 'auditing';
    render();
    await nextFrame();
    try {
      const { poll: boardPoll } = headerOf(poll.id);
      const found = bc.auditBallot(boardPoll, spoiled.ballot, spoiled.opening);
      const inside = choiceOfVector(poll, found);
      vs.audits.push({ ok: sameVector(found, choiceVector(poll, vs.choice)), text: inside ? describe(poll, inside) : '', fingerprint, spoiled });
    } catch (err) {
      vs.audits.push({ ok: false, code: codeOf(err), fingerprint, spoiled });
    }
    render();
    await prepare(poll, right, vs.choice);
  }

  async function cast(poll, right, onCast) {
    const key = rightKey(poll.id, right.holder_id);
    const vs = voter(key);
    const encrypted = vs.encrypted;
    if (!encrypted || vs.busy) return;
    vs.busy = 'casting';
    vs.error = null;
    render();
    const args = { poll_id: poll.id, credential: vs.credential.publicKey, ballot: encrypted.ballot };
    if (right.holder_id !== selfId()) args.on_behalf_of = right.holder_id;
    let code = 'internal';
    const result = await send('cast_ballot', args, { onError: (c) => (code = c) });
    vs.busy = null;
    if (!result) {
      vs.error = code;
      render();
      return;
    }
    // Cast: the seed and the opening are of no use any more (and the opening would prove the vote).
    vs.credentialKey = vs.credential.publicKey;
    vs.credential = null;
    vs.encrypted = null;
    vs.tracker = encrypted.tracker;
    vs.index = result.index ?? null;
    if (result.tracker !== encrypted.tracker) vs.error = 'tracker_mismatch';
    onCast?.();
    ensureBoard(poll.id).then(() => boardChanged(poll.id));
    render();
  }

  /** Finds cast ballots on the board: the tracker, and the credential registered with the right's weight. */
  function checkTrackers(pollId) {
    const b = boards.get(pollId);
    if (!b?.entries.length) return;
    const rights = pollOf(pollId)?.my_rights ?? [];
    for (const [key, vs] of voters) {
      if (!key.startsWith(`${pollId}|`) || !vs.tracker || vs.onBoard) continue;
      const index = bc.findTracker(b, vs.tracker);
      if (index < 0) continue;
      const registration = b.entries.find((e) => e.entry.kind === 'registration' && e.entry.credential === vs.credentialKey);
      const weight = rights.find((r) => rightKey(pollId, r.holder_id) === key)?.weight ?? null;
      vs.onBoard = { index, registered: registration?.entry.weight ?? null, weight };
    }
  }

  function hasCast(poll, right) {
    return Boolean(voters.get(rightKey(poll.id, right.holder_id))?.tracker);
  }

  // --- Vote panel parts -------------------------------------------------------------------

  function auditLines(vs) {
    return vs.audits.map((a, i) =>
      h(
        'div',
        { className: `audit ${a.ok ? 'ok' : 'bad'}`, testid: 'audit-result', dataset: { ok: String(a.ok), code: a.code ?? '' }, key: `audit${i}` },
        h('p', {}, icon(a.ok ? 'check' : 'alert'), h('span', {
          text: a.code ? t('vp.audit.failed', { error: errorText(a.code) }) : t(a.ok ? 'vp.audit.ok' : 'vp.audit.mismatch', { choice: a.text }),
        })),
        h('p', { className: 'vote-hint', text: t('vp.audit.spoiled', { code: shortDigest(a.fingerprint) }) }),
        smallButton(t('vp.audit.download'), 'audit-download', () => saveJson(`plenum-audit-${a.fingerprint.slice(0, 8)}.json`, a.spoiled), { iconName: 'down' }),
      ),
    );
  }

  /** The confirmation step of a verifiable poll: cast the encrypted ballot, or audit it. */
  function confirmStep(poll, right, choice, { onBack, onCast }) {
    const vs = voter(rightKey(poll.id, right.holder_id));
    const busy = Boolean(vs.busy);
    const ready = Boolean(vs.encrypted) && !busy;
    const confirm = smallButton(vs.busy === 'casting' ? t('vote.sending') : t('vp.castYes'), 'vote-confirm', () => cast(poll, right, onCast), {
      iconName: 'check',
      className: 'primary',
    });
    const auditButton = smallButton(t('vp.auditInstead'), 'vote-audit', () => audit(poll, right), { iconName: 'search' });
    const back = smallButton(t('vote.back'), 'vote-back', () => {
      discard(poll, right);
      onBack();
    });
    confirm.disabled = !ready;
    auditButton.disabled = !ready;
    back.disabled = vs.busy === 'casting';
    let status;
    if (vs.busy === 'encrypting') status = t('vp.encrypting');
    else if (vs.busy === 'auditing') status = t('vp.auditing');
    else if (vs.encrypted) status = t('vp.encrypted', { code: shortDigest(vs.encrypted.tracker) });
    return h(
      'div',
      { className: 'vote-confirm', role: 'group' },
      h('p', { className: 'vote-confirm-text', testid: 'vote-confirm-text', text: t('vote.confirm', { choice: describe(poll, choice) }) }),
      h('p', { className: 'vote-hint', testid: 'ballot-status', role: 'status', dataset: { ready: String(ready) }, text: status ?? '' }),
      h('p', { className: 'vote-hint', text: t('vp.confirmHint') }),
      h('div', { className: 'button-row' }, confirm, auditButton, back),
      auditLines(vs),
      vs.error ? h('p', { className: 'error-text', role: 'alert', testid: 'vote-error', dataset: { code: vs.error }, text: errorText(vs.error) }) : null,
    );
  }

  async function copyTracker(key, tracker) {
    let manual = false;
    try {
      await navigator.clipboard.writeText(tracker);
    } catch {
      manual = true; // no clipboard access: select the code instead
    }
    copied = { key, manual };
    render();
    if (!manual) return;
    const code = document.querySelector(`[data-key="${CSS.escape(key)}"] [data-testid=tracker-code]`);
    if (code) getSelection()?.selectAllChildren(code);
  }

  /** After casting on this page: the tracker and whether it is on the board; null otherwise. */
  function castBlock(poll, right) {
    const key = rightKey(poll.id, right.holder_id);
    const vs = voters.get(key);
    if (!vs?.tracker) return null;
    const on = vs.onBoard;
    const weightWrong = on && on.weight !== null && on.registered !== on.weight;
    let boardText = t('vp.onBoardWaiting');
    if (on) boardText = weightWrong ? t('vp.onBoardWrongWeight', { registered: on.registered ?? '–', weight: on.weight }) : t('vp.onBoard', { n: on.index });
    const note = copied?.key === key ? t(copied.manual ? 'vote.copyManual' : 'vote.copied') : '';
    return h(
      'div',
      { className: 'receipt', testid: 'vote-tracker', dataset: { tracker: vs.tracker } },
      h('p', { className: 'vote-counted', testid: 'vote-counted' }, icon('check'), h('span', { text: t('vp.accepted') })),
      h(
        'p',
        { className: 'receipt-line' },
        h('span', { text: t('vp.tracker') }),
        h('code', { className: 'receipt-code', testid: 'tracker-code', text: grouped(vs.tracker) }),
        h(
          'button',
          { type: 'button', className: 'button small', testid: 'copy-tracker', 'aria-label': t('vp.copyLabel'), onClick: () => copyTracker(key, vs.tracker) },
          icon('copy'),
          h('span', { text: t('vote.copy') }),
        ),
      ),
      h('p', { className: 'vote-hint', role: 'status', testid: 'copy-status', text: note }),
      h('p', {
        className: on ? (weightWrong ? 'error-text' : 'receipt-found') : 'vote-hint',
        testid: 'tracker-status',
        role: 'status',
        dataset: { onBoard: String(Boolean(on) && !weightWrong), index: on ? String(on.index) : '' },
        text: boardText,
      }),
      vs.error ? h('p', { className: 'error-text', role: 'alert', testid: 'vote-error', dataset: { code: vs.error }, text: errorText(vs.error) }) : null,
      h('p', { className: 'vote-hint', text: t('vp.trackerHint') }),
    );
  }

  // --- The poll card ----------------------------------------------------------------------

  function canOpen(poll) {
    return (records.get(poll.id)?.round ?? poll.verifiable?.dkg?.round) === 'done';
  }

  /** The committee digest as far as this page knows it: own DKG, the record, or the header. */
  function digestOf(poll) {
    const m = members.get(poll.id);
    if (m?.digest) return m.digest;
    const b = boards.get(poll.id);
    if (b?.header) return b.header.digest;
    const rec = records.get(poll.id);
    const list = rec?.committee?.members ?? [];
    if (rec && rec.round !== 'keys' && list.length) {
      rec.digest ??= (() => {
        try {
          return bc.hex(bc.committeeOf(rec.committee.id, rec.committee.threshold, list).digest);
        } catch {
          return null;
        }
      })();
      return rec.digest;
    }
    return null;
  }

  function committeeLine(poll) {
    const vf = poll.verifiable;
    const names = vf.committee.map((id, i) => `${nameOf(id)} (${i + 1})`).join(', ');
    return h('p', {
      className: 'poll-meta',
      testid: 'committee-line',
      text: t('vp.committee', { names, t: vf.threshold, n: vf.committee.length }),
    });
  }

  const FLAG_BY_ROUND = { keys: 'key', dealings: 'dealt', complaints: 'complaints_done', answers: 'answered' };

  /** Moderators: the round, who has spoken, and "next round now". */
  function keyGeneration(poll, v) {
    if (poll.state !== 'draft' || !v.can(v.self, 'moderate')) return null;
    const dkg = poll.verifiable.dkg ?? { round: 'keys', members: [] };
    const round = records.get(poll.id)?.round ?? dkg.round;
    const flag = FLAG_BY_ROUND[round];
    const rows = (dkg.members ?? []).map((x) => {
      const said = spoken(poll, x.index);
      const has = { key: said.key, dealt: said.dealt, complaints_done: said.complaints, answered: said.answered };
      const done = flag ? has[flag] : null;
      const steps = [has.key && t('vp.step.key'), has.dealt && t('vp.step.dealt'), has.complaints_done && t('vp.step.checked'), has.answered && t('vp.step.answered')].filter(Boolean);
      let mark = done === null ? '' : done ? ' ✓' : ' …';
      if (x.qualified === false) mark = ` – ${t('vp.step.disqualified')}`;
      return h('li', {
        testid: 'dkg-member',
        dataset: { index: String(x.index), participantId: x.participant_id, spoken: String(done), qualified: String(x.qualified) },
        text: `${x.index}. ${nameOf(x.participant_id)}${mark}${steps.length ? ` (${steps.join(', ')})` : ''}`,
      });
    });
    const advanceButton =
      round !== 'done' && round !== 'failed'
        ? smallButton(t('vp.advance'), 'poll-dkg-advance', () => advance(poll), { iconName: 'play' })
        : null;
    const error = advanceErrors.get(poll.id);
    return h(
      'div',
      { className: 'dkg-status', testid: 'dkg-status', dataset: { round } },
      h('p', { className: round === 'failed' ? 'error-text' : '', text: t('vp.round', { round: t(`vp.round.${round}`) }) }),
      h('ul', { className: 'dkg-members' }, rows),
      round === 'done' ? null : h('p', { className: 'vote-hint', text: t('vp.advanceHint') }),
      advanceButton ? h('div', { className: 'button-row' }, advanceButton) : null,
      error ? h('p', { className: 'error-text', role: 'alert', testid: 'dkg-error', dataset: { code: error }, text: errorText(error) }) : null,
    );
  }

  async function advance(poll) {
    advanceErrors.delete(poll.id);
    await send('poll_dkg_advance', { poll_id: poll.id }, { onError: (code) => advanceErrors.set(poll.id, code) });
    render();
  }

  /** The own status as a committee member. */
  function memberPanel(poll) {
    if (!chosen(poll)) return null;
    const m = members.get(poll.id) ?? { status: 'waiting', complaints: [], index: 0 };
    const index = m.index || memberIndex(poll);
    const vf = poll.verifiable;
    let status = m.status;
    if (status === 'checked' && m.complaints.length) status = 'complained';
    const bad = ['keyLost', 'shareLost', 'disqualified', 'failed', 'boardInvalid', 'digestMismatch', 'error', 'excluded', 'shareMemoryOnly'].includes(status);
    const params = {
      t: vf.threshold,
      n: vf.committee.length,
      dealers: m.complaints.join(', '),
      index: m.board?.index ?? '–',
      code: m.board?.code ?? '',
      error: m.error ? errorText(m.error) : '',
    };
    return h(
      'div',
      { className: `committee-panel${bad ? ' trouble' : ''}`, testid: 'committee-panel', role: 'status', dataset: { status, index: String(index), error: m.error ?? '' } },
      h('h4', { text: index ? t('vp.member.title', { index, t: vf.threshold, n: vf.committee.length }) : t('vp.member.titleOut') }),
      h('p', { className: bad ? 'error-text' : '', testid: 'committee-status', text: t(`vp.member.${status}`, params) }),
    );
  }

  function digestLine(poll) {
    const digest = digestOf(poll);
    if (!digest) return null;
    return h(
      'div',
      { className: 'committee-digest' },
      h('p', {}, h('span', { text: t('vp.digest') }), ' ', h('code', { className: 'receipt-code', testid: 'committee-digest', dataset: { digest }, text: shortDigest(digest) })),
      h('p', { className: 'vote-hint', text: t('vp.digestHint') }),
    );
  }

  function decryptionLine(poll) {
    const d = poll.verifiable.decryption;
    if (poll.state !== 'closed' || !d) return null;
    const done = d.valid >= d.needed;
    return h('p', {
      className: done ? 'vote-hint' : 'notice',
      testid: 'poll-decryption',
      dataset: { valid: String(d.valid), needed: String(d.needed) },
      text: t(done ? 'vp.decrypted' : 'vp.decrypting', { valid: d.valid, needed: d.needed }),
    });
  }

  async function downloadBoard(poll) {
    const result = await send('poll_board', { poll_id: poll.id });
    if (result?.export) saveJson(`plenum-board-${poll.id}.json`, result.export);
  }

  async function verifyExport(pollId, exported, source) {
    verdicts.set(pollId, { busy: true, source });
    render();
    const verdict = await checkBoard(exported);
    verdicts.set(pollId, { ...verdict, source });
    render();
  }

  async function verifyFromServer(poll) {
    verdicts.set(poll.id, { busy: true, source: 'server' });
    render();
    let code = 'internal';
    const result = await send('poll_board', { poll_id: poll.id }, { onError: (c) => (code = c) });
    if (!result?.export) {
      verdicts.set(poll.id, { ok: false, index: null, kind: null, code, source: 'server' });
      render();
      return;
    }
    await verifyExport(poll.id, result.export, 'server');
  }

  async function verifyFile(poll, file) {
    if (!file) return;
    let exported;
    try {
      exported = JSON.parse(await file.text());
    } catch {
      verdicts.set(poll.id, { ok: false, index: null, kind: null, code: 'malformed', source: 'file', file: file.name });
      render();
      return;
    }
    await verifyExport(poll.id, exported, 'file');
  }

  function verdictLine(poll) {
    const verdict = verdicts.get(poll.id);
    if (!verdict) return null;
    if (verdict.busy) return h('p', { className: 'vote-hint', testid: 'board-verdict', dataset: { busy: 'true' }, role: 'status', text: t('vp.verifying') });
    const s = verdict.summary;
    let text;
    if (verdict.ok) {
      const phase = t(`vp.phase.${s.phase}`);
      text = t('vp.verdictOk', { ballots: s.ballots, weight: s.weight_cast, entries: s.entries, phase });
    } else {
      text = verdict.index === null ? t('vp.verdictBadFile', { error: errorText(verdict.code) }) : t('vp.verdictBad', { index: verdict.index, kind: verdict.kind, error: errorText(verdict.code) });
    }
    return h(
      'p',
      {
        className: `board-verdict ${verdict.ok ? 'receipt-found' : 'error-text'}`,
        testid: 'board-verdict',
        role: 'status',
        dataset: { ok: String(verdict.ok), source: verdict.source, index: verdict.index == null ? '' : String(verdict.index), code: verdict.code ?? '', phase: s?.phase ?? '', ballots: s ? String(s.ballots) : '' },
      },
      icon(verdict.ok ? 'check' : 'alert'),
      h('span', { text }),
    );
  }

  function boardTools(poll) {
    if (poll.state === 'draft' || poll.state === 'cancelled') return null;
    const head = poll.verifiable.board;
    const fileInput = h('input', {
      type: 'file',
      accept: 'application/json,.json',
      className: 'visually-hidden',
      testid: 'board-file',
      onChange: (ev) => {
        verifyFile(poll, ev.target.files?.[0]);
        ev.target.value = '';
      },
    });
    const fileButton = h(
      'label',
      { className: 'button small', testid: 'board-file-open' },
      icon('search'),
      h('span', { text: t('vp.verifyFile') }),
      fileInput,
    );
    return h(
      'div',
      { className: 'board-tools', testid: 'board-tools' },
      head ? h('p', { className: 'vote-hint', testid: 'board-head', dataset: { entries: String(head.entries), head: head.head ?? '' }, text: t('vp.boardHead', { n: head.entries, head: head.head ? shortDigest(head.head) : '–' }) }) : null,
      h(
        'div',
        { className: 'button-row' },
        smallButton(t('vp.download'), 'board-download', () => downloadBoard(poll), { iconName: 'down' }),
        smallButton(t('vp.verify'), 'board-verify', () => verifyFromServer(poll), { iconName: 'check' }),
        fileButton,
      ),
      verdictLine(poll),
    );
  }

  /**
   * What a verifiable poll's card shows beyond an ordinary poll, above the votes: the
   * committee, the key generation, the own part in it, the decryption.
   */
  function section(poll, v) {
    if (!poll.verifiable) return null;
    return h(
      'div',
      { className: 'verifiable', testid: 'verifiable' },
      committeeLine(poll),
      keyGeneration(poll, v),
      memberPanel(poll),
      poll.state === 'draft' ? digestLine(poll) : null,
      decryptionLine(poll),
    );
  }

  /** Below the votes and the result: the committee fingerprint and the board's tools. */
  function boardSection(poll) {
    if (!poll.verifiable || poll.state === 'draft') return null;
    return h('div', { className: 'verifiable board-section', testid: 'verifiable-board' }, digestLine(poll), boardTools(poll));
  }

  function snapshot() {
    return {
      members: Object.fromEntries([...members].map(([id, m]) => [id, { index: m.index, status: m.status, error: m.error, digest: m.digest, hasShare: Boolean(m.share), hasDkgKey: Boolean(m.dkgKey), decrypt: m.decrypt }])),
      voters: Object.fromEntries([...voters].map(([key, vs]) => [key, { tracker: vs.tracker, onBoard: vs.onBoard, audits: vs.audits.map((a) => ({ ok: a.ok, code: a.code ?? null })), error: vs.error, busy: vs.busy, ready: Boolean(vs.encrypted) }])),
      records: Object.fromEntries([...records].map(([id, r]) => [id, r.round])),
      boards: Object.fromEntries([...boards].map(([id, b]) => [id, b.entries.length])),
      verdicts: Object.fromEntries([...verdicts].map(([id, d]) => [id, { ok: d.ok ?? null, index: d.index ?? null, code: d.code ?? null, busy: Boolean(d.busy) }])),
      // Where board checks run: 'worker' (board-worker.js), 'page' (it could not start), or null.
      checksIn: workerBroken ? 'page' : worker ? 'worker' : null,
    };
  }

  return { handleEvent, sync, prepare, discard, audit, cast, confirmStep, castBlock, hasCast, section, boardSection, canOpen, memberIndex, snapshot };
}

/** Offers `value` as a JSON file download (no server round trip, nothing third-party). */
function saveJson(name, value) {
  const url = URL.createObjectURL(new Blob([`${JSON.stringify(value, null, 2)}\n`], { type: 'application/json' }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
