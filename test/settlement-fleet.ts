// A deterministic fleet: N terminals running the payment core (Tap, risk engine, verifier) take P
// payments from W wallets, some of them cloned, through offline stretches (outages) and uploads whose
// answers are lost, against the settlement service on loopback; one virtual clock drives terminals and
// service alike. Signatures are real: wallets sign and terminals verify with node:crypto (the core's
// verifier with a faster primitive of the same contract), so a fleet of this size runs in minutes.
// What it returns is what the merchants, the issuer and the operator care about: clones caught out of
// clones that double-spent, wallets wrongly flagged, receipts lost or credited twice, approvals left
// uncredited and why, and money beyond the caps.
import { RESULT_DUPLICATE } from '../firmware/core/uplink/wire';
import { NodeVerifier } from '../host/settlement/verify';
import { nodeSigner } from '../host/settlement/sign';
import { WalletEmulator } from '../host/wallet/emulator';
import { seededRandom } from '../host/wallet/random';
import { World, unixNow, type Backend, type TestTerminal, type WalletSpec } from './settlement-fixtures';

export interface FleetOptions {
  terminals: number;
  wallets: number;
  payments: number;
  /** Share of wallets copied onto a second element that then spends too. */
  cloneShare: number;
  /** Probability that a terminal is cut off at a given upload (it stays offline for a while). */
  outage: number;
  /** Probability that an upload's answer never reaches the terminal. */
  lostAnswer: number;
  /** A terminal uploads once this many receipts are pending (and it is online). */
  uploadEvery: number;
  seed: string;
}

export interface FleetResult {
  payments: number;
  approved: number;
  declined: Record<string, number>;
  clonesDoubleSpent: number;
  clonesCaught: number;
  wronglyFlagged: number;
  receiptsLost: number;
  creditedTwice: number;
  uncredited: Record<string, number>;
  /** Approved at a terminal that could not have known the reason it was refused credit for. */
  uncreditedUnknowable: number;
  beyondCaps: number;
  outcomes: Record<string, number>;
  counterGaps: number;
  uploads: number;
  lostAnswers: number;
  networkErrors: number;
  seconds: { payments: number; uploads: number };
}

const BATCH = 64;

