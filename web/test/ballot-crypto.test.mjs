// The JavaScript side of the shared test vectors (ballot-crypto/vectors/): JS reproduces the
// exact bytes Rust made from the same seeded randomness, verifies Rust-made proofs and boards,
// refuses every bad input with the same error code, and writes its own vectors (js-made.json)
// that the Rust test `javascript_made_vectors_verify_in_rust` verifies.
// Run: node --test web/test/   (PLENUM_WRITE_VECTORS=1 rewrites js-made.json)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import * as bc from '../ballot-crypto.js';

const dir = new URL('../../ballot-crypto/vectors/', import.meta.url);
const load = (name) => JSON.parse(readFileSync(new URL(name, dir), 'utf8'));
const seed = (n) => new Uint8Array(32).fill(n);
const codeOf = (f) => {
  try {
    f();
  } catch (e) {
    return e.code ?? `threw ${e.message}`;
  }
  return null;
};

// ---- the seeded election of ballot-crypto/tests/common.rs, step for step --------------------

const questions = () => [
  {
    text: 'Motion A1: adopt the agenda?',
    options: [['yes', 1], ['no', 1], ['abstain', 1]].map(([label, coefficient]) => ({ label, coefficient })),
    min: 1,
    max: 1,
  },
  {
    text: 'Board election: choose up to 2',
    options: [['Ada', 1], ['Ben', 1], ['Cem', 1], ['no to all', 2]].map(([label, coefficient]) => ({ label, coefficient })),
    min: 1,
    max: 2,
  },
];
const roll = () => [
  { holder: 'alice', proxy: null, weight: 1 },
  { holder: 'bob', proxy: null, weight: 1 },
  { holder: 'carol', proxy: null, weight: 3 },
  { holder: 'dave', proxy: 'erin', weight: 1 },
  { holder: 'erin', proxy: null, weight: 1 },
];
const b = (v) => v.map((x) => x === 1);
const votes = () => [
  ['alice', 1, [b([1, 0, 0]), b([1, 1, 0, 0])]],
  ['bob', 1, [b([0, 1, 0]), b([0, 0, 0, 1])]],
  ['carol', 3, [b([1, 0, 0]), b([1, 0, 1, 0])]],
  ['dave', 1, [b([0, 0, 1]), b([0, 1, 0, 0])]],
  ['erin', 1, [b([1, 0, 0]), b([0, 1, 1, 0])]],
];

function runDkg(id, t, n, rng) {
  const keys = [];
  const members = [];
  for (let i = 1; i <= n; i++) {
    const k = bc.dkgKeyGenerate(id, t, i, `member ${i}`, rng);
    keys.push(k.secret);
    members.push(k.member);
  }
  const committee = bc.committeeOf(id, t, members);
  const dealt = keys.map((k) => bc.deal(committee, k, rng));
  const transcript = { id, threshold: t, members, dealings: dealt.map((d) => d.dealing), complaints: [], answers: [] };
  for (const d of transcript.dealings) {
    for (const k of keys) {
      if (k.index !== d.dealer && codeOf(() => bc.openShare(committee, k, d)) === 'bad_share') {
        transcript.complaints.push({ complainer: k.index, dealer: d.dealer });
      }
    }
  }
  for (const c of transcript.complaints) transcript.answers.push(bc.answerComplaint(dealt[c.dealer - 1].secret, c));
  return { transcript, keys, dealers: dealt.map((d) => d.secret) };
}

