// The simulator's script format: a JSON file of timed events, so a run is repeatable and can be
// checked by a test. Times are milliseconds of simulated time since the start of the run.
//
// { "mode": "transit",                         optional: the terminal this script needs (default: --mode)
//   "setup": { "risk": { "maxTransaction": 10000 }, "journalBlocks": 8,
//              "fares": { "rules": { ...fare rules... }, "station": 1 } },
//                                               optional: a terminal provisioned with these risk settings and
//                                               journal size (blocks of 4 KiB), in a demo world of its own
//   "events": [
//     { "at": 0,    "key": "1250#" },           keypad keys, typed one after another ("C" cancel, "#" enter)
//     { "at": 100,  "tap": "alice-card" },      a wallet enters the reader's field
//     { "at": 900,  "remove": true },           the wallet leaves the field
//     { "at": 1000, "network": "up" },          Wi-Fi comes back ("down" loses it)
//     { "at": 1200, "power": "cut" },           power cut now; "cut-during-append" cuts in the next flash write;
//                                               "cut-after-pay" in the first write after the wallet answered PAY
//     { "at": 1300, "power": "on" },            power back: the firmware boots again from flash
//     { "at": 2000, "clock": "2026-11-23T10:00:00Z" },  the wall clock jumps (null: time unknown)
//     { "at": 3000, "report": "lost", "wallet": "bob-phone" },  the owner reports a wallet lost to the service
//     { "at": 3500, "elsewhere": "alice-card", "amount": 1000 },  the wallet pays at another terminal, which uploads
//     { "at": 3800, "gate": 3 },                transit with setup.fares: the rider walks to the validator at station 3
//     { "at": 4000, "note": "free text, printed in the output" } ] }
//
// Every event may carry "note". Unknown fields are errors, so a typo cannot silently do nothing.
import { TaplineError } from '../../firmware/base/errors';
import { FareRulesError, parseFareRules } from '../../firmware/core/fares/rules';

export type SimEvent =
  | { at: number; note?: string; key: string }
  | { at: number; note?: string; tap: string }
  | { at: number; note?: string; remove: true }
  | { at: number; note?: string; network: 'up' | 'down' }
  | { at: number; note?: string; power: 'cut' | 'cut-during-append' | 'cut-after-pay' | 'on' }
  | { at: number; note?: string; clock: string | null }
  | { at: number; note?: string; report: 'lost'; wallet: string }
  | { at: number; note?: string; elsewhere: string; amount: number }
  | { at: number; note?: string; gate: number }
  | { at: number; note: string };

export interface SimSetup {
  /** Overrides of the default risk configuration (firmware/core/risk/config.ts). */
  risk?: Record<string, unknown>;
  /** Size of the journal partition in 4 KiB blocks (default 256: 1 MiB). */
  journalBlocks?: number;
  /** Transit: fare rules (firmware/core/fares/rules.ts), signed with the demo root key, and the gate's station. */
  fares?: { rules: Record<string, unknown>; station: number };
}

export interface SimScript {
  mode?: 'merchant' | 'transit';
  setup?: SimSetup;
  events: SimEvent[];
}

export class ScriptError extends TaplineError {
  override readonly name: string = 'ScriptError';
}

