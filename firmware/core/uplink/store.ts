// The state signed updates change (deny list, issuer keyring, configuration, service time), and how it
// survives a reboot: each applied update is kept as a keyed journal record (latest wins, carried
// forward on reclaim). Keyring and configuration keep the signed update bytes and are verified again
// at boot; the deny list keeps its applied snapshot (deltas chain, so the last delta alone is not enough),
// and its RAM form is that snapshot's ids, held once (firmware/core/risk/deny-list.ts).
import { equalBytes, readU32, writeU32 } from '../../base/bytes';
import { DENY_ID_BYTES, DenyList, DenyListError } from '../risk/deny-list';
import type { IssuerKey } from '../crypto/keyring';
import { type Alg, verifySignature, type VerifyFn } from '../crypto/verify';
import type { Journal } from '../journal/journal';
import { type Log, silentLog } from '../../base/platform';
import { assert } from '../../base/assert';
import { rethrowIfProgrammerError } from '../../base/errors';
import {
  type ConfigUpdate, type FareRulesUpdate, type KeyringUpdate, type Update, UPDATE_CONFIG, UPDATE_DENY_LIST, UPDATE_FARE_RULES, UPDATE_KEYRING,
  UPDATE_TIME, UpdateError, updateKindName, verifyUpdate, MAX_WALLET_ID_BYTES,
} from './updates';

export const RECORD_DENY_LIST = 0x30;
export const RECORD_KEYRING = 0x31;
export const RECORD_CONFIG = 0x32;
/** Transit fare rules (signed update kind 6), kept as signed. */
export const RECORD_FARE_RULES = 0x0c;
export const UPDATE_RECORD_TYPES = [RECORD_DENY_LIST, RECORD_KEYRING, RECORD_CONFIG, RECORD_FARE_RULES];

export interface UpdateStoreOptions {
  journal: Journal;
  root: { alg: Alg; publicKey: Uint8Array };
  /**
   * Checks an update's signature, at load and on every upload answer: boot's primitive (native once it
   * passed the self-test; noble's P-256 in XS is ~3 million computrons, seconds on the device). Default noble.
   */
  verify?: VerifyFn;
  /** This terminal's id: a configuration update signed for another terminal is refused. */
  terminalId: string;
  log?: Log;
  /** Checks a configuration before it takes effect; throws to refuse it (the old one stays). */
  validateConfig?: (settings: Record<string, unknown>) => void;
  /** Told when state changes (at boot too), to feed the risk engine and keyring: the list itself, not a copy. */
  onDenyList?: (list: DenyList) => void;
  onKeyring?: (keys: IssuerKey[], version: number) => void;
  onConfig?: (settings: Record<string, unknown>, version: number) => void;
  onTime?: (unixSeconds: number) => void;
  /** This terminal's operator (its merchant id): fare rules signed for another are refused. */
  operatorId?: string;
  /** Checks fare rules before they take effect (throws to refuse), then hands them over. */
  validateFareRules?: (rules: Record<string, unknown>) => void;
  onFareRules?: (rules: Record<string, unknown>, version: number) => void;
  /** The version of the fare rules in force from provisioning: an update must be newer. */
  fareRulesVersion?: number;
}

export class UpdateStore {
  readonly #o: UpdateStoreOptions;
  readonly #log: Log;
  readonly #verify: VerifyFn;
  #deny = DenyList.EMPTY;
  #keyring: IssuerKey[] | undefined;
  #keyringVersion = 0;
  #config: Record<string, unknown> | undefined;
  #configVersion = 0;
  #fareRulesVersion: number;

  constructor(options: UpdateStoreOptions) {
    this.#o = options;
    this.#log = options.log ?? silentLog;
    this.#verify = options.verify ?? verifySignature;
    this.#fareRulesVersion = options.fareRulesVersion ?? 0;
  }

  get fareRulesVersion(): number {
    return this.#fareRulesVersion;
  }

