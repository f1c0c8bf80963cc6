// Verifiable secret ballots in the browser: the JavaScript twin of the Rust crate
// plenum-ballot-crypto (ballot-crypto/). Same wire format byte for byte (docs/ballot.md,
// "Verifiable ballots: wire format"), checked by shared test vectors in both languages
// (web/test/ballot-crypto.test.mjs, ballot-crypto/tests/vectors.rs).
//
// What a browser does with it:
// - a voter: credentialGenerate() per right, encryptBallot() (ballot + Benaloh opening),
//   tracker(), findTracker() on the board; or, instead of casting, spoilBallot() and
//   auditBallot() on another device (Benaloh);
// - a committee member: dkgKeyGenerate(), deal(), openShare() (complaint on failure),
//   answerComplaint(), trusteeShare(), partialDecrypt();
// - anyone: verifyBallot(), verifyPartialDecryption(), verifyBoard().
//
// Primitives come only from the vendored @noble libraries (web/vendor/noble/). Scalars are
// BigInts mod ℓ; points are ristretto255 points. Refusals throw BallotCryptoError whose `code`
// is the Rust Error::code() of the same refusal. Randomness: every function that needs it takes
// `rng(n) -> Uint8Array` (default: crypto.getRandomValues); seededRng(seed) reproduces Rust's
// rand_chacha ChaCha20Rng so that tests get the same bytes in both languages.
// JavaScript BigInt arithmetic is not constant time; the browser is trusted (docs/ballot.md).

import { ristretto255, ed25519 } from './vendor/noble/curves/ed25519.js';
import { sha256, sha512 } from './vendor/noble/hashes/sha2.js';
import { hkdf } from './vendor/noble/hashes/hkdf.js';
import { chacha20, chacha20poly1305 } from './vendor/noble/ciphers/chacha.js';

const Point = ristretto255.Point;
const G = Point.BASE;
/** ℓ, the order of ristretto255. */
export const L = Point.Fn.ORDER;
const DOMAIN = 'plenum-ballot/v1/';
export const SUM_INDEX = 0xffffffff;
export const FORMAT = 'plenum-board/v1';
const MAX_MEMBERS = 32;
const MAX_TEXT = 1024;
const MAX_QUESTIONS = 128;
const MAX_OPTIONS = 128;
const MAX_COEFFICIENT = 1024;
const MAX_RANGE = 256;
const MAX_RIGHTS = 100000;
const MAX_WEIGHT = 2 ** 20;
const MAX_TOTAL_WEIGHT = 2 ** 32;
const utf8 = new TextEncoder();

/** A refusal, with the same `code` as the Rust side's Error::code(). */
export class BallotCryptoError extends Error {
  constructor(code, message) {
    super(message ? `${code}: ${message}` : code);
    this.code = code;
  }
}
const fail = (code, message) => {
  throw new BallotCryptoError(code, message);
};

