// The risk engine's wallet table (firmware/core/risk/wallet-table.ts) against the Map it replaced, run
// unchanged on Node (test/wallet-table.test.ts) and on XS (test/xs/wallet-table.guest.ts): random
// approvals over more wallets than the table holds (ids in sequence, so they crowd the same buckets,
// and at random), each followed by a lookup of every wallet the model remembers and of some it forgot;
// checkpoints along the way, full (encodeInto, load) and deltas of the last full one (encodeChangedInto,
// forgottenIds, load with the delta). The report counts what was checked; any difference
// throws with the step it happened at.
import { WalletTable, WALLET_RECORD, type WalletState } from '../firmware/core/risk/wallet-table';

/** xorshift32: the same sequence on both engines. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

function same(a: WalletState | undefined, b: WalletState | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  // the table keeps the last tap's ms in tenths of a second, rounded up
  const tenths = (ms: number | undefined) => (ms === undefined ? undefined : Math.ceil(ms / 100) * 100);
  return a.counter === b.counter && a.day === b.day && a.dayTotal === b.dayTotal && tenths(a.lastTapMs) === tenths(b.lastTapMs) && (a.lastTapTime || undefined) === (b.lastTapTime || undefined);
}

/** The table's full checkpoint, checked to list the model's wallets oldest first. */
function inModelOrder(table: WalletTable, model: Map<string, WalletState>, where: string): Uint8Array {
  const bytes = new Uint8Array(table.encodedLength);
  table.encodeInto(bytes, 0);
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const k of model.keys()) {
    const got = hex8(view.getUint32(at)) + hex8(view.getUint32(at + 4));
    if (got !== k) throw new Error(`${where} record ${at / WALLET_RECORD} is ${got}, model ${k}`);
    at += WALLET_RECORD;
  }
  return bytes;
}

export function walletTableModel(o: { seed: number; capacity: number; wallets: number; steps: number; sequential: boolean }): string {
  const next = random(o.seed);
  const ids: string[] = [];
  for (let i = 0; i < o.wallets; i++) ids.push(o.sequential ? hex8(0) + hex8(i) : hex8(next() * 2 ** 32) + hex8(next() * 2 ** 32));
  let table = new WalletTable(o.capacity);
  const model = new Map<string, WalletState>();
  let lookups = 0;
  let checkpoints = 0;
  let deltas = 0;
  let forgotten = 0;
  /** The last full checkpoint's table, which a delta counts from. */
  let base: Uint8Array | undefined;
  for (let step = 0; step < o.steps; step++) {
    const id = ids[Math.floor(next() * ids.length)]!;
    const w: WalletState = {
      counter: Math.floor(next() * 2 ** 32),
      day: next() < 0.1 ? 0xffffffff : 20000 + Math.floor(next() * 3),
      dayTotal: Math.floor(next() * 2 ** 48),
      lastTapMs: next() < 0.5 ? undefined : Math.floor(next() * 1e9),
      lastTapTime: next() < 0.3 ? undefined : 1.7e9 + Math.floor(next() * 1e6),
    };
    table.set(id, w);
    model.delete(id);
    model.set(id, w);
    if (model.size > o.capacity) {
      model.delete(model.keys().next().value!);
      forgotten++;
    }
    if (table.size !== model.size) throw new Error(`step ${step}: table holds ${table.size}, model ${model.size}`);
    // every wallet remembered: after each step for a small table, every 50th for a large one
    const sweep = o.capacity <= 64 || step % 50 === 0;
    for (const k of sweep ? model.keys() : []) {
      lookups++;
      if (!same(table.get(k), model.get(k))) throw new Error(`step ${step}: wallet ${k} reads ${JSON.stringify(table.get(k))}, model ${JSON.stringify(model.get(k))}`);
    }
    for (let i = 0; i < 4; i++) {
      const k = ids[Math.floor(next() * ids.length)]!;
      lookups++;
      if (!same(table.get(k), model.get(k))) throw new Error(`step ${step}: wallet ${k} reads ${JSON.stringify(table.get(k))}, model ${JSON.stringify(model.get(k))}`);
    }
    if (next() < 0.01) {
      // payments made with the time unknown, dated once it is known: a change no delta can say
      table.redate(0xffffffff, 20001);
      for (const [k, v] of model) if (v.day === 0xffffffff) model.set(k, { ...v, day: 20001 });
    }
    if (next() < 0.05) {
      // A checkpoint and a reboot: the records oldest first, the boot's ms forgotten. Half the time a
      // delta of the last full checkpoint, when the table can say one (and its newest records are the
      // wallets the model changed since).
      if (base && table.changedLength !== undefined && next() < 0.5) {
        const changed = new Uint8Array(table.changedLength);
        table.encodeChangedInto(changed, 0);
        const delta = { forgotten: table.forgottenIds(), changed };
        table = new WalletTable(o.capacity);
        table.load(base, delta);
        if (table.size !== model.size) throw new Error(`step ${step}: the delta's table holds ${table.size}, model ${model.size}`);
        deltas++;
      } else {
        const bytes = inModelOrder(table, model, `step ${step}: checkpoint`);
        table.rebase();
        base = bytes;
        table = new WalletTable(o.capacity);
        table.load(bytes);
      }
      for (const [k, v] of model) model.set(k, { ...v, lastTapMs: undefined });
      // the table's recency must survive too: the next full checkpoint lists the model's order
      inModelOrder(table, model, `step ${step}: after the reboot`);
      checkpoints++;
    }
  }
  return `${o.steps} approvals, ${forgotten} forgotten, ${lookups} lookups, ${checkpoints} checkpoints (${deltas} of them deltas): all as the model`;
}

/** What the tests run: a small table crowded by ids in sequence, and a transit gate's 1,000 of random ids. */
export const WALLET_TABLE_RUNS = [
  { seed: 1, capacity: 7, wallets: 40, steps: 3000, sequential: true },
  { seed: 2, capacity: 64, wallets: 100, steps: 2000, sequential: false },
  { seed: 3, capacity: 1000, wallets: 1500, steps: 3000, sequential: true },
];