  /** The versions a batch reports; the fare rules' only where they are taken (a validator). */
  get versions(): { denyListVersion: number; keyringVersion: number; configVersion: number; fareRulesVersion?: number } {
    const v = { denyListVersion: this.#deny.version, keyringVersion: this.#keyringVersion, configVersion: this.#configVersion };
    return this.#o.onFareRules ? { ...v, fareRulesVersion: this.#fareRulesVersion } : v;
  }

  get denyList(): DenyList {
    return this.#deny;
  }

  get keyring(): IssuerKey[] | undefined {
    return this.#keyring;
  }

  get config(): Record<string, unknown> | undefined {
    return this.#config;
  }

  /** Boot: restores what the journal holds (after Journal.open). A stored record that fails is logged and skipped. */
  load(): void {
    const j = this.#o.journal;
    const deny = j.latest(RECORD_DENY_LIST);
    if (deny) {
      try {
        this.#deny = decodeDenySnapshot(deny.payload);
        this.#o.onDenyList?.(this.#deny);
      } catch (e) {
        rethrowIfProgrammerError(e);
        this.#log('error', 'uplink', `stored deny list unreadable: ${(e as Error).message}`);
      }
    }
    for (const type of [RECORD_KEYRING, RECORD_CONFIG, RECORD_FARE_RULES]) {
      const r = j.latest(type);
      if (!r) continue;
      try {
        const update = verifyUpdate(r.payload, this.#o.root.alg, this.#o.root.publicKey, this.#verify);
        if (update.kind === UPDATE_CONFIG) this.#forThisTerminal(update);
        if (update.kind === UPDATE_FARE_RULES) {
          // provisioning may have brought newer rules since this one was stored
          if (update.version <= this.#fareRulesVersion) continue;
          this.#checkFareRules(update);
        }
        this.#take(update);
      } catch (e) {
        rethrowIfProgrammerError(e);
        this.#log('error', 'uplink', `stored update refused: ${(e as Error).message}`);
      }
    }
  }

  /**
   * Verifies a signed update against the root key, checks it follows the state held, makes it durable,
   * then applies it. Throws UpdateError (state unchanged) when refused.
   */
  apply(bytes: Uint8Array, batchNonce?: Uint8Array): Update {
    const update = verifyUpdate(bytes, this.#o.root.alg, this.#o.root.publicKey, this.#verify);
    switch (update.kind) {
      case UPDATE_DENY_LIST: {
        if (update.fromVersion !== this.#deny.version) {
          throw new UpdateError(`deny-list delta ${update.fromVersion}->${update.version} does not follow version ${this.#deny.version}`);
        }
        // A wallet id is 8 bytes (the certificate's): an id of another length can deny no wallet, and
        // refusing the whole delta would leave every later one refused too.
        const wallet = (ids: Uint8Array[]) => ids.filter((id) => id.length === DENY_ID_BYTES);
        const odd = update.add.length + update.remove.length - wallet(update.add).length - wallet(update.remove).length;
        if (odd > 0) this.#log('warn', 'uplink', `deny-list delta ${update.version}: ${odd} ids not of ${DENY_ID_BYTES} bytes skipped`);
        assert(update.version > this.#deny.version, 'the deny-list version only rises');
        const next = this.#deny.applied(update.version, wallet(update.add), wallet(update.remove));
        const snapshot = encodeDenySnapshot(next);
        if (snapshot.length > this.#o.journal.maxValueBytes(RECORD_DENY_LIST)) {
          throw new UpdateError(`deny list of ${next.size} entries exceeds what the journal stores`);
        }
        this.#o.journal.appendSync(RECORD_DENY_LIST, snapshot);
        this.#deny = next;
        this.#o.onDenyList?.(next);
        break;
      }
      case UPDATE_KEYRING:
        if (update.version <= this.#keyringVersion) throw new UpdateError(`keyring version ${update.version} is not newer than ${this.#keyringVersion}`);
        this.#store(RECORD_KEYRING, bytes);
        this.#take(update);
        break;
      case UPDATE_CONFIG:
        if (update.version <= this.#configVersion) throw new UpdateError(`config version ${update.version} is not newer than ${this.#configVersion}`);
        this.#forThisTerminal(update);
        try {
          this.#o.validateConfig?.(update.settings);
        } catch (e) {
          throw new UpdateError(`config version ${update.version} refused: ${(e as Error).message}`);
        }
        this.#store(RECORD_CONFIG, bytes);
        this.#take(update);
        break;
      case UPDATE_FARE_RULES:
        if (update.version <= this.#fareRulesVersion) throw new UpdateError(`fare rules version ${update.version} is not newer than ${this.#fareRulesVersion}`);
        this.#checkFareRules(update);
        this.#store(RECORD_FARE_RULES, bytes);
        this.#take(update);
        break;
      case UPDATE_TIME:
        if (!batchNonce || !equalBytes(update.nonce, batchNonce)) throw new UpdateError('service time answers another batch');
        this.#o.onTime?.(update.unixSeconds);
        break;
    }
    // a time update has no version of its own (the batch nonce binds it), and onTime logs what became of it
    if (update.kind !== UPDATE_TIME) this.#log('info', 'uplink', `applied ${updateKindName(update.kind)} update version ${update.version}`);
    return update;
  }

  #forThisTerminal(update: ConfigUpdate): void {
    if (update.terminalId !== this.#o.terminalId) {
      throw new UpdateError(`config version ${update.version} is signed for terminal ${update.terminalId}, not ${this.#o.terminalId}`);
    }
  }

  #checkFareRules(update: FareRulesUpdate): void {
    if (update.operatorId !== this.#o.operatorId) {
      throw new UpdateError(`fare rules version ${update.version} are signed for operator ${update.operatorId}, not ${this.#o.operatorId ?? 'this terminal'}`);
    }
    try {
      this.#o.validateFareRules?.(update.rules);
    } catch (e) {
      throw new UpdateError(`fare rules version ${update.version} refused: ${(e as Error).message}`);
    }
  }

  #store(type: number, bytes: Uint8Array): void {
    if (bytes.length > this.#o.journal.maxPayload) throw new UpdateError(`update of ${bytes.length} bytes exceeds what the journal stores`);
    this.#o.journal.appendSync(type, bytes);
  }

  #take(update: Update): void {
    // apply() refused anything not newer, and load() meets each kind once from version 0
    if (update.kind === UPDATE_KEYRING) {
      const u = update as KeyringUpdate;
      assert(u.version > this.#keyringVersion, 'the keyring version only rises');
      this.#keyring = u.keys;
      this.#keyringVersion = u.version;
      this.#o.onKeyring?.(u.keys, u.version);
    } else if (update.kind === UPDATE_CONFIG) {
      const u = update as ConfigUpdate;
      assert(u.version > this.#configVersion, 'the configuration version only rises');
      this.#config = u.settings;
      this.#configVersion = u.version;
      this.#o.onConfig?.(u.settings, u.version);
    } else if (update.kind === UPDATE_FARE_RULES) {
      assert(update.version > this.#fareRulesVersion, 'the fare rules version only rises');
      this.#fareRulesVersion = update.version;
      this.#o.onFareRules?.(update.rules, update.version);
    }
  }
}

/**
 * The applied deny list, compactly: version (u32), then runs of ids of one length: length (u8), count
 * (u16), the ids back to back, ascending. Wallet ids are all 8 bytes, so 10,000 of them take 80,007
 * bytes: the journal spreads it over records (docs/JOURNAL.md, J13).
 */
export function encodeDenySnapshot(list: DenyList): Uint8Array {
  const ids = list.bytes;
  const count = list.size;
  const runs = Math.ceil(count / 0xffff);
  const out = new Uint8Array(4 + 3 * runs + ids.length);
  writeU32(out, 0, list.version);
  let at = 4;
  for (let first = 0; first < count; first += 0xffff) {
    const n = Math.min(0xffff, count - first);
    out[at] = DENY_ID_BYTES;
    out[at + 1] = n >> 8;
    out[at + 2] = n & 0xff;
    out.set(ids.subarray(first * DENY_ID_BYTES, (first + n) * DENY_ID_BYTES), at + 3);
    at += 3 + n * DENY_ID_BYTES;
  }
  return out;
}

/**
 * The stored list (untrusted bytes). One run of 8-byte ids, as this firmware writes up to 65,535 of
 * them, is held where it lies, not copied. Runs of other lengths (firmware before wallet ids were
 * required to be 8 bytes kept any) deny no wallet and are dropped. Throws UpdateError.
 */
export function decodeDenySnapshot(bytes: Uint8Array): DenyList {
  if (bytes.length < 4) throw new UpdateError('deny-list snapshot too short');
  const runs: Uint8Array[] = [];
  let at = 4;
  while (at < bytes.length) {
    if (at + 3 > bytes.length) throw new UpdateError('deny-list snapshot truncated');
    const n = bytes[at]!;
    const count = (bytes[at + 1]! << 8) | bytes[at + 2]!;
    at += 3;
    if (n === 0 || n > MAX_WALLET_ID_BYTES || count === 0 || at + n * count > bytes.length) throw new UpdateError('deny-list snapshot truncated');
    if (n === DENY_ID_BYTES) runs.push(bytes.subarray(at, at + n * count));
    at += n * count;
  }
  let ids = runs.length === 1 ? runs[0]! : new Uint8Array(0);
  if (runs.length > 1) {
    ids = new Uint8Array(runs.reduce((sum, r) => sum + r.length, 0));
    let o = 0;
    for (const r of runs) {
      ids.set(r, o);
      o += r.length;
    }
  }
  try {
    return new DenyList(readU32(bytes, 0), ids);
  } catch (e) {
    if (e instanceof DenyListError) throw new UpdateError(`deny-list snapshot: ${e.message}`);
    throw e;
  }
}
