// Polls (secret ballots, docs/protocol.md "Polls"): the moderator's form and poll controls,
// one vote panel per voting right (the own one and each delegated one) with a confirmation
// step and the receipt, the delegation of the own vote, results and the receipt check.
//
// `createBallotPanel({ view, send, onReceipt, onProxy })` wires the static controls of
// index.html once and returns `{ render, cast }`. `view()` returns what to show:
// `{ self, polls, proxy, receipts, participants, can(participant, grant) }` — `receipts` is
// `{ [pollId]: { [holderId]: receipt } }`. `send(cmd, args, { onError })` resolves with the
// result or null; with `onError` a failure is reported there instead of in the banner.
// What a person is doing right now (an unfinished choice, the confirmation step, errors of
// one right) stays here: the server's state is in app.js. Verifiable polls (encrypted in the
// browser, a tally committee) reuse the choice forms; their own parts are in verifiable.js.
// The panel also returns `handleEvent` (dkg_changed, board_entry), `sync` (after the polls
// changed) and `snapshot` of the verifiable parts.

import { t, errorText } from './i18n.js';
import { $, h, icon, smallButton, replaceKeepingFocus } from './dom.js';
import { createVerifiable } from './verifiable.js';

const ANSWERS = ['yes', 'no', 'abstain'];
const RULE_TEXT = { simple: 'rule.simple', absolute: 'rule.absolute', two_thirds: 'rule.two_thirds' };

/** Key of one voting right in one poll: its vote panel's `data-key`. */
const rightKey = (pollId, holderId) => `${pollId}|${holderId}`;

/** `3fa2c1d0…` in groups of four, easier to read aloud and compare. */
const groupedReceipt = (receipt) => receipt.match(/.{1,4}/g)?.join(' ') ?? receipt;

function candidatesOf(poll) {
  return poll.kind === 'election' ? poll.candidates ?? [] : [];
}