function election(seedByte) {
  const rng = bc.seededRng(seed(seedByte));
  const dkg = runDkg('LPT 2025', 2, 3, rng);
  const entries = [];
  let head = bc.hex(new Uint8Array(32));
  const append = (entry) => {
    head = bc.chainHash(head, entry);
    entries.push({ hash: head, entry });
  };
  const outcome = bc.qualify(dkg.transcript);
  const header = {
    poll_id: 'poll-7',
    questions: questions(),
    roll_hash: bc.rollHash(roll()),
    committee: dkg.transcript,
    election_key: bc.encodePoint(outcome.electionKey),
  };
  const poll = bc.verifyPoll(header);
  append({ kind: 'header', ...header });
  const expected = [[0, 0, 0], [0, 0, 0, 0]];
  for (const [, weight, choices] of votes()) {
    const cred = bc.credentialGenerate(rng);
    append({ kind: 'registration', credential: cred.publicKey, weight });
    const { ballot } = bc.encryptBallot(poll, cred, choices, rng);
    append({ kind: 'ballot', ...ballot });
    choices.forEach((cs, q) => cs.forEach((c, o) => (expected[q][o] += c ? weight : 0)));
  }
  append({ kind: 'closed', rejected_ballots: 0, participation: votes().map((v) => v[0]).sort() });
  // The tally from the board as a verifier computes it.
  const partial = bc.verifyBoard({ format: bc.FORMAT, roll: roll(), entries: [...entries] });
  const sums = sumBallots(poll, entries);
  append({ kind: 'tally', ciphertexts: sums.map((q) => q.map((c) => ({ alpha: bc.encodePoint(c.alpha), beta: bc.encodePoint(c.beta) }))) });
  const tallyCts = bc.decodeTally(poll, entries.at(-1).entry);
  const rng2 = bc.seededRng(seed(seedByte + 100));
  const factors = new Map();
  for (const m of [1, 3]) {
    const share = bc.trusteeShare(dkg.transcript, dkg.keys[m - 1], dkg.dealers[m - 1]);
    const pd = bc.partialDecrypt(poll, tallyCts, share, rng2);
    factors.set(m, bc.verifyPartialDecryption(poll, tallyCts, pd));
    append({ kind: 'partial_decryption', ...pd });
  }
  const counts = bc.discreteLogs(bc.decryptPoints(poll, tallyCts, factors), partial.weight_cast);
  append({ kind: 'result', counts });
  return { board: { format: bc.FORMAT, roll: roll(), entries }, poll, expected, dkg };
}

function sumBallots(poll, entries) {
  const weights = new Map();
  const sums = poll.header.questions.map((q) => q.options.map(() => null));
  for (const { entry } of entries) {
    if (entry.kind === 'registration') weights.set(entry.credential, entry.weight);
    if (entry.kind !== 'ballot') continue;
    const { kind: _kind, ...ballot } = entry;
    const { ciphertexts } = bc.verifyBallot(poll, ballot);
    const w = BigInt(weights.get(entry.credential));
    ciphertexts.forEach((cts, q) =>
      cts.forEach((c, o) => {
        const scaled = { alpha: c.alpha.multiplyUnsafe(w), beta: c.beta.multiplyUnsafe(w) };
        sums[q][o] = sums[q][o] ? { alpha: sums[q][o].alpha.add(scaled.alpha), beta: sums[q][o].beta.add(scaled.beta) } : scaled;
      }),
    );
  }
  return sums;
}

// ---- tests ----------------------------------------------------------------------------------

test('primitives: the seeded RNG, the canonical writer, hash to scalar, encodings', () => {
  const v = load('primitives.json');
  assert.equal(bc.hex(bc.seededRng(v.rng.seed)(160)), v.rng.first_160_bytes);
  const r = bc.seededRng(v.rng.seed);
  assert.equal(bc.hex(r(64)) + bc.hex(r(32)) + bc.hex(r(64)), v.rng.first_160_bytes);
  const G = bc.decodePoint(v.points[0].hex);
  const w = new bc.Writer('test').u32(7).u64(2n ** 40n).str('Grüße').optStr(null).optStr('x').point(G).bytes(new Uint8Array([1, 2, 3]));
  assert.equal(bc.hex(w.toBytes()), v.writer.bytes);
  assert.equal(bc.hex(w.sha256()), v.writer.sha256);
  assert.equal(bc.encodeScalar(w.challenge()), v.writer.challenge);
  for (const s of v.scalars) assert.equal(codeOf(() => bc.decodeScalar(s.hex)), s.error, s.name);
  for (const p of v.points) {
    assert.equal(codeOf(() => bc.decodePoint(p.hex, 'test', false)), p.error_identity_forbidden, p.name);
    assert.equal(codeOf(() => bc.decodePoint(p.hex, 'test', true)), p.error_identity_allowed, p.name);
  }
  assert.equal(codeOf(() => bc.decodePoint(v.points[0].hex.toUpperCase())), 'malformed');
});

