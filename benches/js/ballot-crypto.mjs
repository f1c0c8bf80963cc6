// JavaScript cost of a verifiable ballot (web/ballot-crypto.js) for a 10-candidate election:
// encryption with every proof and the signature, and verification. Run:
//   node benches/js/ballot-crypto.mjs [runs]
// The browser figure comes from calling benchmarkBallot() the same way in headless Chromium.
import * as bc from '../../web/ballot-crypto.js';

const runs = Number(process.argv[2] || 20);
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
for (const [name, min, max, n] of [
  ['10 options, choose 1', 1, 1, 1],
  ['10 options, choose up to 10 (4 chosen)', 0, 10, 4],
]) {
  const poll = bc.verifyPoll(header(min, max));
  bc.benchmarkBallot(poll, choose(n), 2); // warm-up
  const cpu = process.cpuUsage();
  const { encryptMs, verifyMs } = bc.benchmarkBallot(poll, choose(n), runs);
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000 / runs;
  console.log(
    `${name}: encrypt + prove + sign ${encryptMs.toFixed(1)} ms, verify ${verifyMs.toFixed(1)} ms wall; ` +
      `both together ${cpuMs.toFixed(1)} ms CPU (node ${process.version}, ${runs} runs)`,
  );
}