/** The first failing item of a board: its index and kind, and the error. */
export class BoardError extends Error {
  constructor(index, kind, error) {
    super(index === null ? `${kind}: ${error.message}` : `entry ${index} (${kind}): ${error.message}`);
    this.index = index;
    this.kind = kind;
    this.code = error.code;
    this.error = error;
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes, scalars, points

const mod = (a) => ((a % L) + L) % L;

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Lowercase hex only, optionally of an exact length in bytes. */
export function unhex(s, len) {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) {
    fail('malformed', 'expected lowercase hex');
  }
  if (len !== undefined && s.length !== 2 * len) fail('malformed', `expected ${len} bytes`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function leToBig(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

function bigToLe32(n) {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export function encodeScalar(s) {
  return hex(bigToLe32(mod(s)));
}

/** 32 bytes little endian, refused unless < ℓ. */
export function decodeScalar(h, field = 'scalar') {
  const s = leToBig(unhex(h, 32));
  if (s >= L) fail('non_canonical_scalar', field);
  return s;
}

export function encodePoint(p) {
  return hex(p.toBytes());
}

/** 32-byte canonical ristretto255 encoding; the identity refused unless `identityAllowed`. */
export function decodePoint(h, field = 'point', identityAllowed = false) {
  const bytes = unhex(h, 32);
  let p;
  try {
    p = Point.fromBytes(bytes);
  } catch {
    fail('invalid_point', field);
  }
  if (!identityAllowed && p.equals(Point.ZERO)) fail('identity_point', field);
  return p;
}

/** s·P for a secret s (noble's constant-time ladder; 0 gives the identity). */
const mulSecret = (p, s) => (mod(s) === 0n ? Point.ZERO : p.multiply(mod(s)));
/** s·P for public s (variable time). */
const mulPublic = (p, s) => p.multiplyUnsafe(mod(s));
const baseMul = (s) => mulSecret(G, s);

/** The canonical writer: the same bytes as the Rust `encoding::Writer`. */
export class Writer {
  constructor(purpose) {
    this.parts = [];
    this.str(DOMAIN + purpose);
  }
  u32(v) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.parts.push(b);
    return this;
  }
  u64(v) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.parts.push(b);
    return this;
  }
  len(n) {
    return this.u32(n);
  }
  str(s) {
    return this.bytes(utf8.encode(s));
  }
  bytes(b) {
    this.u32(b.length);
    this.parts.push(b);
    return this;
  }
  raw(b) {
    this.parts.push(typeof b === 'string' ? unhex(b) : b);
    return this;
  }
  point(p) {
    this.parts.push(p.toBytes());
    return this;
  }
  optStr(s) {
    if (s === null || s === undefined) return this.raw(new Uint8Array([0]));
    return this.raw(new Uint8Array([1])).str(s);
  }
  toBytes() {
    return concat(...this.parts);
  }
  sha256() {
    return sha256(this.toBytes());
  }
  /** SHA-512, read little endian, reduced mod ℓ. */
  challenge() {
    return mod(leToBig(sha512(this.toBytes())));
  }
}

/** The browser's RNG. */
export const defaultRng = (n) => crypto.getRandomValues(new Uint8Array(n));

/** Rust's rand_chacha ChaCha20Rng::from_seed(seed) byte stream (ChaCha20, nonce 0, from
 * block 0); for tests and vectors only. */
export function seededRng(seed) {
  const key = typeof seed === 'string' ? unhex(seed, 32) : seed;
  let stream = new Uint8Array(0);
  let pos = 0;
  return (n) => {
    if (pos + n > stream.length) {
      stream = chacha20(key, new Uint8Array(12), new Uint8Array(Math.max(4096, 2 * (pos + n))));
    }
    const out = stream.slice(pos, pos + n);
    pos += n;
    return out;
  };
}

/** A uniform scalar: 64 bytes reduced mod ℓ. */
export function randomScalar(rng = defaultRng) {
  return mod(leToBig(rng(64)));
}

const u32 = (x) => x >>> 0;

/** Like Rust's serde(deny_unknown_fields) on the same types: exactly these keys (an optional
 * key may be absent), or 'malformed'. */
function shape(obj, keys, optional = [], what = 'object') {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) fail('malformed', `${what}: expected an object`);
  for (const k of Object.keys(obj)) {
    if (!keys.includes(k) && !optional.includes(k)) fail('malformed', `${what}: unknown field ${k}`);
  }
  for (const k of keys) if (!(k in obj)) fail('malformed', `${what}: missing field ${k}`);
}

/** The JSON shape of a ballot (not its cryptography). */
function ballotShape(b) {
  shape(b, ['poll_id', 'credential', 'questions', 'signature'], [], 'ballot');
  if (!Array.isArray(b.questions)) fail('malformed', 'ballot: questions');
  for (const q of b.questions) {
    shape(q, ['options', 'sum_proof'], [], 'ballot question');
    if (!Array.isArray(q.options) || !Array.isArray(q.sum_proof)) fail('malformed', 'ballot question');
    for (const o of q.options) {
      shape(o, ['ciphertext', 'proof'], [], 'ballot option');
      shape(o.ciphertext, ['alpha', 'beta'], [], 'ciphertext');
      if (!Array.isArray(o.proof)) fail('malformed', 'ballot option: proof');
      o.proof.forEach((p) => shape(p, ['c', 'z'], [], 'proof'));
    }
    q.sum_proof.forEach((p) => shape(p, ['c', 'z'], [], 'proof'));
  }
}

// ---------------------------------------------------------------------------------------------
// Proofs

/** Disjunctive proof that ct = (α, β) encrypts m ∈ lo..=hi under H. `w` holds the statement. */
export function proveRange(w, H, ct, m, r, lo, hi, rng = defaultRng) {
  if (lo > hi || m < lo || m > hi) fail('bounds', `value not within ${lo}..=${hi}`);
  const cs = [];
  const zs = [];
  for (let k = lo; k <= hi; k++) {
    const real = k === m;
    const c = randomScalar(rng);
    const z = randomScalar(rng);
    // Every branch does the same multiplications; the true one (c = 0) drops c·α and
    // c·(β − k·G) by selection afterwards, so its timing does not stand out.
    const shifted = ct.beta.subtract(mulPublic(G, BigInt(k)));
    const cAlpha = mulSecret(ct.alpha, c);
    const cShifted = mulSecret(shifted, c);
    const a = baseMul(z).subtract(real ? Point.ZERO : cAlpha);
    const b = mulSecret(H, z).subtract(real ? Point.ZERO : cShifted);
    w.point(a).point(b);
    cs.push(real ? 0n : c);
    zs.push(z);
  }
  const cReal = mod(cs.reduce((acc, c) => acc - c, w.challenge()));
  return cs.map((c, i) => {
    const real = lo + i === m;
    return {
      c: encodeScalar(real ? cReal : c),
      z: encodeScalar(real ? zs[i] + cReal * r : zs[i]),
    };
  });
}

export function verifyRange(w, H, ct, lo, hi, proof) {
  if (!Array.isArray(proof) || lo > hi || proof.length !== hi - lo + 1) return false;
  let sum = 0n;
  for (let k = lo; k <= hi; k++) {
    const br = proof[k - lo];
    const c = decodeScalar(br.c, 'proof challenge');
    const z = decodeScalar(br.z, 'proof response');
    const a = mulPublic(G, z).subtract(mulPublic(ct.alpha, c));
    const b = mulPublic(H, z).subtract(mulPublic(ct.beta, c)).add(mulPublic(G, mod(c * BigInt(k))));
    w.point(a).point(b);
    sum += c;
  }
  return mod(sum) === w.challenge();
}

export function proveSchnorr(w, x, rng = defaultRng) {
  const k = randomScalar(rng);
  w.point(baseMul(k));
  const c = w.challenge();
  return { c: encodeScalar(c), z: encodeScalar(k + c * x) };
}

export function verifySchnorr(w, X, proof) {
  const c = decodeScalar(proof.c, 'proof challenge');
  const z = decodeScalar(proof.z, 'proof response');
  w.point(mulPublic(G, z).subtract(mulPublic(X, c)));
  return c === w.challenge();
}

export function proveDleq(w, x, A, rng = defaultRng) {
  const k = randomScalar(rng);
  w.point(baseMul(k)).point(mulSecret(A, k));
  const c = w.challenge();
  return { c: encodeScalar(c), z: encodeScalar(k + c * x) };
}

export function verifyDleq(w, X, A, D, proof) {
  const c = decodeScalar(proof.c, 'proof challenge');
  const z = decodeScalar(proof.z, 'proof response');
  const a = mulPublic(G, z).subtract(mulPublic(X, c));
  const b = mulPublic(A, z).subtract(mulPublic(D, c));
  w.point(a).point(b);
  return c === w.challenge();
}

// ---------------------------------------------------------------------------------------------
// ElGamal

/** Enc_H(m; r) for m ∈ {0, 1} (the secret m only selects which point is added). */
function encrypt(H, m, r) {
  return { alpha: baseMul(r), beta: mulSecret(H, r).add(m === 1 ? G : Point.ZERO) };
}
const ctZero = () => ({ alpha: Point.ZERO, beta: Point.ZERO });
const ctAdd = (a, b) => ({ alpha: a.alpha.add(b.alpha), beta: a.beta.add(b.beta) });
const ctScale = (a, w) => ({ alpha: mulPublic(a.alpha, BigInt(w)), beta: mulPublic(a.beta, BigInt(w)) });
const ctEncode = (c) => ({ alpha: encodePoint(c.alpha), beta: encodePoint(c.beta) });
const ctDecode = (c, alphaIdentityAllowed) => ({
  alpha: decodePoint(c.alpha, 'ciphertext alpha', alphaIdentityAllowed),
  beta: decodePoint(c.beta, 'ciphertext beta', true),
});
const ctEquals = (a, b) => a.alpha.equals(b.alpha) && a.beta.equals(b.beta);

// ---------------------------------------------------------------------------------------------
// Poll, roll

function writeQuestion(w, q) {
  w.str(q.text).len(q.options.length);
  for (const o of q.options) w.str(o.label).u32(o.coefficient);
  w.u32(q.min).u32(q.max);
}

function checkQuestion(q, i) {
  const bad = (m) => fail('invalid_poll', `question ${i}: ${m}`);
  if (utf8.encode(q.text).length > MAX_TEXT) bad('text too long');
  if (!Array.isArray(q.options) || q.options.length === 0 || q.options.length > MAX_OPTIONS) bad('options');
  let total = 0;
  for (const o of q.options) {
    if (utf8.encode(o.label).length > MAX_TEXT) bad('option label too long');
    if (!Number.isInteger(o.coefficient) || o.coefficient < 1 || o.coefficient > MAX_COEFFICIENT) bad('coefficient');
    total += o.coefficient;
  }
  if (!(q.min <= q.max && q.max <= total)) bad('needs min ≤ max ≤ the sum of the coefficients');
  if (q.max - q.min >= MAX_RANGE) bad('range too large');
}

/** SHA-256 of the roll's canonical bytes (hex). */
export function rollHash(roll) {
  const w = new Writer('roll');
  w.len(roll.length);
  for (const r of roll) w.str(r.holder).optStr(r.proxy).u64(r.weight);
  return hex(w.sha256());
}

function compareBytes(a, b) {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

export function checkRoll(roll) {
  if (!Array.isArray(roll) || roll.length === 0 || roll.length > MAX_RIGHTS) fail('invalid_roll', 'size');
  let total = 0;
  roll.forEach((r, i) => {
    if (!Number.isInteger(r.weight) || r.weight < 1 || r.weight > MAX_WEIGHT) fail('invalid_roll', `right ${i}: weight`);
    if (utf8.encode(r.holder).length > MAX_TEXT || (r.proxy != null && utf8.encode(r.proxy).length > MAX_TEXT)) {
      fail('invalid_roll', `right ${i}: name too long`);
    }
    if (i > 0 && compareBytes(roll[i - 1].holder, r.holder) >= 0) fail('invalid_roll', `right ${i}: order`);
    total += r.weight;
  });
  if (total > MAX_TOTAL_WEIGHT) fail('invalid_roll', 'total weight too large');
}

export function headerBytes(h) {
  const w = new Writer('entry/header');
  w.str(h.poll_id).len(h.questions.length);
  for (const q of h.questions) writeQuestion(w, q);
  w.raw(unhex(h.roll_hash, 32));
  writeTranscript(w, h.committee);
  w.raw(unhex(h.election_key, 32));
  return w.toBytes();
}

/** Check a header (questions, the whole DKG, the election key); returns the poll object every
 * other function takes: { header, context (bytes), H, outcome }. */
export function verifyPoll(header) {
  if (!header.poll_id || utf8.encode(header.poll_id).length > MAX_TEXT) fail('invalid_poll', 'poll id');
  if (!Array.isArray(header.questions) || header.questions.length === 0 || header.questions.length > MAX_QUESTIONS) {
    fail('invalid_poll', 'questions');
  }
  header.questions.forEach(checkQuestion);
  const H = decodePoint(header.election_key, 'election key');
  const outcome = qualify(header.committee);
  if (!outcome.electionKey.equals(H)) fail('election_key_mismatch');
  return { header, context: sha256(headerBytes(header)), H, outcome };
}

// ---------------------------------------------------------------------------------------------
// DKG

function keyProofWriter(id, t, index, label, key) {
  return new Writer('proof/dkg-key').str(id).u32(t).u32(index).str(label).point(key);
}

function writeCommitments(w, commitments) {
  w.len(commitments.length);
  for (const c of commitments) w.raw(unhex(c, 32));
}

function constantProofWriter(digest, dealer, commitments) {
  const w = new Writer('proof/dkg-constant').raw(digest).u32(dealer);
  writeCommitments(w, commitments);
  return w;
}

/** Round 1: an ephemeral DKG key and its proof. Keep `secret`; publish `member`. */
export function dkgKeyGenerate(committeeId, threshold, index, label, rng = defaultRng) {
  const secret = randomScalar(rng);
  const key = baseMul(secret);
  const proof = proveSchnorr(keyProofWriter(committeeId, threshold, index, label, key), secret, rng);
  return { secret: { index, secret }, member: { index, label, key: encodePoint(key), proof } };
}

/** Check round 1: returns { id, threshold, keys: Map(index → point), digest }. */
export function committeeOf(id, threshold, members) {
  const n = members.length;
  if (!id || utf8.encode(id).length > MAX_TEXT) fail('invalid_committee', 'id');
  if (n === 0 || n > MAX_MEMBERS || threshold < 1 || threshold > n) fail('invalid_committee', 't and n');
  const keys = new Map();
  const w = new Writer('committee').str(id).u32(threshold).u32(n);
  members.forEach((m, pos) => {
    if (m.index !== pos + 1) fail('invalid_committee', 'indices must be 1..=n in order');
    if (utf8.encode(m.label).length > MAX_TEXT) fail('invalid_committee', 'label too long');
    const key = decodePoint(m.key, 'DKG key');
    if (!verifySchnorr(keyProofWriter(id, threshold, m.index, m.label, key), key, m.proof)) {
      fail('bad_key_proof', `member ${m.index}`);
    }
    w.u32(m.index).str(m.label).point(key);
    keys.set(m.index, key);
  });
  return { id, threshold, keys, digest: w.sha256() };
}

/** Check a dealing's public part; returns its commitments as points. */
export function verifyDealing(committee, d) {
  const bad = (r) => fail('bad_dealing', `dealer ${d.dealer}: ${r}`);
  if (!committee.keys.has(d.dealer)) bad('not a member');
  if (d.commitments.length !== committee.threshold) bad('needs exactly t commitments');
  const cs = d.commitments.map((c, k) => decodePoint(c, 'Feldman commitment', k > 0));
  if (!verifySchnorr(constantProofWriter(committee.digest, d.dealer, d.commitments), cs[0], d.proof)) {
    fail('bad_dealing_proof', `dealer ${d.dealer}`);
  }
  const expected = [...committee.keys.keys()].filter((i) => i !== d.dealer);
  const got = d.shares.map((s) => s.recipient);
  if (expected.length !== got.length || expected.some((v, i) => v !== got[i])) bad('recipients');
  if (d.shares.some((s) => s.ciphertext.length !== 96)) bad('an encrypted share is not 48 bytes');
  return cs;
}

function shareKey(committee, dh, dealer, recipient, commitments) {
  const info = new Writer('dkg-share').u32(dealer).u32(recipient);
  writeCommitments(info, commitments);
  return hkdf(sha256, dh.toBytes(), committee.digest, info.toBytes(), 32);
}

const evalPoly = (coefficients, i) => coefficients.reduceRight((acc, a) => mod(acc * BigInt(i) + a), 0n);

/** Round 2: returns { dealing (publish), secret (keep until complaints are answered) }. */
export function deal(committee, me, rng = defaultRng) {
  if (!committee.keys.has(me.index)) fail('invalid_committee', 'the dealer is not a member');
  const coefficients = [];
  for (let k = 0; k < committee.threshold; k++) coefficients.push(randomScalar(rng));
  const commitments = coefficients.map((a) => encodePoint(baseMul(a)));
  const proof = proveSchnorr(constantProofWriter(committee.digest, me.index, commitments), coefficients[0], rng);
  const shares = [];
  for (const [i, key] of committee.keys) {
    if (i === me.index) continue;
    const k = shareKey(committee, mulSecret(key, me.secret), me.index, i, commitments);
    const ct = chacha20poly1305(k, new Uint8Array(12)).encrypt(bigToLe32(evalPoly(coefficients, i)));
    shares.push({ recipient: i, ciphertext: hex(ct) });
  }
  return {
    dealing: { dealer: me.index, commitments, proof, shares },
    secret: { dealer: me.index, coefficients },
  };
}

function feldmanEval(commitments, i) {
  let acc = Point.ZERO;
  let p = 1n;
  for (const c of commitments) {
    acc = acc.add(mulPublic(c, p));
    p = mod(p * BigInt(i));
  }
  return acc;
}

/** Round 3: decrypt and check dealer's share for `me`. Throws code 'bad_share' → publish
 * { complainer: me.index, dealer }. */
export function openShare(committee, me, dealing) {
  const cs = verifyDealing(committee, dealing);
  const bad = () => fail('bad_share', `dealer ${dealing.dealer} → member ${me.index}`);
  const enc = dealing.shares.find((s) => s.recipient === me.index);
  if (!enc) bad();
  const k = shareKey(committee, mulSecret(committee.keys.get(dealing.dealer), me.secret), dealing.dealer, me.index, dealing.commitments);
  let plain;
  try {
    plain = chacha20poly1305(k, new Uint8Array(12)).decrypt(unhex(enc.ciphertext));
  } catch {
    bad();
  }
  const s = leToBig(plain);
  if (s >= L || !baseMul(s).equals(feldmanEval(cs, me.index))) bad();
  return s;
}

/** Round 4: reveal the complainer's share. */
export function answerComplaint(secret, complaint) {
  if (complaint.dealer !== secret.dealer || complaint.complainer === secret.dealer) {
    fail('bad_complaint', 'the complaint is about another dealer');
  }
  return {
    dealer: secret.dealer,
    complainer: complaint.complainer,
    share: encodeScalar(evalPoly(secret.coefficients, complaint.complainer)),
  };
}

function writeTranscript(w, t) {
  w.str(t.id).u32(t.threshold).len(t.members.length);
  for (const m of t.members) w.u32(m.index).str(m.label).raw(m.key).raw(m.proof.c).raw(m.proof.z);
  w.len(t.dealings.length);
  for (const d of t.dealings) {
    w.u32(d.dealer);
    writeCommitments(w, d.commitments);
    w.raw(d.proof.c).raw(d.proof.z).len(d.shares.length);
    for (const s of d.shares) w.u32(s.recipient).bytes(unhex(s.ciphertext));
  }
  w.len(t.complaints.length);
  for (const c of t.complaints) w.u32(c.complainer).u32(c.dealer);
  w.len(t.answers.length);
  for (const a of t.answers) w.u32(a.dealer).u32(a.complainer).raw(a.share);
}

const pairKey = (a, b) => a * 2 ** 32 + b;

/** The disqualification rule: returns { threshold, qualified, electionKey, verificationKeys }
 * or throws 'committee_too_small'. */
export function qualify(t) {
  const committee = committeeOf(t.id, t.threshold, t.members);
  const commitments = new Map();
  t.dealings.forEach((d, pos) => {
    if (pos > 0 && t.dealings[pos - 1].dealer >= d.dealer) fail('bad_dealing', 'dealings must be sorted');
    commitments.set(d.dealer, verifyDealing(committee, d));
  });
  const open = new Set();
  let last = -1;
  for (const c of t.complaints) {
    const k = pairKey(c.dealer, c.complainer);
    if (k <= last) fail('bad_complaint', 'complaints must be sorted, one each');
    last = k;
    if (!committee.keys.has(c.complainer) || c.complainer === c.dealer) fail('bad_complaint', 'complainer');
    if (!commitments.has(c.dealer)) fail('bad_complaint', 'no such dealing');
    open.add(k);
  }
  const disqualified = new Set();
  last = -1;
  for (const a of t.answers) {
    const k = pairKey(a.dealer, a.complainer);
    if (k <= last) fail('bad_complaint', 'answers must be sorted, one each');
    last = k;
    if (!open.delete(k)) fail('bad_complaint', 'answer without complaint');
    let ok = false;
    try {
      const s = decodeScalar(a.share, 'revealed share');
      ok = baseMul(s).equals(feldmanEval(commitments.get(a.dealer), a.complainer));
    } catch {
      ok = false;
    }
    if (!ok) disqualified.add(a.dealer);
  }
  for (const k of open) disqualified.add(Math.floor(k / 2 ** 32));
  const qualified = [...commitments.keys()].filter((j) => !disqualified.has(j));
  if (qualified.length < t.threshold) fail('committee_too_small', `${qualified.length} of ${t.threshold}`);
  const joint = Array.from({ length: t.threshold }, () => Point.ZERO);
  for (const j of qualified) commitments.get(j).forEach((c, k) => (joint[k] = joint[k].add(c)));
  if (joint[0].equals(Point.ZERO)) fail('identity_point', 'election key');
  const verificationKeys = new Map(qualified.map((i) => [i, feldmanEval(joint, i)]));
  return { threshold: t.threshold, qualified, electionKey: joint[0], verificationKeys, committee };
}

/** After the DKG: member `me`'s decryption share { member, secret }, checked against its
 * verification key. */
export function trusteeShare(transcript, me, own) {
  const outcome = qualify(transcript);
  const vk = outcome.verificationKeys.get(me.index);
  if (!vk) fail('bad_trustee', `member ${me.index} is not qualified`);
  let x = 0n;
  for (const j of outcome.qualified) {
    if (j === me.index) {
      x += evalPoly(own.coefficients, me.index);
      continue;
    }
    const a = transcript.answers.find((a) => a.dealer === j && a.complainer === me.index);
    if (a) {
      x += decodeScalar(a.share, 'revealed share');
      continue;
    }
    const d = transcript.dealings.find((d) => d.dealer === j);
    x += openShare(outcome.committee, me, d);
  }
  x = mod(x);
  if (!baseMul(x).equals(vk)) fail('share_mismatch', `member ${me.index}`);
  return { member: me.index, secret: x };
}

// ---------------------------------------------------------------------------------------------
// Credentials and ballots

/** A per-poll credential: { seed (keep, 32 bytes), publicKey (hex, register it) }. */
export function credentialGenerate(rng = defaultRng) {
  const seed = rng(32);
  return { seed, publicKey: hex(ed25519.getPublicKey(seed)) };
}

function checkCredential(h) {
  try {
    const p = ed25519.Point.fromBytes(unhex(h, 32));
    if (p.isSmallOrder()) throw new Error('small order');
  } catch (e) {
    if (e instanceof BallotCryptoError && e.code === 'malformed') throw e;
    fail('invalid_credential_key');
  }
}

function writeProof(w, proof) {
  w.len(proof.length);
  for (const b of proof) w.raw(b.c).raw(b.z);
}

export function ballotBodyBytes(b) {
  const w = new Writer('ballot').str(b.poll_id).raw(unhex(b.credential, 32)).len(b.questions.length);
  for (const q of b.questions) {
    w.len(q.options.length);
    for (const o of q.options) {
      w.raw(o.ciphertext.alpha).raw(o.ciphertext.beta);
      writeProof(w, o.proof);
    }
    writeProof(w, q.sum_proof);
  }
  return w.toBytes();
}

export function ballotBytes(b) {
  return concat(ballotBodyBytes(b), unhex(b.signature, 64));
}

function signedMessage(poll, b) {
  return new Writer('ballot-signature').raw(poll.context).raw(ballotBodyBytes(b)).toBytes();
}

/** What to reveal for a Benaloh audit instead of casting: the ballot with its signature
 * zeroed (so it can never be cast) and the opening. */
export function spoilBallot(encrypted) {
  return { ballot: { ...encrypted.ballot, signature: '00'.repeat(64) }, opening: encrypted.opening };
}

/** Ed25519 signature of the credential over the ballot (bytes); encryptBallot calls it. */
export function signBallot(poll, credential, ballot) {
  return ed25519.sign(signedMessage(poll, ballot), credential.seed);
}

/** The ballot's tracker (hex): SHA-256(tag ‖ canonical bytes). */
export function tracker(b) {
  return hex(new Writer('tracker').raw(ballotBytes(b)).sha256());
}

function rangeWriter(poll, credential, q, o, lo, hi, ct) {
  return new Writer('proof/range')
    .raw(poll.context)
    .raw(unhex(credential, 32))
    .point(poll.H)
    .u32(q)
    .u32(u32(o))
    .u32(lo)
    .u32(hi)
    .point(ct.alpha)
    .point(ct.beta);
}

function checkShape(poll, lens) {
  const qs = poll.header.questions;
  if (lens.length !== qs.length) fail('ballot_shape', `${qs.length} questions expected`);
  lens.forEach((n, q) => {
    if (n !== qs[q].options.length) fail('ballot_shape', `question ${q}: ${qs[q].options.length} options expected`);
  });
}

/** Encrypt `choices` (per question, per option: true/false) with every proof and sign it.
 * Returns { ballot (send it), opening (keep it only to audit a spoiled ballot), tracker }. */
export function encryptBallot(poll, credential, choices, rng = defaultRng) {
  checkShape(poll, choices.map((c) => c.length));
  const H = poll.H;
  const questions = [];
  const opening = [];
  poll.header.questions.forEach((question, qi) => {
    const chosen = choices[qi];
    const weighted = question.options.reduce((s, o, i) => s + (chosen[i] ? o.coefficient : 0), 0);
    if (weighted < question.min || weighted > question.max) {
      fail('bounds', `question ${qi}: the choices count ${weighted}, allowed ${question.min}..=${question.max}`);
    }
    const options = [];
    const op = [];
    let sum = ctZero();
    let sumR = 0n;
    question.options.forEach((option, oi) => {
      const m = chosen[oi] ? 1 : 0;
      const r = randomScalar(rng);
      const ct = encrypt(H, m, r);
      const proof = proveRange(rangeWriter(poll, credential.publicKey, qi, oi, 0, 1, ct), H, ct, m, r, 0, 1, rng);
      sum = ctAdd(sum, ctScale(ct, option.coefficient));
      sumR = mod(sumR + BigInt(option.coefficient) * r);
      options.push({ ciphertext: ctEncode(ct), proof });
      op.push({ value: m, randomness: encodeScalar(r) });
    });
    const t = rangeWriter(poll, credential.publicKey, qi, SUM_INDEX, question.min, question.max, sum);
    const sum_proof = proveRange(t, H, sum, weighted, sumR, question.min, question.max, rng);
    questions.push({ options, sum_proof });
    opening.push(op);
  });
  const ballot = { poll_id: poll.header.poll_id, credential: credential.publicKey, questions, signature: '' };
  ballot.signature = hex(signBallot(poll, credential, ballot));
  return { ballot, opening: { questions: opening }, tracker: tracker(ballot) };
}

/** Check a ballot like the server does (poll id, shape, credential, proofs, signature). Returns
 * { ciphertexts, tracker }. */
export function verifyBallot(poll, b) {
  const ciphertexts = verifyProofs(poll, b);
  let ok = false;
  try {
    ok = ed25519.verify(unhex(b.signature, 64), signedMessage(poll, b), unhex(b.credential, 32), { zip215: false });
  } catch {
    ok = false;
  }
  if (!ok) fail('bad_signature');
  return { ciphertexts, tracker: tracker(b) };
}

/** Everything of verifyBallot but the signature; returns the ciphertexts. */
function verifyProofs(poll, b) {
  ballotShape(b);
  if (b.poll_id !== poll.header.poll_id) fail('wrong_poll', `${b.poll_id} is not ${poll.header.poll_id}`);
  checkShape(poll, b.questions.map((q) => q.options.length));
  checkCredential(b.credential);
  const H = poll.H;
  const ciphertexts = [];
  poll.header.questions.forEach((question, qi) => {
    const bq = b.questions[qi];
    let sum = ctZero();
    const cts = question.options.map((option, oi) => {
      const eo = bq.options[oi];
      const ct = ctDecode(eo.ciphertext, false);
      if (!verifyRange(rangeWriter(poll, b.credential, qi, oi, 0, 1, ct), H, ct, 0, 1, eo.proof)) {
        fail('bad_option_proof', `question ${qi} option ${oi}`);
      }
      sum = ctAdd(sum, ctScale(ct, option.coefficient));
      return ct;
    });
    const t = rangeWriter(poll, b.credential, qi, SUM_INDEX, question.min, question.max, sum);
    if (!verifyRange(t, H, sum, question.min, question.max, bq.sum_proof)) fail('bad_sum_proof', `question ${qi}`);
    ciphertexts.push(cts);
  });
  return ciphertexts;
}

/** Benaloh audit of a spoiled ballot: checks its proofs (not its signature: reveal a spoiled
 * ballot with the signature zeroed, see spoilBallot) and returns the choices if the opening
 * re-encrypts to it. */
export function auditBallot(poll, b, opening) {
  const ciphertexts = verifyProofs(poll, b);
  checkShape(poll, opening.questions.map((q) => q.length));
  return ciphertexts.map((cts, qi) =>
    cts.map((ct, oi) => {
      const op = opening.questions[qi][oi];
      if (op.value !== 0 && op.value !== 1) fail('bad_opening', `question ${qi} option ${oi}`);
      const r = decodeScalar(op.randomness, 'opening randomness');
      if (!ctEquals(encrypt(poll.H, op.value, r), ct)) fail('bad_opening', `question ${qi} option ${oi}`);
      return op.value === 1;
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Tally and decryption

function decryptionWriter(poll, member, vk, q, o, ct, d) {
  return new Writer('proof/decryption')
    .raw(poll.context)
    .u32(member)
    .point(vk)
    .u32(q)
    .u32(o)
    .point(ct.alpha)
    .point(ct.beta)
    .point(d);
}

/** Decode a published tally ({ciphertexts}) and check its shape. */
export function decodeTally(poll, tally) {
  checkShape(poll, tally.ciphertexts.map((q) => q.length));
  return tally.ciphertexts.map((q) => q.map((c) => ctDecode(c, true)));
}

/** A committee member's partial decryption of the tally, with a proof per ciphertext. */
export function partialDecrypt(poll, tallyCts, share, rng = defaultRng) {
  const vk = poll.outcome.verificationKeys.get(share.member);
  if (!vk) fail('bad_trustee', `member ${share.member} is not qualified`);
  const factors = tallyCts.map((cts, q) =>
    cts.map((ct, o) => {
      const d = mulSecret(ct.alpha, share.secret);
      const proof = proveDleq(decryptionWriter(poll, share.member, vk, q, o, ct, d), share.secret, ct.alpha, rng);
      return { factor: encodePoint(d), proof };
    }),
  );
  return { member: share.member, factors };
}

/** Check a partial decryption; returns its factors as points. */
export function verifyPartialDecryption(poll, tallyCts, pd) {
  const vk = poll.outcome.verificationKeys.get(pd.member);
  if (!vk) fail('bad_trustee', `member ${pd.member} is not qualified`);
  if (pd.factors.length !== tallyCts.length || pd.factors.some((f, q) => f.length !== tallyCts[q].length)) {
    fail('ballot_shape', 'the partial decryption does not fit the tally');
  }
  return pd.factors.map((fs, q) =>
    fs.map((f, o) => {
      const ct = tallyCts[q][o];
      const d = decodePoint(f.factor, 'decryption factor', true);
      if (!verifyDleq(decryptionWriter(poll, pd.member, vk, q, o, ct, d), vk, ct.alpha, d, f.proof)) {
        fail('bad_partial_decryption', `member ${pd.member} question ${q} option ${o}`);
      }
      return d;
    }),
  );
}

/** Lagrange coefficients at 0 for the given member indices. */
export function lagrangeAtZero(members) {
  return members.map((i) => {
    let num = 1n;
    let den = 1n;
    for (const j of members) {
      if (j === i) continue;
      num = mod(num * BigInt(j));
      den = mod(den * BigInt(j - i));
    }
    return mod(num * invert(den));
  });
}

function invert(a) {
  // a^(ℓ−2) mod ℓ (ℓ is prime); a is public here.
  let result = 1n;
  let base = mod(a);
  let e = L - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % L;
    base = (base * base) % L;
    e >>= 1n;
  }
  return result;
}

/** count·G per tally ciphertext from ≥ t members' verified factors (Map member → factors). */
export function decryptPoints(poll, tallyCts, factors) {
  if (factors.size < poll.outcome.threshold) {
    fail('not_enough_trustees', `${factors.size} of ${poll.outcome.threshold}`);
  }
  const members = [...factors.keys()].sort((a, b) => a - b);
  const lambdas = lagrangeAtZero(members);
  return tallyCts.map((cts, q) =>
    cts.map((ct, o) => {
      let xa = Point.ZERO;
      members.forEach((m, k) => (xa = xa.add(mulPublic(factors.get(m)[q][o], lambdas[k]))));
      return ct.beta.subtract(xa);
    }),
  );
}

/** The counts from count·G by baby-step giant-step over 0..=bound. */
export function discreteLogs(points, bound) {
  const step = Math.max(1, Math.ceil(Math.sqrt(bound + 1)));
  const table = new Map();
  let p = Point.ZERO;
  for (let j = 0; j < step; j++) {
    table.set(hex(p.toBytes()), j);
    p = p.add(G);
  }
  const giant = mulPublic(G, BigInt(step));
  return points.map((q) =>
    q.map((target) => {
      let x = target;
      for (let i = 0; i * step <= bound; i++) {
        const j = table.get(hex(x.toBytes()));
        if (j !== undefined && i * step + j <= bound) return i * step + j;
        x = x.subtract(giant);
      }
      return fail('discrete_log_out_of_range', `bound ${bound}`);
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Board

/** The canonical bytes of a board entry ({kind, ...}). */
export function entryBytes(e) {
  switch (e.kind) {
    case 'header':
      return headerBytes(e);
    case 'registration':
      return new Writer('entry/registration').raw(unhex(e.credential, 32)).u64(e.weight).toBytes();
    case 'ballot':
      return new Writer('entry/ballot').raw(ballotBytes(e)).toBytes();
    case 'closed': {
      const w = new Writer('entry/closed').u64(e.rejected_ballots).len(e.participation.length);
      for (const h of e.participation) w.str(h);
      return w.toBytes();
    }
    case 'tally': {
      const w = new Writer('entry/tally').len(e.ciphertexts.length);
      for (const q of e.ciphertexts) {
        w.len(q.length);
        for (const c of q) w.raw(c.alpha).raw(c.beta);
      }
      return w.toBytes();
    }
    case 'partial_decryption': {
      const w = new Writer('entry/partial-decryption').u32(e.member).len(e.factors.length);
      for (const q of e.factors) {
        w.len(q.length);
        for (const f of q) w.raw(f.factor).raw(f.proof.c).raw(f.proof.z);
      }
      return w.toBytes();
    }
    case 'result': {
      const w = new Writer('entry/result').len(e.counts.length);
      for (const q of e.counts) {
        w.len(q.length);
        for (const c of q) w.u64(c);
      }
      return w.toBytes();
    }
    default:
      return fail('malformed', `unknown entry kind ${e.kind}`);
  }
}

/** hash_k = SHA-256(hash_{k−1} ‖ entry bytes), as hex. */
export function chainHash(prevHex, entry) {
  return hex(sha256(concat(unhex(prevHex, 32), entryBytes(entry))));
}

/** Where the voter's tracker is on the board: the entry index, or -1. Cheap: no proof checks. */
export function findTracker(exported, trackerHex) {
  return exported.entries.findIndex((ce) => ce.entry.kind === 'ballot' && tracker(ce.entry) === trackerHex);
}

/** Re-check a whole board export like plenum-verify does. Returns a summary; throws BoardError
 * naming the first failing entry. */
export function verifyBoard(exported) {
  if (exported.format !== FORMAT) throw new BoardError(null, 'format', new BallotCryptoError('malformed', 'format'));
  try {
    shape(exported, ['format', 'roll', 'entries'], [], 'export');
    if (!Array.isArray(exported.roll)) fail('malformed', 'roll');
    exported.roll.forEach((r) => shape(r, ['holder', 'weight'], ['proxy'], 'right'));
    checkRoll(exported.roll);
  } catch (e) {
    throw new BoardError(null, 'roll', e);
  }
  const roll = exported.roll;
  const weightsLeft = new Map();
  for (const r of roll) weightsLeft.set(r.weight, (weightsLeft.get(r.weight) || 0) + 1);
  const credentials = new Map();
  const trackers = new Set();
  const factors = new Map();
  let poll = null;
  let phase = 'empty';
  let sums = null;
  let weightCast = 0;
  let ballots = 0;
  let closed = null;
  let published = null;
  let tallyCts = null;
  let head = hex(new Uint8Array(32));
  const expect = (p, what) => {
    if (phase !== p) fail('out_of_order', `${what} in phase ${phase}`);
  };
  const fields = {
    header: ['poll_id', 'questions', 'roll_hash', 'committee', 'election_key'],
    registration: ['credential', 'weight'],
    ballot: ['poll_id', 'credential', 'questions', 'signature'],
    closed: ['rejected_ballots', 'participation'],
    tally: ['ciphertexts'],
    partial_decryption: ['member', 'factors'],
    result: ['counts'],
  };
  exported.entries.forEach((ce, index) => {
    const e = ce.entry;
    try {
      shape(ce, ['hash', 'entry'], [], 'chained entry');
      if (!fields[e.kind]) fail('malformed', `unknown entry kind ${e.kind}`);
      shape(e, ['kind', ...fields[e.kind]], [], e.kind);
      const h = chainHash(head, e);
      if (h !== ce.hash) fail('chain_broken');
      switch (e.kind) {
        case 'header': {
          expect('empty', 'a header');
          const header = { ...e };
          delete header.kind;
          if (header.roll_hash !== rollHash(roll)) fail('roll_mismatch');
          poll = verifyPoll(header);
          sums = poll.header.questions.map((q) => q.options.map(ctZero));
          phase = 'voting';
          break;
        }
        case 'registration': {
          expect('voting', 'a registration');
          checkCredential(e.credential);
          if (credentials.has(e.credential)) fail('credential_registered');
          if (!Number.isInteger(e.weight) || e.weight < 1 || e.weight > MAX_WEIGHT) fail('bad_registration', 'weight');
          if (!(weightsLeft.get(e.weight) > 0)) fail('bad_registration', `no right of weight ${e.weight} left`);
          weightsLeft.set(e.weight, weightsLeft.get(e.weight) - 1);
          credentials.set(e.credential, { weight: e.weight, used: false });
          break;
        }
        case 'ballot': {
          if (!poll) fail('out_of_order', 'the header must come first');
          expect('voting', 'a ballot');
          if (e.poll_id !== poll.header.poll_id) fail('wrong_poll');
          const t = tracker(e);
          if (trackers.has(t)) fail('duplicate_ballot');
          const cred = credentials.get(e.credential);
          if (!cred) fail('unknown_credential');
          if (cred.used) fail('credential_used');
          const { kind: _kind, ...ballot } = e;
          const v = verifyBallot(poll, ballot);
          cred.used = true;
          trackers.add(t);
          v.ciphertexts.forEach((cts, q) => cts.forEach((c, o) => (sums[q][o] = ctAdd(sums[q][o], ctScale(c, cred.weight)))));
          weightCast += cred.weight;
          ballots += 1;
          break;
        }
        case 'closed': {
          expect('voting', 'closing');
          const listed = new Map();
          e.participation.forEach((h, i) => {
            if (i > 0 && compareBytes(e.participation[i - 1], h) >= 0) fail('bad_participation', 'order');
            const right = roll.find((r) => r.holder === h);
            if (!right) fail('bad_participation', `${h} is not on the roll`);
            listed.set(right.weight, (listed.get(right.weight) || 0) + 1);
          });
          const registered = new Map();
          for (const c of credentials.values()) registered.set(c.weight, (registered.get(c.weight) || 0) + 1);
          const same = listed.size === registered.size && [...listed].every(([w, n]) => registered.get(w) === n);
          if (!same) fail('bad_participation', 'weights differ from the registrations');
          closed = e;
          phase = 'closed';
          break;
        }
        case 'tally': {
          if (!poll) fail('out_of_order', 'the header must come first');
          expect('closed', 'a tally');
          tallyCts = decodeTally(poll, e);
          const same = tallyCts.every((cts, q) => cts.every((c, o) => ctEquals(c, sums[q][o])));
          if (!same) fail('tally_mismatch');
          phase = 'tallied';
          break;
        }
        case 'partial_decryption': {
          expect('tallied', 'a partial decryption');
          if (factors.has(e.member)) fail('bad_trustee', `member ${e.member} published twice`);
          factors.set(e.member, verifyPartialDecryption(poll, tallyCts, e));
          break;
        }
        case 'result': {
          expect('tallied', 'a result');
          const points = decryptPoints(poll, tallyCts, factors);
          const ok =
            e.counts.length === points.length &&
            e.counts.every(
              (cs, q) =>
                cs.length === points[q].length &&
                cs.every((c, o) => Number.isInteger(c) && c >= 0 && c <= weightCast && mulPublic(G, BigInt(c)).equals(points[q][o])),
            );
          if (!ok) fail('result_mismatch');
          published = e;
          phase = 'published';
          break;
        }
        default:
          fail('malformed', `unknown entry kind ${e.kind}`);
      }
      head = h;
    } catch (err) {
      if (err instanceof BallotCryptoError) throw new BoardError(index, e.kind, err);
      throw new BoardError(index, e.kind, new BallotCryptoError('malformed', err.message));
    }
  });
  return {
    poll_id: poll ? poll.header.poll_id : '',
    phase,
    entries: exported.entries.length,
    head,
    registrations: credentials.size,
    ballots,
    weight_cast: weightCast,
    rejected_ballots: closed ? closed.rejected_ballots : null,
    qualified: poll ? poll.outcome.qualified : [],
    decrypted_by: [...factors.keys()].sort((a, b) => a - b),
    result: published ? { counts: published.counts } : null,
  };
}

/** Milliseconds per ballot for encryptBallot (all proofs and the signature) and for
 * verifyBallot, averaged over `runs`; `choices` as for encryptBallot. docs/perf.md reports it
 * for node; headless Chromium calls the same function for the browser figure. */
export function benchmarkBallot(poll, choices, runs = 10) {
  const cred = credentialGenerate();
  let t0 = performance.now();
  let ballot = null;
  for (let i = 0; i < runs; i++) ballot = encryptBallot(poll, cred, choices).ballot;
  const encryptMs = (performance.now() - t0) / runs;
  t0 = performance.now();
  for (let i = 0; i < runs; i++) verifyBallot(poll, ballot);
  const verifyMs = (performance.now() - t0) / runs;
  return { encryptMs, verifyMs };
}