test('the Rust-made election: JS reproduces every entry byte for byte and verifies the board', () => {
  const v = load('election.json');
  const summary = bc.verifyBoard(v.board);
  assert.equal(summary.phase, 'published');
  assert.deepEqual(summary.result.counts, v.expected_counts);
  assert.deepEqual(summary.decrypted_by, [1, 3]);
  const js = election(v.seed);
  assert.deepEqual(js.expected, v.expected_counts);
  assert.equal(js.board.entries.length, v.board.entries.length);
  js.board.entries.forEach((e, i) => {
    assert.deepEqual(e.entry, v.board.entries[i].entry, `entry ${i} (${e.entry.kind})`);
    assert.equal(e.hash, v.board.entries[i].hash, `hash of entry ${i}`);
  });
  // The voter's check: each tracker is on the board.
  for (const e of v.board.entries.filter((e) => e.entry.kind === 'ballot')) {
    assert.ok(bc.findTracker(v.board, bc.tracker(e.entry)) > 0);
  }
  assert.equal(bc.findTracker(v.board, '00'.repeat(32)), -1);
});

test('bad inputs: every Rust-made bad ballot and board is refused with the same code', () => {
  const v = load('bad-inputs.json');
  const poll = bc.verifyPoll(v.header);
  assert.deepEqual(bc.auditBallot(poll, v.audit.ballot, v.audit.opening), v.audit.choices);
  assert.equal(codeOf(() => bc.verifyBallot(poll, v.audit.ballot)), 'bad_signature', 'a spoiled ballot cannot be cast');
  for (const c of v.ballots) assert.equal(codeOf(() => bc.verifyBallot(poll, c.ballot)), c.error, c.name);
  // Unknown or missing fields are refused as Rust's serde refuses them.
  assert.equal(codeOf(() => bc.verifyBallot(poll, { ...v.audit.ballot, extra: 1 })), 'malformed');
  const noProof = structuredClone(v.audit.ballot);
  delete noProof.questions[0].sum_proof;
  assert.equal(codeOf(() => bc.verifyBallot(poll, noProof)), 'malformed');
  for (const c of v.boards) {
    let err = null;
    try {
      bc.verifyBoard(c.board);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof bc.BoardError, c.name);
    assert.deepEqual([err.index, err.code], [c.index, c.error], c.name);
  }
});

test('DKG: a bad share draws a complaint, a good answer keeps the dealer, none disqualifies it', () => {
  const rng = bc.seededRng(seed(11));
  const keys = [1, 2, 3].map((i) => bc.dkgKeyGenerate('c', 2, i, `m${i}`, rng));
  const committee = bc.committeeOf('c', 2, keys.map((k) => k.member));
  const dealt = keys.map((k) => bc.deal(committee, k.secret, rng));
  const d1 = structuredClone(dealt[0].dealing);
  d1.shares[0].ciphertext = d1.shares[1].ciphertext; // member 2 gets member 3's ciphertext
  assert.equal(codeOf(() => bc.openShare(committee, keys[1].secret, d1)), 'bad_share');
  assert.equal(codeOf(() => bc.openShare(committee, keys[2].secret, d1)), null);
  const transcript = { id: 'c', threshold: 2, members: keys.map((k) => k.member), dealings: [d1, dealt[1].dealing, dealt[2].dealing], complaints: [{ complainer: 2, dealer: 1 }], answers: [] };
  assert.deepEqual(bc.qualify(transcript).qualified, [2, 3]);
  transcript.answers.push(bc.answerComplaint(dealt[0].secret, transcript.complaints[0]));
  assert.deepEqual(bc.qualify(transcript).qualified, [1, 2, 3]);
  const share2 = bc.trusteeShare(transcript, keys[1].secret, dealt[1].secret);
  assert.equal(share2.member, 2);
  transcript.answers[0] = { ...transcript.answers[0], share: bc.encodeScalar(5n) };
  assert.deepEqual(bc.qualify(transcript).qualified, [2, 3]);
  transcript.dealings = [d1];
  transcript.complaints = [];
  transcript.answers = [];
  assert.equal(codeOf(() => bc.qualify(transcript)), 'committee_too_small');
  const forged = structuredClone(dealt[1].dealing);
  forged.proof.z = bc.encodeScalar(1n);
  assert.equal(codeOf(() => bc.verifyDealing(committee, forged)), 'bad_dealing_proof');
});

