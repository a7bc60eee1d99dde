// The terminal's online side, as the device app wires it: the upload state machine
// (firmware/core/uplink) over the platform's HttpTransport, its signed updates fed to the parts that use
// them (issuer keys to the keyring, the deny list to the risk engine, the service's time to the clock),
// and the offline totals reset once everything journaled has been acknowledged. Platform-free.
import { fromHex } from '../base/bytes';
import type { Clock, Log, RandomBytes } from '../base/platform';
import { algId } from '../core/provisioning';
import { Uplink } from '../core/uplink/uplink';
import { UpdateStore } from '../core/uplink/store';
import type { DenyList } from '../core/risk/deny-list';
import type { HttpTransport } from '../core/uplink/transport';
import type { Booted } from './boot';
import { FIRMWARE_VERSION } from './version';
import { faresAt } from './fares';
import { parseFareRules } from '../core/fares/rules';
import { errorText, isProgrammerError, rethrowIfProgrammerError } from '../base/errors';
import { isoTime } from '../ui/text';
import { encodeIntent, encodeRelease, RECORD_RELEASE } from '../core/protocol/intent';
import { INTENT_RECOVERED, type IntentOutcome } from '../core/uplink/wire';

export interface OnlineOptions {
  booted: Booted;
  transport: HttpTransport;
  clock: Clock & { setWallTime?: (seconds: number) => void };
  random: RandomBytes;
  log: Log;
  /** A bug in the background upload: the device app restarts (firmware/app/restart.ts). */
  onBug?: (e: unknown) => void;
}

export class Online {
  readonly uplink: Uplink;
  readonly store: UpdateStore;
  readonly #o: OnlineOptions;
  #acknowledged = 0;

  constructor(o: OnlineOptions) {
    this.#o = o;
    const { booted, log } = o;
    const p = booted.provisioning;
    const root = { alg: algId(p.rootPublicKey.alg), publicKey: fromHex(p.rootPublicKey.publicKey) };
    // boot's signature primitive (native once it passed the self-test) for the stored updates checked
    // again at each start and for every upload answer: noble's P-256 in XS is seconds on the device
    const verify = booted.verifier.verify;
    this.store = new UpdateStore({
      journal: booted.journal,
      root,
      verify,
      terminalId: p.terminalId,
      log,
      onKeyring: (keys, version) => {
        booted.keyring.replace(keys);
        log('info', 'uplink', `issuer keyring version ${version}: ${keys.length} keys`);
      },
      onDenyList: (list) => this.#denyList(list),
      operatorId: p.merchantId,
      fareRulesVersion: booted.fareRulesVersion,
      validateFareRules: (rules) => {
        if (p.mode !== 'transit') throw new Error('a merchant terminal takes no fare rules');
        parseFareRules(rules);
      },
      // a validator asks for newer fare rules at each upload (the version it holds goes in the batch)
      ...(p.mode === 'transit'
        ? {
            onFareRules: (rules: Record<string, unknown>, version: number) => {
              booted.terminal.setFares(faresAt(p, rules, version));
              log('info', 'fares', `fare rules version ${version} in force`);
            },
          }
        : {}),
      onTime: (seconds) => {
        try {
          // The clock never moves backwards: a signed time before what the terminal knows has passed is refused.
          if (!booted.risk.observeTime(seconds, o.clock.now())) {
            const floor = booted.risk.lastKnownTime;
            // Usually a clock that ran a little fast offline; the floor then stands until real time passes it.
            log('warn', 'time', `service time ${isoTime(seconds)} is ${floor - seconds} s behind the last known time ${isoTime(floor)}: kept the later one`);
            return;
          }
          o.clock.setWallTime?.(seconds);
          log('info', 'time', `service time ${isoTime(seconds)}`);
        } catch (e) {
          rethrowIfProgrammerError(e);
          log('error', 'time', `service time ${isoTime(seconds)} refused: ${e instanceof Error ? e.message : String(e)}`);
        }
      },
    });
    this.store.load();
    this.uplink = new Uplink({
      journal: booted.journal,
      transport: o.transport,
      store: this.store,
      clock: o.clock,
      random: o.random,
      log,
      terminalId: p.terminalId,
      deviceSecretKey: fromHex(p.devicePrivateKey),
      root,
      verify,
      status: () => ({ firmware: FIRMWARE_VERSION, offlineAmount: booted.risk.offlineAmount, offlineCount: booted.risk.offlineCount }),
      intents: { open: () => booted.terminal.inDoubt.open.map(encodeIntent), settled: (o) => this.#intentSettled(o) },
    });
    this.#acknowledged = booted.journal.ackedUpTo;
  }

  // The risk engine reads the update store's list itself: one copy of 10,000 ids, not three.
  #denyList(list: DenyList): void {
    try {
      // At boot the list comes from the journal; a risk engine that holds this version already keeps it.
      if (this.#o.booted.risk.useDenyList(list)) this.#o.log('info', 'risk', `deny list version ${list.version}: ${list.size} wallets`);
    } catch (e) {
      rethrowIfProgrammerError(e);
      this.#o.log('error', 'risk', `deny list version ${list.version} not applied: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /**
   * The service settled an open intent from the wallet's log: credited there (recovered) or never
   * signed (released). Either way nothing is left for this terminal to do: a release record closes it.
   */
  async #intentSettled({ terminalSeq, outcome }: IntentOutcome): Promise<void> {
    const { terminal, journal } = this.#o.booted;
    // A tap may have closed it meanwhile (RECALL at the next contact): then the service's answer is moot.
    if (!terminal.inDoubt.open.some((i) => i.terminalSeq === terminalSeq)) return;
    const what = outcome === INTENT_RECOVERED ? 'paid: settled by the service from the wallet\'s log' : 'not paid: the wallet\'s log shows it never signed';
    try {
      await journal.append(RECORD_RELEASE, encodeRelease(terminalSeq));
    } catch (e) {
      rethrowIfProgrammerError(e);
      // Still open here: the next answer says it again.
      this.#o.log('warn', 'tap', `in-doubt ${terminalSeq} ${what}; not closed: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    terminal.inDoubt.closed(terminalSeq);
    this.#o.log('info', 'tap', `in-doubt ${terminalSeq} ${what}`);
  }

  network(up: boolean): void {
    if (up) this.#run(this.uplink.networkUp());
    else this.uplink.networkDown();
  }

  receiptAdded(): void {
    this.#run(this.uplink.receiptAdded());
  }

  /** Called from the loop: once every journaled receipt is acknowledged, the offline totals start again. */
  check(): void {
    const { journal, risk } = this.#o.booted;
    const acked = journal.ackedUpTo;
    if (acked === this.#acknowledged) return;
    this.#acknowledged = acked;
    if (journal.lastAcknowledgeable <= acked) {
      const now = this.#o.clock.wallTime() ?? risk.lastKnownTime;
      risk.settled(now, this.#o.clock.now());
      // No record says the totals were reset: a checkpoint does, so a reboot keeps them at zero.
      try {
        journal.checkpoint();
      } catch (e) {
        rethrowIfProgrammerError(e);
        this.#o.log('warn', 'risk', `checkpoint after settlement not written: ${e instanceof Error ? e.message : String(e)}`);
      }
      this.#o.log('info', 'risk', `all receipts up to ${acked} acknowledged: offline totals reset`);
    }
  }

  #run(work: Promise<void>): void {
    work.catch((e: unknown) => {
      if (isProgrammerError(e) && this.#o.onBug) this.#o.onBug(e);
      else this.#o.log('error', 'uplink', errorText(e));
    });
  }
}