export async function runFleet(backend: Backend, o: FleetOptions): Promise<FleetResult> {
  const random = seededRandom(o.seed);
  const below = (n: number) => {
    const b = random(4);
    return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) % n;
  };
  const chance = (p: number) => below(1_000_000) < p * 1_000_000;

  let now = unixNow();
  const world = await World.create({ seed: `fleet ${o.seed}` });
  await world.start(await backend.fresh(), { clock: () => now });
  const node = new NodeVerifier();
  const verify = (alg: Parameters<NodeVerifier['verify']>[0], key: Uint8Array, m: Uint8Array, s: Uint8Array) => node.verify(alg, key, m, s);
  try {
    const terminals: TestTerminal[] = [];
    for (let t = 0; t < o.terminals; t++) terminals.push(await world.terminal(`F${t}`, { wallTime: now, verify }));
    const specs: WalletSpec[] = [];
    const elements: WalletEmulator[] = [];
    for (let w = 0; w < o.wallets; w++) {
      const spec = world.wallet({ balance: 1e12 });
      specs.push(spec);
      elements.push(new WalletEmulator({ ...spec.options, sign: nodeSigner(spec.emulator().info.alg, spec.options.secretKey) }));
    }
    // Clones: a copy of the element's state, made at a random point of the run, that spends from then on.
    const cloneAt = new Map<number, number>();
    for (let w = 0; w < o.wallets; w++) if (chance(o.cloneShare)) cloneAt.set(w, below(o.payments));
    const copies = new Map<number, WalletEmulator>();
    const signedBy = new Map<string, { original: Set<number>; copy: Set<number> }>();
    const offlineUntil = new Array<number>(o.terminals).fill(0);
    const approved: { terminalId: string; seq: number; amount: number }[] = [];
    const declined: Record<string, number> = {};
    let beyondCaps = 0;
    let uploads = 0;
    let lostAnswers = 0;
    let networkErrors = 0;
    let uploadSeconds = 0;

    const upload = async (t: TestTerminal, final: boolean) => {
      while (t.journal.records.length > 0) {
        const body = t.batch({ records: t.journal.records.slice(0, BATCH) });
        const started = process.hrtime.bigint();
        uploads++;
        if (!final && chance(o.lostAnswer)) {
          // Settled at the service; the answer is lost on the way back. The terminal keeps everything.
          await fetch(`${world.url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body })
            .then((r) => r.arrayBuffer())
            .catch(() => undefined);
          lostAnswers++;
          uploadSeconds += Number(process.hrtime.bigint() - started) / 1e9;
          return;
        }
        let up;
        try {
          up = await t.upload(world.url, body);
        } catch (e) {
          // The connection dropped (an idle keep-alive closed by the service): the terminal tries again.
          if (!(e instanceof TypeError)) throw e;
          networkErrors++;
          if (final) continue;
          return;
        }
        uploadSeconds += Number(process.hrtime.bigint() - started) / 1e9;
        if (up.status !== 200) throw new Error(`${t.terminalId}: upload refused ${up.status} ${JSON.stringify(up.error)}`);
        if (!final) return;
      }
    };

    const paymentsStarted = process.hrtime.bigint();
    let uploadTime = 0;
    for (let i = 0; i < o.payments; i++) {
      now += 1 + below(3);
      const ti = below(o.terminals);
      const t = terminals[ti]!;
      const lag = now - t.clock.wallTime()!;
      if (lag > 0) t.clock.advance(lag * 1000);
      const w = below(o.wallets);
      const at = cloneAt.get(w);
      if (at !== undefined && at <= i && !copies.has(w)) {
        const e = elements[w]!;
        copies.set(w, new WalletEmulator({ ...specs[w]!.options, balance: e.balance, counter: e.counter, sign: nodeSigner(e.info.alg, specs[w]!.options.secretKey) }));
      }
      const copy = copies.get(w);
      const useCopy = copy !== undefined && chance(0.5);
      const element = useCopy ? copy! : elements[w]!;
      const amount = 100 * (1 + below(200));
      const result = await t.pay(element, amount);
      if (result.kind === 'approved') {
        const seq = t.journal.records[t.journal.records.length - 1]!.seq;
        approved.push({ terminalId: t.terminalId, seq, amount });
        if (amount > t.risk.config.maxTransaction || t.risk.offlineAmount > t.risk.config.maxOfflineAmount) beyondCaps++;
        const id = element.info.walletId;
        const s = signedBy.get(id) ?? { original: new Set<number>(), copy: new Set<number>() };
        (useCopy ? s.copy : s.original).add(element.counter);
        signedBy.set(id, s);
      } else {
        const code = result.kind === 'declined' ? result.decline.code : result.kind;
        declined[code] = (declined[code] ?? 0) + 1;
      }
      if (t.journal.records.length >= o.uploadEvery && now >= offlineUntil[ti]!) {
        if (chance(o.outage)) {
          offlineUntil[ti] = now + 600 + below(6 * 3600); // cut off for ten minutes to six hours
        } else {
          const before = process.hrtime.bigint();
          await upload(t, false);
          uploadTime += Number(process.hrtime.bigint() - before) / 1e9;
        }
      }
    }
    const paymentSeconds = Number(process.hrtime.bigint() - paymentsStarted) / 1e9 - uploadTime;
    // Back online: every terminal uploads everything, twice (the second time only duplicates or nothing).
    for (const t of terminals) await upload(t, true);
    for (const t of terminals) {
      const again = await t.upload(world.url, t.batch({ records: [] })).catch(() => t.upload(world.url, t.batch({ records: [] })));
      if (again.response!.results.some((r) => r.status !== RESULT_DUPLICATE)) throw new Error('an empty batch settled something');
    }

    const db = world.service!.settlement.db;
    const rows = await db.read((tx) =>
      tx.all<{ terminal_id: string; terminal_seq: number; wallet_id: string | null; outcome: string; credited: number }>(
        'SELECT terminal_id, terminal_seq, wallet_id, outcome, credited FROM receipts',
      ),
    );
    const stored = new Map(rows.map((r) => [`${r.terminal_id}#${Number(r.terminal_seq)}`, r]));
    const receiptsLost = approved.filter((a) => !stored.has(`${a.terminalId}#${a.seq}`)).length;
    const creditedTwice = Number(
      (await db.read((tx) =>
        tx.get<{ n: number }>(
          `SELECT COUNT(*) AS n FROM (SELECT receipt_id FROM ledger WHERE account LIKE 'merchant:%' GROUP BY receipt_id HAVING COUNT(*) > 1) AS d`,
        ),
      ))!.n,
    );
    const outcomes: Record<string, number> = {};
    const uncredited: Record<string, number> = {};
    for (const r of rows) {
      outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
      if (!Number(r.credited)) uncredited[r.outcome] = (uncredited[r.outcome] ?? 0) + 1;
    }
    // Every terminal here is honest: it approves only wallets missing from the deny list it holds, so
    // any approval left uncredited is one the terminal could not have known to refuse.
    const uncreditedUnknowable = Object.values(uncredited).reduce((a, b) => a + b, 0);
    const findings = await world.service!.settlement.findings();
    const flagged = new Set(findings.filter((f) => f.kind !== 'counter-gap').map((f) => f.walletId));
    const cloneIds = new Set([...copies.keys()].map((w) => elements[w]!.info.walletId));
    let clonesDoubleSpent = 0;
    let clonesCaught = 0;
    for (const id of cloneIds) {
      const s = signedBy.get(id);
      if (!s) continue;
      // Both count on from the counter the copy was taken at: both spent once each shares a counter.
      if (![...s.copy].some((c) => s.original.has(c))) continue;
      clonesDoubleSpent++;
      if (flagged.has(id)) clonesCaught++;
    }
    const wronglyFlagged = [...flagged].filter((id) => !cloneIds.has(id)).length;
    return {
      payments: o.payments,
      approved: approved.length,
      declined,
      clonesDoubleSpent,
      clonesCaught,
      wronglyFlagged,
      receiptsLost,
      creditedTwice,
      uncredited,
      uncreditedUnknowable,
      beyondCaps,
      outcomes,
      counterGaps: findings.filter((f) => f.kind === 'counter-gap').length,
      uploads,
      lostAnswers,
      networkErrors,
      seconds: { payments: paymentSeconds, uploads: uploadSeconds },
    };
  } finally {
    await world.close();
  }
}