test('JS-made vectors for Rust: an election, a Benaloh audit, bad ballots', () => {
  const seedByte = 2;
  const { board, expected, poll } = election(seedByte);
  assert.deepEqual(bc.verifyBoard(board).result.counts, expected);
  const rng = bc.seededRng(seed(33));
  const cred = bc.credentialGenerate(rng);
  const choices = [b([0, 1, 0]), b([0, 0, 0, 1])];
  const encrypted = bc.encryptBallot(poll, cred, choices, rng);
  const { ballot, opening } = bc.spoilBallot(encrypted);
  assert.deepEqual(bc.auditBallot(poll, ballot, opening), choices);
  assert.equal(codeOf(() => bc.verifyBallot(poll, ballot)), 'bad_signature');
  const lie = structuredClone(opening);
  lie.questions[1][3].value = 0;
  assert.equal(codeOf(() => bc.auditBallot(poll, ballot, lie)), 'bad_opening');
  // Bad ballots made by JS: a cheating voter re-proves nothing but signs whatever it sends.
  const bad = [];
  const variant = (name, error, change) => {
    const x = structuredClone(encrypted.ballot);
    change(x);
    x.signature = bc.hex(signWith(poll, cred, x));
    assert.equal(codeOf(() => bc.verifyBallot(poll, x)), error, name);
    bad.push({ name, ballot: x, error });
  };
  variant('a two in an option (re-encrypted, old proof)', 'bad_option_proof', (x) => {
    x.questions[0].options[0].ciphertext = reencrypt(poll, 2n);
  });
  variant('bounds exceeded: no to all and a candidate', 'bad_sum_proof', (x) => {
    // Take option 0 of another honest ballot of this credential that chose Ada: its proofs are
    // valid on their own, but the sum (1 + 2) is above max = 2.
    const other = bc.encryptBallot(poll, cred, [b([0, 1, 0]), b([1, 0, 0, 0])], bc.seededRng(seed(34))).ballot;
    x.questions[1].options[0] = other.questions[1].options[0];
  });
  variant('another poll', 'wrong_poll', (x) => (x.poll_id = 'poll-8'));
  variant('a response not canonical', 'non_canonical_scalar', (x) => (x.questions[0].sum_proof[0].z = 'ff'.repeat(32)));
  const out = { seed: seedByte, expected_counts: expected, board, audit: { ballot, opening, choices }, bad_ballots: bad };
  const text = JSON.stringify(out, null, 2) + '\n';
  const path = new URL('js-made.json', dir);
  if (process.env.PLENUM_WRITE_VECTORS || !existsSync(path)) writeFileSync(path, text);
  else assert.equal(readFileSync(path, 'utf8'), text, 'js-made.json is stale: PLENUM_WRITE_VECTORS=1 node --test web/test/');
});

function reencrypt(poll, m) {
  const r = 12345n;
  const G = bc.decodePoint(bc.encodePoint(poll.H)).constructor.BASE;
  return { alpha: bc.encodePoint(G.multiply(r)), beta: bc.encodePoint(G.multiply(m).add(poll.H.multiply(r))) };
}

function signWith(poll, cred, ballot) {
  return bc.signBallot(poll, cred, ballot);
}
