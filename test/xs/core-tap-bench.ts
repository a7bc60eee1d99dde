// The tap the benchmark measures (bench/tap.bench.ts), on Node and XS alike: the terminal's whole
// handling of a card event (SELECT, READ CERTIFICATE, checks, PAY, signature checks, receipt append),
// against a wallet exchange recorded beforehand so that the wallet's own signing is not counted.
import { fromHex, toHex } from '../../firmware/base/bytes';
import { Keyring } from '../../firmware/core/crypto/keyring';
import { Verifier } from '../../firmware/core/crypto/verifier';
import type { Alg } from '../../firmware/core/crypto/verify';
import { VirtualClock } from '../../firmware/base/platform';
import type { CardLink } from '../../firmware/base/ports';
import { DEFAULT_RISK_CONFIG } from '../../firmware/core/risk/config';
import { RiskEngine, type Mode } from '../../firmware/core/risk/engine';
import { Terminal, type Key } from '../../firmware/core/terminal/terminal';
import { createIssuer, issueWallet } from '../../host/wallet/issuer';
import { WalletEmulator } from '../../host/wallet/emulator';
import { seededRandom } from '../../host/wallet/random';
import { MemoryJournal, outcomeOf } from './core-scenarios';

export interface TapBenchSetup {
  alg: Alg;
  mode: Mode;
}

const NOW = 1_790_000_000;
const CHALLENGE = fromHex('000102030405060708090a0b0c0d0e0f');

export class TapBench {
  #mode: Mode = 'merchant';
  #amount = 0;
  #keyring: Keyring | undefined;
  #verifier: Verifier | undefined;
  #recorded = new Map<string, Uint8Array>();
  #terminal: Terminal | undefined;

  /** Issues a wallet and records its answers to the exact commands the terminal will send. */
  async setup(a: TapBenchSetup): Promise<string> {
    this.#mode = a.mode;
    this.#amount = a.mode === 'transit' ? 200 : 1250;
    const random = seededRandom(`bench ${a.alg}`);
    const issuer = createIssuer(a.alg, random, { keyId: 1, notBefore: NOW - 1e7, notAfter: NOW + 1e7 });
    const issued = issueWallet(issuer, random, { alg: a.alg, walletClass: 2, notBefore: NOW - 1e6, notAfter: NOW + 1e7 });
    const wallet = new WalletEmulator({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 1e7, holderVerified: true });
    this.#keyring = new Keyring([issuer.key]);
    this.#verifier = new Verifier({ keyring: this.#keyring });
    this.#recorded.clear();
    const recorder: CardLink = {
      transceive: async (apdu) => {
        const r = wallet.answer(apdu);
        this.#recorded.set(toHex(apdu), r);
        return r;
      },
    };
    this.prepare(true);
    return this.#run(recorder);
  }

  /** A fresh terminal (fresh risk state) with the amount keyed; cold: the certificate cache emptied. */
  prepare(cold: boolean): void {
    if (cold) this.#verifier!.replaceKeys(this.#keyring!.all());
    const clock = new VirtualClock({ wallTime: NOW });
    this.#terminal = new Terminal({
      mode: this.#mode,
      fare: 200,
      terminalId: 'T-bench',
      merchantId: 'M-bench',
      verifier: this.#verifier!,
      risk: new RiskEngine({ config: DEFAULT_RISK_CONFIG, settledAt: NOW - 60 }),
      journal: new MemoryJournal(),
      clock,
      random: () => CHALLENGE,
    });
    this.#terminal.start();
    if (this.#mode === 'merchant') for (const k of `${this.#amount}#`) void this.#terminal.handle({ type: 'key', key: k as Key });
  }

  /** One measured tap; resolves with the outcome ("approved"). */
  tap(): Promise<string> {
    const replay: CardLink = {
      transceive: async (apdu) => {
        const r = this.#recorded.get(toHex(apdu));
        if (!r) throw new Error(`no recorded answer to ${toHex(apdu)}`);
        return r;
      },
    };
    return this.#run(replay);
  }

  async #run(link: CardLink): Promise<string> {
    return outcomeOf(await this.#terminal!.handle({ type: 'card', link }));
  }
}
