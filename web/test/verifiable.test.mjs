// The browser side of verifiable polls (web/verifiable.js) without a browser: three committee
// members' clients run the key generation by themselves on dkg_changed, store only their share,
// two voters encrypt and cast (one audits first), find their trackers on the board, and after
// the close the members' clients check the board and send their partial decryptions — all
// against a small in-process relay that follows docs/protocol.md ("Verifiable polls") and
// builds the board with ballot-crypto.js. The board it ends with passes verifyBoard.
// The real server is exercised by tests/e2e/verifiable.test.mjs; this test pins the client's
// own logic (rounds, renumbering, what is kept and forgotten) and runs in a second.
// Run: node --test web/test/

import { test } from 'node:test';
import assert from 'node:assert/strict';

// i18n.js reads the page's language lazily; node has no navigator. Each client gets a storage
// of its own (createVerifiable's `storage`), as each page has its localStorage.
globalThis.navigator ??= { language: 'en', languages: ['en'] };
const storages = new Map(); // participant → its storage

const bc = await import('../ballot-crypto.js');
const { createVerifiable, choiceVector, choiceOfVector } = await import('../verifiable.js');

function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
    keys: () => [...m.keys()],
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
async function until(what, fn, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The relay: one motion, its key generation in rounds (every member still in has spoken, or
 * advance()), the board, decryption. Each client gets its own poll view and events.
 */
function relay(ids, { committee, threshold, weights = {} }) {
  const pollId = 'poll-1';
  const dkg = { round: 'keys', members: [...committee], keys: new Map(), dealings: new Map(), complaints: new Map(), answers: new Map() };
  const spec = { title: 'Motion A1', kind: 'motion' };
  const clients = new Map();
  const entries = [];
  let head = '00'.repeat(32);
  let state = 'draft';
  let roll = null;
  let poll = null; // verifyPoll of the header
  const registered = new Map(); // holder → credential
  const factors = new Map();
  const log = [];

  const transcript = () => ({
    id: pollId,
    threshold,
    members: [...dkg.keys.values()].sort((a, b) => a.index - b.index),
    dealings: [...dkg.dealings.values()].sort((a, b) => a.dealer - b.dealer),
    complaints: [...dkg.complaints.values()].flat().sort((a, b) => a.dealer - b.dealer || a.complainer - b.complainer),
    answers: [...dkg.answers.values()].flat().sort((a, b) => a.dealer - b.dealer || a.complainer - b.complainer),
  });
  const accused = () => new Set([...dkg.complaints.values()].flat().map((c) => c.dealer));
  let qualified = null;

  function viewFor(id) {
    return {
      id: pollId,
      kind: 'motion',
      title: spec.title,
      secret: true,
      state,
      voted: registered.size,
      my_rights: state === 'draft' ? [] : Object.keys(weights).filter((h) => h === id).map((h) => ({ holder_id: h, weight: weights[h], voted: registered.has(h) })),
      verifiable: {
        committee: [...committee],
        threshold,
        dkg: {
          round: dkg.round,
          members: dkg.members.map((p, i) => ({
            index: i + 1,
            participant_id: p,
            key: dkg.keys.has(i + 1),
            dealt: dkg.dealings.has(i + 1),
            complaints_done: dkg.complaints.has(i + 1),
            answered: dkg.answers.has(i + 1),
            qualified: dkg.round === 'done' ? qualified.includes(i + 1) : null,
          })),
        },
        decryption: { valid: factors.size, needed: threshold },
      },
    };
  }

  function deliver(id, msg) {
    const c = clients.get(id);
    if (!c) return; // absent: never answers
    setTimeout(() => {
      c.polls[0] = viewFor(id);
      if (msg) c.v.handleEvent(msg);
      c.v.sync();
    }, 0);
  }
  const broadcastPoll = () => ids.forEach((id) => deliver(id, null));
  const broadcastDkg = () => {
    for (const id of ids) deliver(id, { event: 'dkg_changed', poll_id: pollId, round: dkg.round, committee: transcript() });
  };

  function settle() {
    for (;;) {
      const before = dkg.round;
      if (dkg.round === 'keys' && dkg.keys.size === dkg.members.length) {
        bc.committeeOf(pollId, threshold, transcript().members); // every key's proof
        dkg.round = 'dealings';
      }
      else if (dkg.round === 'dealings' && dkg.dealings.size === dkg.members.length) dkg.round = 'complaints';
      else if (dkg.round === 'complaints' && [...dkg.dealings.keys()].every((d) => dkg.complaints.has(d))) {
        if (accused().size) dkg.round = 'answers';
        else finish();
      } else if (dkg.round === 'answers' && [...accused()].every((d) => dkg.answers.has(d))) finish();
      if (dkg.round === before) return;
    }
  }
  function finish() {
    qualified = bc.qualify(transcript()).qualified;
    dkg.round = 'done';
  }

  function append(entry) {
    head = bc.chainHash(head, entry);
    entries.push({ hash: head, entry });
    for (const id of ids) deliver(id, { event: 'board_entry', poll_id: pollId, index: entries.length - 1, hash: head, entry });
  }

  const member = (id) => dkg.members.indexOf(id) + 1;
  const refuse = (code) => {
    throw Object.assign(new Error(code), { code });
  };

  const handlers = {
    dkg_key(id, { key }) {
      const index = member(id);
      if (!index) refuse('forbidden');
      if (dkg.round !== 'keys' || dkg.keys.has(index) || key.index !== index || key.label !== id) refuse('bad_request');
      dkg.keys.set(index, key);
      settle();
      broadcastDkg();
      broadcastPoll();
      return {};
    },
    dkg_deal(id, { dealing }) {
      const index = member(id);
      if (dkg.round !== 'dealings' || dealing.dealer !== index || dkg.dealings.has(index)) refuse('bad_request');
      bc.verifyDealing(bc.committeeOf(pollId, threshold, transcript().members), dealing);
      dkg.dealings.set(index, dealing);
      settle();
      broadcastDkg();
      broadcastPoll();
      return {};
    },
    dkg_complain(id, { complaints }) {
      const index = member(id);
      if (dkg.round !== 'complaints' || !dkg.dealings.has(index) || dkg.complaints.has(index)) refuse('bad_request');
      dkg.complaints.set(index, complaints);
      settle();
      broadcastDkg();
      broadcastPoll();
      return {};
    },
    dkg_answer(id, { answers }) {
      const index = member(id);
      if (dkg.round !== 'answers' || dkg.answers.has(index)) refuse('bad_request');
      dkg.answers.set(index, answers);
      settle();
      broadcastDkg();
      broadcastPoll();
      return {};
    },
    poll_board() {
      return { export: { format: bc.FORMAT, roll: roll ?? [], entries: JSON.parse(JSON.stringify(entries)) } };
    },
    cast_ballot(id, { credential, ballot, on_behalf_of }) {
      const holder = on_behalf_of ?? id;
      if (state !== 'open') refuse('poll_not_open');
      if (!weights[holder]) refuse('not_eligible');
      if (registered.has(holder)) refuse('already_voted');
      if (ballot.credential !== credential) refuse('malformed');
      const { tracker } = bc.verifyBallot(poll, ballot);
      registered.set(holder, credential);
      append({ kind: 'registration', credential, weight: weights[holder] });
      append({ kind: 'ballot', ...ballot });
      broadcastPoll();
      return { tracker, index: entries.length - 1 };
    },
    dkg_decrypt(id, { partial }) {
      if (state !== 'closed') refuse('bad_request');
      if (entries.at(-1).entry.kind === 'result') refuse('out_of_order');
      const tally = entries.find((e) => e.entry.kind === 'tally').entry;
      const cts = bc.decodeTally(poll, tally);
      factors.set(partial.member, bc.verifyPartialDecryption(poll, cts, partial));
      append({ kind: 'partial_decryption', ...partial });
      if (factors.size === threshold) {
        const points = bc.decryptPoints(poll, cts, factors);
        const weight = [...registered.keys()].reduce((s, h) => s + weights[h], 0);
        append({ kind: 'result', counts: bc.discreteLogs(points, weight) });
      }
      broadcastPoll();
      return {};
    },
  };

  return {
    pollId,
    dkg,
    entries,
    log,
    factors,
    connect(id, client) {
      clients.set(id, client);
    },
    /** The client's send(): resolves with the result or null (onError gets the code). */
    send(id) {
      return async (cmd, args, { onError } = {}) => {
        await tick();
        log.push([id, cmd]);
        try {
          const result = handlers[cmd](id, args);
          await tick();
          return result;
        } catch (err) {
          const code = err.code ?? 'internal';
          if (onError) onError(code);
          return null;
        }
      };
    },
    /** The moderator created the poll: its view to everyone, the empty record to the committee. */
    create() {
      broadcastPoll();
      broadcastDkg();
    },
    advance() {
      if (dkg.round === 'keys') {
        const kept = dkg.members.filter((_, i) => dkg.keys.has(i + 1));
        const keys = new Map();
        kept.forEach((p, i) => {
          const old = dkg.members.indexOf(p) + 1;
          if (old === i + 1) keys.set(i + 1, dkg.keys.get(old));
        });
        dkg.members = kept;
        dkg.keys = keys;
      }
      settle();
      broadcastDkg();
      broadcastPoll();
    },
    open() {
      const header = {
        poll_id: pollId,
        questions: [{ text: spec.title, options: ['yes', 'no', 'abstain'].map((label) => ({ label, coefficient: 1 })), min: 1, max: 1 }],
        roll_hash: '',
        committee: transcript(),
        election_key: '',
      };
      roll = Object.keys(weights)
        .sort()
        .map((holder) => ({ holder, proxy: null, weight: weights[holder] }));
      header.roll_hash = bc.rollHash(roll);
      header.election_key = bc.encodePoint(bc.qualify(header.committee).electionKey);
      poll = bc.verifyPoll(header);
      state = 'open';
      append({ kind: 'header', ...header });
      broadcastPoll();
    },
    close() {
      state = 'closed';
      append({ kind: 'closed', rejected_ballots: 0, participation: [...registered.keys()].sort() });
      const sums = poll.header.questions.map((q) => q.options.map(() => ({ alpha: null, beta: null })));
      for (const e of entries) {
        if (e.entry.kind !== 'ballot') continue;
        const [holder] = [...registered].find(([, c]) => c === e.entry.credential);
        const w = BigInt(weights[holder]);
        e.entry.questions.forEach((q, qi) =>
          q.options.forEach((o, oi) => {
            const a = bc.decodePoint(o.ciphertext.alpha).multiply(w);
            const b = bc.decodePoint(o.ciphertext.beta, 'beta', true).multiplyUnsafe(w);
            const s = sums[qi][oi];
            s.alpha = s.alpha ? s.alpha.add(a) : a;
            s.beta = s.beta ? s.beta.add(b) : b;
          }),
        );
      }
      append({ kind: 'tally', ciphertexts: sums.map((q) => q.map((s) => ({ alpha: bc.encodePoint(s.alpha), beta: bc.encodePoint(s.beta) }))) });
      broadcastPoll();
    },
    export: () => ({ format: bc.FORMAT, roll, entries }),
  };
}

/** A client: its polls, its verifiable part, as app.js and ballots.js wire it. */
function client(net, id, everyone, room = 'demo') {
  storages.set(id, storages.get(id) ?? memoryStorage());
  const c = { id, polls: [], renders: 0 };
  const view = () => ({
    self: { id },
    room: { id: room },
    polls: c.polls,
    participants: everyone.map((p) => ({ id: p, name: p })),
    can: () => true,
  });
  const describe = (poll, choice) => choice.vote ?? JSON.stringify(choice);
  c.v = createVerifiable({ view, send: net.send(id), render: () => c.renders++, describe, storage: storages.get(id) });
  net.connect(id, c);
  return c;
}

test('choiceVector maps every kind of poll to the board questions, and back', () => {
  const motion = { kind: 'motion' };
  assert.deepEqual(choiceVector(motion, { vote: 'no' }), [[false, true, false]]);
  const yesNo = { kind: 'election', candidates: ['A', 'B'], method: { type: 'yes_no' } };
  assert.deepEqual(choiceVector(yesNo, { answers: ['yes', 'abstain'] }), [[true, false, false], [false, false, true]]);
  const choose = { kind: 'election', candidates: ['A', 'B', 'C'], method: { type: 'choose', k: 2, global_no: true, global_abstain: true } };
  assert.deepEqual(choiceVector(choose, { select: [0, 2] }), [[true, false, true, false, false]]);
  assert.deepEqual(choiceVector(choose, { global: 'no' }), [[false, false, false, true, false]]);
  assert.deepEqual(choiceVector(choose, { global: 'abstain' }), [[false, false, false, false, true]]);
  for (const [poll, choice] of [[motion, { vote: 'abstain' }], [yesNo, { answers: ['no', 'yes'] }], [choose, { select: [1] }], [choose, { global: 'abstain' }]]) {
    assert.deepEqual(choiceOfVector(poll, choiceVector(poll, choice)), choice);
  }
});

test('committee, voters and tally: the clients do their parts by themselves, and the board verifies', async () => {
  const ids = ['p-m1', 'p-m2', 'p-m3', 'p-v1'];
  const net = relay(ids, { committee: ['p-m1', 'p-m2', 'p-m3'], threshold: 2, weights: { 'p-m1': 1, 'p-m2': 1, 'p-m3': 1, 'p-v1': 3 } });
  const clients = Object.fromEntries(ids.map((id) => [id, client(net, id, ids)]));
  const members = ['p-m1', 'p-m2', 'p-m3'];
  net.create();
  await until('the key generation to be done', () => net.dkg.round === 'done');
  await until('every member to hold its share', () => members.every((id) => clients[id].v.snapshot().members[net.pollId]?.status === 'shareStored'));
  for (const id of members) {
    const snap = clients[id].v.snapshot().members[net.pollId];
    assert.equal(snap.hasDkgKey, false, `${id} forgot its DKG key`);
    const keys = storages.get(id).keys();
    assert.deepEqual(keys, [`plenum.ballot-share/demo/${net.pollId}/${id}`]);
    const stored = JSON.parse(storages.get(id).getItem(keys[0]));
    assert.deepEqual(Object.keys(stored).sort(), ['digest', 'member', 'share']);
  }
  assert.equal(new Set(members.map((id) => clients[id].v.snapshot().members[net.pollId].digest)).size, 1, 'one committee digest');
  assert.equal(storages.get('p-v1').keys().length, 0, 'a voter stores nothing');
  assert.deepEqual(
    net.log.filter(([, cmd]) => cmd.startsWith('dkg_')).map(([, cmd]) => cmd).sort(),
    ['dkg_complain', 'dkg_complain', 'dkg_complain', 'dkg_deal', 'dkg_deal', 'dkg_deal', 'dkg_key', 'dkg_key', 'dkg_key'],
    'each member spoke once per round',
  );

  net.open();
  await until('the voters to see the open poll', () => clients['p-v1'].polls[0]?.state === 'open');
  // p-v1 (weight 3) audits a "yes" ballot, then casts "yes"; p-m1 casts "no".
  const poll = () => clients['p-v1'].polls[0];
  const right = { holder_id: 'p-v1', weight: 3, voted: false };
  await clients['p-v1'].v.prepare(poll(), right, { vote: 'yes' });
  const ballotKey = `${net.pollId}|p-v1`;
  assert.equal(clients['p-v1'].v.snapshot().voters[ballotKey].ready, true);
  assert.equal(net.entries.filter((e) => e.entry.kind === 'ballot').length, 0, 'encrypting sends nothing');
  const vp = clients['p-v1'].v;
  await vp.audit(poll(), right);
  const afterAudit = vp.snapshot().voters[ballotKey];
  assert.deepEqual(afterAudit.audits, [{ ok: true, code: null }]);
  assert.equal(afterAudit.ready, true, 'a fresh ballot is encrypted after the audit');
  await vp.cast(poll(), right);
  await until('p-v1 to find its tracker on the board', () => vp.snapshot().voters[ballotKey].onBoard);
  assert.deepEqual(vp.snapshot().voters[ballotKey].onBoard, { index: 2, registered: 3, weight: 3 });

  const m1 = clients['p-m1'].v;
  const rightM1 = { holder_id: 'p-m1', weight: 1, voted: false };
  await m1.prepare(clients['p-m1'].polls[0], rightM1, { vote: 'no' });
  await m1.cast(clients['p-m1'].polls[0], rightM1);
  await until('p-m1 to find its tracker', () => m1.snapshot().voters[`${net.pollId}|p-m1`].onBoard);

  // Close: the members check the board and decrypt by themselves; t = 2 suffice.
  net.close();
  await until('the result', () => net.entries.at(-1).entry.kind === 'result');
  assert.deepEqual(net.entries.at(-1).entry.counts, [[3, 1, 0]]);
  const summary = bc.verifyBoard(JSON.parse(JSON.stringify(net.export())));
  assert.equal(summary.phase, 'published');
  assert.equal(summary.weight_cast, 4);
  await until('every member to have deleted its share', () =>
    members.every((id) => storages.get(id).keys().length === 0 && clients[id].v.snapshot().members[net.pollId].status === 'finished'),
  );
  assert.ok(net.factors.size >= 2 && net.factors.size <= 3);
});

test('a member silent in round keys: the moderator moves on, the others are numbered again and send new keys', async () => {
  // p-gone is on the committee but never answers (its page is closed).
  const ids = ['p-gone', 'p-m1', 'p-m2', 'p-m3'];
  const net = relay(ids, { committee: ['p-gone', 'p-m1', 'p-m2', 'p-m3'], threshold: 2, weights: { 'p-m1': 1 } });
  const present = ['p-m1', 'p-m2', 'p-m3'];
  const clients = Object.fromEntries(present.map((id) => [id, client(net, id, ids, 'room-2')]));
  net.create();
  await until('the three present members to send keys as 2, 3, 4', () => net.dkg.keys.size === 3);
  assert.deepEqual([...net.dkg.keys.keys()].sort(), [2, 3, 4]);
  assert.equal(net.dkg.round, 'keys', 'the round waits for the silent member');
  net.advance();
  assert.deepEqual(net.dkg.members, present, 'the silent member is out');
  await until('the key generation to be done', () => net.dkg.round === 'done');
  await until('every member to hold its share', () => present.every((id) => clients[id].v.snapshot().members[net.pollId]?.status === 'shareStored'));
  for (const [i, id] of present.entries()) {
    assert.equal(clients[id].v.snapshot().members[net.pollId].index, i + 1, `${id} is member ${i + 1} now`);
    const stored = JSON.parse(storages.get(id).getItem(`plenum.ballot-share/room-2/${net.pollId}/${id}`));
    assert.equal(stored.member, i + 1);
  }
  assert.equal(net.log.filter(([, cmd]) => cmd === 'dkg_key').length, 6, 'each sent a second key under its new index');
});