/** The rules of a poll in words: method, majority, abstentions, quorum. */
export function ruleText(poll) {
  const parts = [];
  const method = poll.method;
  if (poll.kind === 'election' && method?.type === 'yes_no') parts.push(t('rule.yesNo'));
  if (poll.kind === 'election' && method?.type === 'choose') {
    parts.push(t(method.k === 1 ? 'rule.chooseOne' : 'rule.choose', { k: method.k, n: candidatesOf(poll).length }));
    if (method.global_no) parts.push(t('rule.globalNo'));
    if (method.global_abstain) parts.push(t('rule.globalAbstain'));
  }
  const majority = poll.majority ?? {};
  parts.push(t(RULE_TEXT[majority.rule ?? 'simple'] ?? 'rule.simple'));
  parts.push(t(majority.abstentions === 'counted' ? 'rule.abstentionsCounted' : 'rule.abstentionsIgnored'));
  if (poll.quorum) parts.push(t(poll.quorum.of === 'weight' ? 'rule.quorumWeight' : 'rule.quorumVoters', { percent: poll.quorum.percent }));
  const text = parts.join('; ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

/** A choice (docs/protocol.md, "Choice") in words. */
export function choiceText(poll, choice) {
  const names = candidatesOf(poll);
  if (choice.vote) return t(`vote.${choice.vote}`);
  if (choice.answers) return choice.answers.map((a, i) => `${names[i] ?? i + 1}: ${t(`vote.${a}`)}`).join(', ');
  if (choice.select) return choice.select.map((i) => names[i] ?? String(i + 1)).join(', ');
  if (choice.global) return t(choice.global === 'no' ? 'vote.globalNo' : 'vote.globalAbstain');
  return '';
}

/**
 * The choice an unfinished selection `draft` makes in `poll`, or null while incomplete.
 * Drafts: motion `{ vote }`, yes/no election `{ answers: [] }` (sparse), choose-k
 * `{ select: [indices], global }`.
 */
function choiceOf(poll, draft) {
  if (!draft) return null;
  if (poll.kind === 'motion') return draft.vote ? { vote: draft.vote } : null;
  const n = candidatesOf(poll).length;
  if (poll.method?.type === 'yes_no') {
    const answers = Array.from({ length: n }, (_, i) => draft.answers?.[i]);
    return answers.every(Boolean) ? { answers } : null;
  }
  if (draft.global) return { global: draft.global };
  return draft.select?.length ? { select: [...draft.select].sort((a, b) => a - b) } : null;
}

/**
 * Who sees a poll: drafts and polls cancelled before they opened only concern moderators (and
 * the tally committee of a verifiable draft, whose browsers generate its key).
 */
function shown(poll, moderate, selfId) {
  if (moderate) return true;
  if (poll.state === 'draft') return Boolean(selfId && poll.verifiable?.committee?.includes(selfId));
  return poll.state !== 'cancelled' || poll.eligible_voters > 0;
}

export function createBallotPanel({ view, send, onReceipt, onProxy }) {
  const drafts = new Map(); // right key → unfinished selection
  const confirming = new Set(); // right keys in the confirmation step
  const sending = new Set(); // right keys whose cast_vote is under way
  const errors = new Map(); // right key → error code of the last cast
  const checks = new Map(); // poll id → { receipts: [...] } after poll_receipts
  const cancelArmed = new Set(); // poll ids whose "cancel" waits for a second click
  const actionErrors = new Map(); // poll id → error code of the moderator's last action on it
  let proxyError = null; // error code of the last set_proxy
  let copied = null; // { key, manual } after a copy
  let proxyOptions = '';
  let pollKind = 'motion';
  const committeeChosen = new Set(); // participant ids ticked for a verifiable poll's committee
  let committeeOptions = '';
  const verifiable = createVerifiable({ view, send, render: () => render(), describe: choiceText });

  const nameOf = (id) => view().participants.find((p) => p.id === id)?.name ?? id;

  // --- Voting ---------------------------------------------------------------------------

  /**
   * Sends `choice` for the right of `holderId` (default: the own) in poll `pollId`.
   * Resolves with `{ receipt }` or `{ error }`; either is shown in the poll.
   */
  async function cast(pollId, choice, holderId = null) {
    const self = view().self;
    const holder = holderId ?? self?.id;
    const key = rightKey(pollId, holder);
    const args = { poll_id: pollId, choice };
    if (holder !== self?.id) args.on_behalf_of = holder;
    errors.delete(key);
    sending.add(key);
    render();
    let code = 'internal';
    const result = await send('cast_vote', args, {
      onError: (c) => {
        code = c;
      },
    });
    sending.delete(key);
    confirming.delete(key);
    if (result?.receipt) {
      drafts.delete(key);
      onReceipt(pollId, holder, result.receipt);
    } else {
      errors.set(key, code);
    }
    render();
    return result?.receipt ? { receipt: result.receipt } : { error: code };
  }

  function updateDraft(key, change) {
    drafts.set(key, { ...(drafts.get(key) ?? {}), ...change });
    errors.delete(key);
    render();
  }

  function radio(group, value, checked, testid, label, onPick, extra = {}) {
    return h(
      'label',
      { className: 'choice', ...extra },
      h('input', { type: 'radio', name: group, value, checked, testid, onChange: onPick }),
      h('span', { text: label }),
    );
  }

  function answerRadios(group, current, pick, testPrefix) {
    return ANSWERS.map((a) => radio(group, a, current === a, `${testPrefix}-${a}`, t(`vote.${a}`), () => pick(a)));
  }

  function motionChoices(poll, key, draft) {
    return h(
      'div',
      { className: 'choices', role: 'radiogroup', 'aria-label': t('vote.choice') },
      answerRadios(key, draft.vote, (vote) => updateDraft(key, { vote }), 'choice'),
    );
  }

  function yesNoChoices(poll, key, draft) {
    return candidatesOf(poll).map((name, i) => {
      const pick = (a) => {
        const answers = [...(drafts.get(key)?.answers ?? [])];
        answers[i] = a;
        updateDraft(key, { answers });
      };
      return h(
        'div',
        { className: 'candidate-row', key: `${key}|c${i}`, role: 'radiogroup', 'aria-label': name, dataset: { candidate: String(i) } },
        h('span', { className: 'candidate-name', text: name }),
        h('span', { className: 'choices' }, answerRadios(`${key}|c${i}`, draft.answers?.[i], pick, 'answer')),
      );
    });
  }

  function chooseChoices(poll, key, draft) {
    const { k, global_no: globalNo, global_abstain: globalAbstain } = poll.method;
    const selected = draft.select ?? [];
    const full = selected.length >= k;
    const toggle = (i, on) => {
      const select = on ? [...selected, i] : selected.filter((x) => x !== i);
      updateDraft(key, { select, global: null });
    };
    const globals = [
      globalNo ? ['no', 'vote.globalNo', 'global-no'] : null,
      globalAbstain ? ['abstain', 'vote.globalAbstain', 'global-abstain'] : null,
    ].filter(Boolean);
    return [
      h('p', { className: 'vote-hint', text: t(`vote.${full ? 'chooseMax' : 'chooseHint'}${k === 1 ? 'One' : ''}`, { k }) }),
      candidatesOf(poll).map((name, i) => {
        const checked = selected.includes(i);
        return h(
          'label',
          { className: 'choice candidate-choice', key: `${key}|c${i}`, dataset: { candidate: String(i) } },
          h('input', {
            type: 'checkbox',
            checked,
            disabled: !checked && full,
            testid: 'candidate-choice',
            dataset: { index: String(i) },
            onChange: (ev) => toggle(i, ev.target.checked),
          }),
          h('span', { text: name }),
        );
      }),
      globals.map(([value, label, testid]) =>
        h(
          'label',
          { className: 'choice global-choice', key: `${key}|${testid}` },
          h('input', {
            type: 'checkbox',
            checked: draft.global === value,
            testid,
            onChange: (ev) => updateDraft(key, { global: ev.target.checked ? value : null, select: [] }),
          }),
          h('span', { text: t(label) }),
        ),
      ),
    ];
  }

  function choiceForm(poll, key, right) {
    const draft = drafts.get(key) ?? {};
    let controls;
    if (poll.kind === 'motion') controls = motionChoices(poll, key, draft);
    else if (poll.method?.type === 'yes_no') controls = yesNoChoices(poll, key, draft);
    else controls = chooseChoices(poll, key, draft);
    const choice = choiceOf(poll, draft);
    const submit = smallButton(t('vote.submit'), 'vote-submit', () => {
      confirming.add(key);
      if (poll.verifiable) verifiable.prepare(poll, right, choice);
      render();
    }, { iconName: 'ballot', className: 'primary' });
    submit.disabled = !choice;
    return [controls, h('div', { className: 'button-row' }, submit)];
  }

  function confirmStep(poll, key, holderId) {
    const choice = choiceOf(poll, drafts.get(key));
    const busy = sending.has(key);
    const confirm = smallButton(busy ? t('vote.sending') : t('vote.confirmYes'), 'vote-confirm', () => cast(poll.id, choice, holderId), {
      iconName: 'check',
      className: 'primary',
    });
    const back = smallButton(t('vote.back'), 'vote-back', () => {
      confirming.delete(key);
      render();
    });
    confirm.disabled = busy || !choice;
    back.disabled = busy;
    return h(
      'div',
      { className: 'vote-confirm', role: 'group' },
      h('p', { className: 'vote-confirm-text', testid: 'vote-confirm-text', text: t('vote.confirm', { choice: choice ? choiceText(poll, choice) : '' }) }),
      h('p', { className: 'vote-hint', text: t('vote.confirmHint') }),
      h('div', { className: 'button-row' }, confirm, back),
    );
  }

  async function copyReceipt(key, receipt) {
    let manual = false;
    try {
      await navigator.clipboard.writeText(receipt);
    } catch {
      manual = true; // no clipboard access (permission, insecure context): select the code instead
    }
    copied = { key, manual };
    render();
    if (!manual) return;
    const code = document.querySelector(`[data-key="${CSS.escape(key)}"] [data-testid=receipt-code]`);
    if (code) getSelection()?.selectAllChildren(code);
  }

  function receiptBlock(key, receipt) {
    if (!receipt) return h('p', { className: 'vote-done', testid: 'vote-cast-elsewhere', text: t('vote.castElsewhere') });
    const note = copied?.key === key ? t(copied.manual ? 'vote.copyManual' : 'vote.copied') : '';
    return h(
      'div',
      { className: 'receipt', testid: 'vote-receipt', dataset: { receipt } },
      h('p', { className: 'vote-counted', testid: 'vote-counted' }, icon('check'), h('span', { text: t('vote.counted') })),
      h(
        'p',
        { className: 'receipt-line' },
        h('span', { text: t('vote.receipt') }),
        h('code', { className: 'receipt-code', testid: 'receipt-code', text: groupedReceipt(receipt) }),
        h(
          'button',
          { type: 'button', className: 'button small', testid: 'copy-receipt', 'aria-label': t('vote.copyLabel'), onClick: () => copyReceipt(key, receipt) },
          icon('copy'),
          h('span', { text: t('vote.copy') }),
        ),
      ),
      h('p', { className: 'vote-hint', role: 'status', testid: 'copy-status', text: note }),
      h('p', { className: 'vote-hint', text: t('vote.receiptHint') }),
    );
  }

  function votePanel(poll, right, v) {
    const key = rightKey(poll.id, right.holder_id);
    const own = right.holder_id === v.self?.id;
    const receipt = v.receipts[poll.id]?.[right.holder_id] ?? null;
    const done = right.voted || Boolean(receipt) || (poll.verifiable && verifiable.hasCast(poll, right));
    let label = own ? t('vote.own') : t('vote.delegated', { name: nameOf(right.holder_id) });
    if (right.weight !== 1) label += ` · ${t('vote.weight', { n: right.weight })}`;
    let body = null;
    if (done && poll.verifiable) body = verifiable.castBlock(poll, right) ?? receiptBlock(key, null);
    else if (done) body = receiptBlock(key, receipt);
    else if (poll.state === 'open' && confirming.has(key) && poll.verifiable) {
      const leave = () => {
        confirming.delete(key);
        render();
      };
      body = verifiable.confirmStep(poll, right, choiceOf(poll, drafts.get(key)), { onBack: leave, onCast: () => drafts.delete(key) });
    } else if (poll.state === 'open') body = confirming.has(key) ? confirmStep(poll, key, right.holder_id) : choiceForm(poll, key, right);
    if (!body && !errors.has(key)) return null;
    return h(
      'section',
      {
        className: `vote-panel${own ? '' : ' delegated'}${done ? ' done' : ''}`,
        key,
        testid: 'vote-panel',
        dataset: { holderId: right.holder_id, delegated: String(!own), voted: String(done) },
        'aria-label': label,
      },
      h('h3', { className: 'vote-label', text: label }),
      body,
      errorLine(key),
    );
  }

  function errorLine(key) {
    const code = errors.get(key);
    return code ? h('p', { className: 'error-text', role: 'alert', testid: 'vote-error', dataset: { code }, text: errorText(code) }) : null;
  }

  function voteArea(poll, v) {
    if (poll.state === 'draft' || poll.state === 'cancelled') return null;
    const rights = poll.my_rights ?? [];
    const panels = rights.map((right) => votePanel(poll, right, v));
    // Errors of rights this participant does not hold here (e.g. a forced attempt).
    const holders = new Set(rights.map((r) => rightKey(poll.id, r.holder_id)));
    const stray = [...errors.keys()].filter((key) => key.startsWith(`${poll.id}|`) && !holders.has(key)).map(errorLine);
    const note =
      poll.state === 'open' && !rights.length && v.can(v.self, 'vote')
        ? h('p', { className: 'muted', testid: 'not-eligible', text: t('ballot.notEligible') })
        : null;
    return [panels, stray, note];
  }

  // --- Results --------------------------------------------------------------------------

  function outcome(poll, result) {
    const names = candidatesOf(poll);
    const list = (indices) => indices.map((i) => names[i] ?? String(i + 1)).join(', ');
    if (poll.kind === 'motion') {
      const accepted = Boolean(result.accepted);
      return h('p', {
        className: `outcome ${accepted ? 'accepted' : 'rejected'}`,
        testid: 'poll-outcome',
        dataset: { outcome: accepted ? 'accepted' : 'rejected' },
        text: t(accepted ? 'result.accepted' : 'result.rejected'),
      });
    }
    const elected = result.elected ?? [];
    const tied = result.tied ?? [];
    return [
      h('p', {
        className: `outcome ${elected.length ? 'accepted' : 'rejected'}`,
        testid: 'poll-outcome',
        dataset: { outcome: elected.length ? 'elected' : 'none', elected: elected.join(',') },
        text: elected.length ? t('result.elected', { names: list(elected) }) : t('result.noneElected'),
      }),
      tied.length ? h('p', { className: 'outcome-tied', testid: 'poll-tied', dataset: { tied: tied.join(',') }, text: t('result.tied', { names: list(tied) }) }) : null,
    ];
  }

  function countsTable(poll, result) {
    const choose = poll.kind === 'election' && poll.method?.type === 'choose';
    const head = h(
      'tr',
      {},
      h('th', { scope: 'col', text: '' }),
      h('th', { scope: 'col', text: t(choose ? 'result.chosen' : 'result.yes') }),
      h('th', { scope: 'col', text: t(choose ? 'result.notChosen' : 'result.no') }),
      h('th', { scope: 'col', text: t('result.abstain') }),
    );
    const rows = (result.questions ?? []).map((q, i) => {
      const c = q.counts ?? {};
      const label = poll.kind === 'motion' ? t('result.motion') : q.label;
      return h(
        'tr',
        { className: q.passed ? 'passed' : '', testid: 'result-row', dataset: { index: String(i), yes: String(c.yes), no: String(c.no), abstain: String(c.abstain), passed: String(q.passed) } },
        h('th', { scope: 'row' }, h('span', { text: label }), q.passed && poll.kind === 'election' ? h('span', { className: 'badge', text: t('result.passed') }) : null),
        h('td', { text: String(c.yes ?? 0) }),
        h('td', { text: String(c.no ?? 0) }),
        h('td', { text: String(c.abstain ?? 0) }),
      );
    });
    return h('table', { className: 'result-table', testid: 'result-table' }, h('thead', {}, head), h('tbody', {}, rows));
  }

  function namedVotes(poll) {
    if (!poll.votes?.length) return null;
    const items = poll.votes
      .map((vote) => ({ vote, name: nameOf(vote.participant_id) }))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map(({ vote, name }) =>
        h(
          'li',
          { testid: 'named-vote', dataset: { participantId: vote.participant_id } },
          h('span', { className: 'queue-name', text: name }),
          h('span', { text: `: ${choiceText(poll, vote.choice)}` }),
        ),
      );
    return h('div', { className: 'named-votes' }, h('h4', { text: t('result.votes') }), h('ul', {}, items));
  }

  async function checkReceipts(poll) {
    const result = await send('poll_receipts', { poll_id: poll.id });
    if (!result) return;
    checks.set(poll.id, { receipts: result.receipts ?? [] });
    render();
  }

  function receiptCheck(poll, v) {
    const held = Object.values(v.receipts[poll.id] ?? {});
    if (poll.state !== 'published' || !held.length) return null;
    const checked = checks.get(poll.id);
    const lines = checked
      ? held.map((receipt) => {
          const found = checked.receipts.includes(receipt);
          return h('p', {
            className: found ? 'receipt-found' : 'error-text',
            testid: 'receipt-check',
            dataset: { receipt, found: String(found) },
            text: t(found ? 'result.receiptFound' : 'result.receiptMissing', { code: groupedReceipt(receipt), n: checked.receipts.length }),
          });
        })
      : [];
    return h(
      'div',
      { className: 'receipt-checks', role: 'status' },
      smallButton(t('result.checkReceipt'), 'check-receipt', () => checkReceipts(poll), { iconName: 'check' }),
      lines,
    );
  }

  function resultView(poll, v) {
    const result = poll.result;
    if (!result) return null;
    const p = result.participation ?? {};
    return h(
      'div',
      { className: 'poll-result', testid: 'poll-result' },
      h('h4', { text: t('result.title') }),
      poll.state === 'closed' ? h('p', { className: 'notice', testid: 'result-unpublished', text: t('result.unpublished') }) : null,
      outcome(poll, result),
      countsTable(poll, result),
      h('p', {
        className: 'vote-hint',
        testid: 'result-participation',
        text: t('result.participation', { ballots: p.ballots, eligible: p.eligible_voters, weight: p.weight, eligibleWeight: p.eligible_weight }),
      }),
      poll.quorum
        ? h('p', {
            className: result.quorum_reached ? 'vote-hint' : 'error-text',
            testid: 'result-quorum',
            dataset: { reached: String(Boolean(result.quorum_reached)) },
            text: t(result.quorum_reached ? 'result.quorumReached' : 'result.quorumMissed'),
          })
        : null,
      namedVotes(poll),
      receiptCheck(poll, v),
    );
  }

  // --- Moderation -----------------------------------------------------------------------

  /**
   * A moderator's lifecycle command; a refusal is shown in the poll. `bad_request` here means
   * the poll is in another state by now, or (opening) nobody present has a vote.
   */
  async function act(cmd, poll) {
    actionErrors.delete(poll.id);
    const onError = (code) => actionErrors.set(poll.id, code === 'bad_request' ? (cmd === 'poll_open' ? 'openRefused' : 'stateChanged') : code);
    await send(cmd, { poll_id: poll.id }, { onError });
    render();
  }

  function actionError(poll) {
    const code = actionErrors.get(poll.id);
    if (!code) return null;
    const text = ['openRefused', 'stateChanged'].includes(code) ? t(`ballot.${code}`) : errorText(code);
    return h('p', { className: 'error-text', role: 'alert', testid: 'poll-error', dataset: { code }, text });
  }

  function moderatorActions(poll, v) {
    if (!v.can(v.self, 'moderate')) return null;
    // A verifiable poll that fewer than t members could decrypt stays closed: it can only be cancelled.
    const stuck = poll.state === 'closed' && poll.verifiable && !poll.result;
    const canCancel = poll.state === 'draft' || poll.state === 'open' || stuck;
    if (canCancel && cancelArmed.has(poll.id)) {
      const disarm = () => {
        cancelArmed.delete(poll.id);
        render();
      };
      return h(
        'div',
        { className: 'poll-actions confirm', role: 'group' },
        h('p', { className: 'vote-hint', text: t('ballot.cancelConfirm') }),
        smallButton(t('ballot.cancelYes'), 'poll-cancel-confirm', () => act('poll_cancel', poll).finally(disarm), { className: 'danger-text' }),
        smallButton(t('ballot.cancelNo'), 'poll-cancel-back', disarm),
      );
    }
    cancelArmed.delete(poll.id);
    let open = null;
    if (poll.state === 'draft') {
      open = smallButton(t('ballot.open'), 'poll-open', () => act('poll_open', poll), { iconName: 'play', className: 'primary' });
      // A verifiable poll opens once its committee's key exists.
      if (poll.verifiable && !verifiable.canOpen(poll)) {
        open.disabled = true;
        open.title = t('vp.openWaits');
      }
    }
    // A verifiable poll's result exists once enough members decrypted the tally.
    const publishable = poll.state === 'closed' && (!poll.verifiable || poll.result);
    const buttons = [
      open,
      poll.state === 'open' ? smallButton(t('ballot.close'), 'poll-close', () => act('poll_close', poll), { iconName: 'stop', className: 'primary' }) : null,
      publishable ? smallButton(t('ballot.publish'), 'poll-publish', () => act('poll_publish', poll), { iconName: 'up', className: 'primary' }) : null,
      canCancel
        ? smallButton(t('ballot.cancel'), 'poll-cancel', () => {
            cancelArmed.add(poll.id);
            render();
          }, { className: 'danger-text' })
        : null,
    ].filter(Boolean);
    return buttons.length ? h('div', { className: 'button-row poll-actions' }, buttons) : null;
  }

  // --- The list -------------------------------------------------------------------------

  function pollCard(poll, v) {
    const meta = [t(`ballot.kind.${poll.kind}`), t(poll.secret === false ? 'ballot.named' : 'ballot.secret'), poll.verifiable ? t('ballot.verifiable') : null]
      .filter(Boolean)
      .join(' · ');
    return h(
      'li',
      {
        className: `poll state-${poll.state}${poll.verifiable ? ' verifiable-poll' : ''}`,
        key: poll.id,
        testid: 'poll',
        dataset: { pollId: poll.id, state: poll.state, kind: poll.kind, verifiable: String(Boolean(poll.verifiable)) },
      },
      h(
        'div',
        { className: 'poll-head' },
        h('span', { className: 'poll-title', testid: 'poll-title', text: poll.title }),
        h('span', { className: `pill poll-state state-${poll.state}`, testid: 'poll-state', text: t(`ballot.state.${poll.state}`) }),
      ),
      h('p', { className: 'poll-meta', text: meta }),
      poll.kind === 'election' ? h('p', { className: 'poll-candidates', text: candidatesOf(poll).join(', ') }) : null,
      h('p', { className: 'poll-rule', testid: 'poll-rule', text: ruleText(poll) }),
      poll.state === 'open'
        ? h('p', {
            className: 'poll-progress',
            testid: 'poll-progress',
            role: 'status',
            dataset: { voted: String(poll.voted), eligible: String(poll.eligible_voters) },
            text: t('ballot.progress', { n: poll.voted, m: poll.eligible_voters }),
          })
        : null,
      verifiable.section(poll, v),
      moderatorActions(poll, v),
      actionError(poll),
      voteArea(poll, v),
      resultView(poll, v),
      verifiable.boardSection(poll),
    );
  }

  /** Whether someone can vote now: an open poll with an unused right. */
  function mayVoteNow(v) {
    return v.polls.some((p) => p.state === 'open' && (p.my_rights ?? []).some((r) => !r.voted && !v.receipts[p.id]?.[r.holder_id]));
  }

  function renderProxy(v) {
    const voter = v.can(v.self, 'vote');
    $('proxy').hidden = !voter;
    if (!voter) return;
    $('proxy-status').textContent = v.proxy ? t('proxy.status', { name: nameOf(v.proxy) }) : t('proxy.self');
    $('revoke-proxy').hidden = !v.proxy;
    $('proxy-error').textContent = !proxyError ? '' : proxyError === 'bad_request' ? t('proxy.refused') : errorText(proxyError);
    $('proxy-settings').hidden = Boolean(v.proxy);
    const candidates = v.participants.filter((p) => p.id !== v.self.id && v.can(p, 'vote'));
    const signature = JSON.stringify([candidates.map((p) => [p.id, p.name]), t('proxy.nobody')]);
    if (signature !== proxyOptions) {
      proxyOptions = signature;
      const select = $('proxy-select');
      const before = select.value;
      select.replaceChildren(...candidates.map((p) => new Option(p.name, p.id, false, p.id === before)));
      if (!candidates.length) select.append(new Option(t('proxy.nobody'), ''));
    }
    $('proxy-select').disabled = !candidates.length;
    $('set-proxy').disabled = !candidates.length;
  }

  function render() {
    const v = view();
    const moderate = v.can(v.self, 'moderate');
    const polls = v.polls.filter((p) => shown(p, moderate, v.self?.id)).reverse(); // newest first
    $('ballot-panel').hidden = !(moderate || v.can(v.self, 'vote') || polls.length);
    $('ballot-panel').classList.toggle('attention', mayVoteNow(v));
    $('poll-create').hidden = !moderate;
    if (moderate) renderCommitteeChoices(v);
    renderProxy(v);
    replaceKeepingFocus($('polls'), polls.map((p) => pollCard(p, v)));
    $('polls-empty').hidden = polls.length > 0;
  }

  // --- The moderator's form --------------------------------------------------------------

  /** Shows why the form cannot be sent (`key` of i18n.js, or `{ code }`); returns null. */
  function formError(key) {
    $('poll-form-error').textContent = !key ? '' : key.code ? errorText(key.code) : t(key);
    return null;
  }

  /** The poll definition of the form, or null (with the reason shown) when it is invalid. */
  function specFromForm() {
    const title = $('poll-title').value.trim();
    if (!title) return formError('create.needTitle');
    const spec = {
      title,
      kind: pollKind,
      secret: $('poll-secret').checked,
      majority: { rule: $('poll-rule').value, abstentions: $('poll-abstentions-counted').checked ? 'counted' : 'ignored' },
    };
    if (pollKind === 'election') {
      const candidates = $('poll-candidates').value.split('\n').map((c) => c.trim()).filter(Boolean);
      if (!candidates.length || new Set(candidates).size !== candidates.length) return formError('create.needCandidates');
      spec.candidates = candidates;
      if ($('poll-method').value === 'yes_no') {
        spec.method = { type: 'yes_no' };
      } else {
        const k = Number($('poll-k').value);
        if (!Number.isInteger(k) || k < 1 || k > candidates.length) return formError('create.badK');
        spec.method = { type: 'choose', k, global_no: $('poll-global-no').checked, global_abstain: $('poll-global-abstain').checked };
      }
    }
    if (spec.secret && $('poll-verifiable').checked) {
      const committee = committeeCandidates(view()).map((p) => p.id).filter((id) => committeeChosen.has(id));
      if (committee.length < 2 || committee.length > 9) return formError('create.badCommittee');
      const threshold = Number($('poll-threshold').value);
      if (!Number.isInteger(threshold) || threshold < 1 || threshold > committee.length) return formError('create.badThreshold');
      spec.verifiable = { committee, threshold };
    }
    const of = $('poll-quorum-of').value;
    if (of) {
      const percent = Number($('poll-quorum-percent').value);
      if (!Number.isInteger(percent) || percent < 1 || percent > 100) return formError('create.badQuorum');
      spec.quorum = { of, percent };
    }
    return spec;
  }

  /** Who may sit on a tally committee: present participants with a vote, by name. */
  function committeeCandidates(v) {
    return v.participants.filter((p) => v.can(p, 'vote')).sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }

  function renderCommitteeChoices(v) {
    const people = committeeCandidates(v);
    for (const id of [...committeeChosen]) if (!people.some((p) => p.id === id)) committeeChosen.delete(id);
    const signature = JSON.stringify([people.map((p) => [p.id, p.name]), [...committeeChosen], t('create.committeeNobody')]);
    if (signature === committeeOptions) return;
    committeeOptions = signature;
    const choices = people.map((p) =>
      h(
        'label',
        { className: 'check', key: `committee|${p.id}` },
        h('input', {
          type: 'checkbox',
          checked: committeeChosen.has(p.id),
          testid: 'committee-choice',
          dataset: { participantId: p.id },
          onChange: (ev) => {
            if (ev.target.checked) committeeChosen.add(p.id);
            else committeeChosen.delete(p.id);
            committeeOptions = '';
            renderCommitteeChoices(view());
          },
        }),
        h('span', { text: p.name }),
      ),
    );
    const n = [...committeeChosen].length;
    const count = h('p', { className: 'vote-hint', testid: 'committee-count', text: t('create.committeeCount', { n }) });
    replaceKeepingFocus($('poll-committee-list'), people.length ? [...choices, count] : [h('p', { className: 'muted', text: t('create.committeeNobody') })]);
  }

  function syncForm() {
    for (const button of document.querySelectorAll('[data-poll-kind]')) {
      button.setAttribute('aria-pressed', String(button.dataset.pollKind === pollKind));
    }
    // Only a secret poll can be verifiable: a roll call has nothing to encrypt.
    if (!$('poll-secret').checked) $('poll-verifiable').checked = false;
    $('poll-verifiable').disabled = !$('poll-secret').checked;
    $('poll-committee').hidden = !$('poll-verifiable').checked;
    $('poll-election').hidden = pollKind !== 'election';
    $('poll-choose').hidden = $('poll-method').value !== 'choose';
    $('poll-quorum-percent').disabled = !$('poll-quorum-of').value;
  }

  async function createPoll(ev) {
    ev.preventDefault();
    formError(null);
    const spec = specFromForm();
    if (!spec) return;
    const submit = $('poll-create-submit');
    submit.disabled = true;
    const result = await send('poll_create', { poll: spec }, { onError: (code) => formError(code === 'bad_request' ? 'create.invalid' : { code }) });
    submit.disabled = false;
    if (!result) return;
    $('poll-title').value = '';
    $('poll-candidates').value = '';
  }

  /** Delegates the own vote to `proxyId`, or takes it back (null). */
  async function setProxy(proxyId) {
    proxyError = null;
    // bad_request: the chosen person delegated their own vote, holds another delegation, or has no vote.
    const onError = (code) => {
      proxyError = code;
    };
    const result = await send('set_proxy', { proxy_id: proxyId }, { onError });
    if (result) onProxy(proxyId);
    render();
  }

  function wire() {
    for (const button of document.querySelectorAll('[data-poll-kind]')) {
      button.addEventListener('click', () => {
        pollKind = button.dataset.pollKind;
        syncForm();
      });
    }
    $('poll-method').addEventListener('change', syncForm);
    $('poll-quorum-of').addEventListener('change', syncForm);
    $('poll-secret').addEventListener('change', syncForm);
    $('poll-verifiable').addEventListener('change', syncForm);
    $('poll-form').addEventListener('submit', createPoll);
    $('proxy-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      if ($('proxy-select').value) setProxy($('proxy-select').value);
    });
    $('revoke-proxy').addEventListener('click', () => setProxy(null));
    syncForm();
  }

  wire();
  return { render, cast, handleEvent: verifiable.handleEvent, sync: verifiable.sync, snapshot: verifiable.snapshot };
}