const KEYS = /^[0-9A-D*#C]+$/;
const KINDS = ['key', 'tap', 'remove', 'network', 'power', 'clock', 'report', 'elsewhere', 'gate'] as const;

/** Parses a script; with `wallets`, a name outside it is refused here, before the terminal boots. */
export function parseScript(text: string, source = 'script', wallets?: readonly string[]): SimScript {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ScriptError(`${source}: not JSON: ${(error as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || !Array.isArray((raw as SimScript).events)) {
    throw new ScriptError(`${source}: expected an object with an "events" array`);
  }
  const { mode, setup, events, ...rest } = raw as SimScript & Record<string, unknown>;
  if (Object.keys(rest).length) throw new ScriptError(`${source}: unknown field "${Object.keys(rest)[0]}"`);
  if (mode !== undefined && mode !== 'merchant' && mode !== 'transit') {
    throw new ScriptError(`${source}: "mode" is "merchant" or "transit"`);
  }
  if (setup !== undefined) {
    if (!setup || typeof setup !== 'object') throw new ScriptError(`${source}: "setup" must be an object`);
    const { risk, journalBlocks, fares, ...other } = setup as SimSetup & Record<string, unknown>;
    if (fares !== undefined) {
      if (mode !== 'transit') throw new ScriptError(`${source}: setup.fares needs "mode": "transit"`);
      const f = fares as { rules?: unknown; station?: unknown };
      if (!f || typeof f.rules !== 'object' || !Number.isInteger(f.station)) throw new ScriptError(`${source}: setup.fares is { "rules": {...}, "station": N }`);
      try {
        parseFareRules(f.rules);
      } catch (e) {
        if (e instanceof FareRulesError) throw new ScriptError(`${source}: setup.fares.rules: ${e.message}`);
        throw e;
      }
    }
    if (Object.keys(other).length) throw new ScriptError(`${source}: unknown setup field "${Object.keys(other)[0]}"`);
    if (risk !== undefined && (!risk || typeof risk !== 'object' || Array.isArray(risk))) throw new ScriptError(`${source}: setup.risk must be an object`);
    if (journalBlocks !== undefined && (!Number.isInteger(journalBlocks) || journalBlocks < 4 || journalBlocks > 4096)) {
      throw new ScriptError(`${source}: setup.journalBlocks must be a whole number of blocks from 4 to 4096`);
    }
  }
  let last = 0;
  events.forEach((event, i) => {
    const where = `${source}: event ${i}`;
    if (!event || typeof event !== 'object') throw new ScriptError(`${where}: not an object`);
    const e = event as Record<string, unknown>;
    if (typeof e.at !== 'number' || !(e.at >= 0)) throw new ScriptError(`${where}: "at" must be a time in ms >= 0`);
    if (e.at < last) throw new ScriptError(`${where}: events must be in time order (${e.at} < ${last})`);
    last = e.at;
    if (e.note !== undefined && typeof e.note !== 'string') throw new ScriptError(`${where}: "note" must be text`);
    const kinds = KINDS.filter((k) => k in e);
    if (kinds.length > 1) throw new ScriptError(`${where}: one action per event, got ${kinds.join(' and ')}`);
    const extra: Record<string, string[]> = { report: ['wallet'], elsewhere: ['amount'] };
    const allowed = new Set(['at', 'note', ...kinds, ...(extra[kinds[0] ?? ''] ?? [])]);
    for (const k of Object.keys(e)) if (!allowed.has(k)) throw new ScriptError(`${where}: unknown field "${k}"`);
    if (kinds.length === 0 && e.note === undefined) throw new ScriptError(`${where}: no action`);
    const named = kinds[0] === 'tap' ? e.tap : kinds[0] === 'elsewhere' ? e.elsewhere : kinds[0] === 'report' ? e.wallet : undefined;
    if (wallets && typeof named === 'string' && !wallets.includes(named)) {
      throw new ScriptError(`${where}: no wallet named "${named}" (the demo wallets are ${wallets.join(', ')})`);
    }
    switch (kinds[0]) {
      case 'key':
        if (typeof e.key !== 'string' || !KEYS.test(e.key)) throw new ScriptError(`${where}: keys are 0-9 A-D * # C`);
        break;
      case 'tap':
        if (typeof e.tap !== 'string' || !e.tap) throw new ScriptError(`${where}: "tap" names a wallet`);
        break;
      case 'remove':
        if (e.remove !== true) throw new ScriptError(`${where}: "remove" must be true`);
        break;
      case 'network':
        if (e.network !== 'up' && e.network !== 'down') throw new ScriptError(`${where}: network is "up" or "down"`);
        break;
      case 'power':
        if (!['cut', 'cut-during-append', 'cut-after-pay', 'on'].includes(e.power as string)) {
          throw new ScriptError(`${where}: power is "cut", "cut-during-append", "cut-after-pay" or "on"`);
        }
        break;
      case 'clock':
        if (e.clock !== null && (typeof e.clock !== 'string' || Number.isNaN(Date.parse(e.clock)))) {
          throw new ScriptError(`${where}: clock is an ISO date or null`);
        }
        break;
      case 'elsewhere':
        if (typeof e.elsewhere !== 'string' || !Number.isSafeInteger(e.amount) || (e.amount as number) <= 0) {
          throw new ScriptError(`${where}: "elsewhere" names a wallet and needs a positive "amount" in minor units`);
        }
        break;
      case 'gate':
        if (!Number.isInteger(e.gate) || (e.gate as number) < 0 || (e.gate as number) > 65535) throw new ScriptError(`${where}: "gate" is a station number`);
        break;
      case 'report':
        if (e.report !== 'lost' || typeof e.wallet !== 'string') {
          throw new ScriptError(`${where}: report is "lost" with a "wallet"`);
        }
        break;
    }
  });
  return { mode, setup, events: events as SimEvent[] };
}
