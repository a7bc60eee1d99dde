// A power cut after PAY settled at the service (test/in-doubt.test.ts "settled by the service"): the
// device app (boot, runner, online side) on a NOR journal; power dies in the first flash write after the
// wallet answered PAY; after the reboot the open intent goes up with the batch, the wallet syncs, and the
// next answer tells the terminal, which closes it. The service is a real one on the host: this side
// only hands over the bytes each party would send (the batch, the wallet's sync) and takes the answers,
// so the same code runs on Node and inside XS. Platform-free.
import { fromHex, toHex } from '../../firmware/base/bytes';
import { INS_PAY } from '../../firmware/core/protocol/apdu';
import type { HttpResponse, HttpTransport } from '../../firmware/core/uplink/transport';
import { Online } from '../../firmware/app/online';
import { ALG_P256 } from '../../firmware/core/crypto/verify';
import { issueWallet, type Issuer } from '../../host/wallet/issuer';
import { WalletEmulator } from '../../host/wallet/emulator';
import { DeviceWorld } from './device-world';

/** The uplink's HTTP, handed across: a POST waits until the host delivers the service's answer. */
class Mailbox implements HttpTransport {
  sent: Uint8Array[] = [];
  #answer: ((r: HttpResponse) => void) | undefined;

  post(_path: string, body: Uint8Array): Promise<HttpResponse> {
    this.sent.push(body);
    return new Promise((resolve) => (this.#answer = resolve));
  }

  deliver(r: HttpResponse): void {
    const answer = this.#answer;
    this.#answer = undefined;
    answer?.(r);
  }
}

export interface IssuerJson {
  keyId: number;
  publicKey: string;
  secretKey: string;
  notBefore: number;
  notAfter: number;
}

export class UploadScenario {
  #w: DeviceWorld;
  #wallet: WalletEmulator;
  #mail = new Mailbox();
  #online: Online | undefined;
  readonly #now: number;
  readonly #devicePublic: string;

  constructor(o: { rootPublic: string; issuer: IssuerJson; now: number }) {
    const issuer: Issuer = { key: { keyId: o.issuer.keyId, alg: ALG_P256, publicKey: fromHex(o.issuer.publicKey), notBefore: o.issuer.notBefore, notAfter: o.issuer.notAfter, revoked: false }, secretKey: fromHex(o.issuer.secretKey) };
    this.#now = o.now;
    this.#w = new DeviceWorld({ seed: 'in-doubt upload', rootPublic: fromHex(o.rootPublic), issuer, wallTime: o.now });
    this.#devicePublic = toHex(this.#w.devicePublic);
    const issued = issueWallet(issuer, this.#w.random, { alg: ALG_P256, walletClass: 2, notBefore: o.now - 86400, notAfter: o.now + 86400 * 100 });
    this.#wallet = new WalletEmulator({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 100_000, holderVerified: true });
  }

  /** The terminal's identity for its registration with the service. */
  get terminal(): { terminalId: string; publicKey: string; merchantId: string } {
    return { terminalId: 'T-0042', publicKey: this.#devicePublic, merchantId: 'M-bakery' };
  }

  /** Keys 30.00, the wallet pays, power dies in the next flash write (the receipt's); then power on and boot. */
  async cutAfterPay(): Promise<{ approved: number; openAfterBoot: number; walletBalance: number; logs: string[] }> {
    const w = this.#w;
    await this.#boot();
    await w.keys('3000#');
    w.chip.placeCard({
      transceive: (apdu: Uint8Array) => {
        const answer = this.#wallet.answer(apdu);
        if (apdu[1] === INS_PAY) w.flash.cutPowerAt(0);
        return answer;
      },
    });
    // The device stops with the flash: whatever the loop makes of the failed write, nothing more lands.
    await w.steps(200, () => w.runner!.approved + w.runner!.declined > 0);
    w.chip.removeCard();
    this.#wallet.removed();
    w.flash.powerOn();
    const approved = w.runner!.approved;
    const again = new DeviceWorld({ seed: 'in-doubt upload, after the cut', flash: w.flash, issuer: w.issuer, provisioning: w.provisioning, wallTime: this.#now + 60 });
    this.#w = again;
    await this.#boot();
    return { approved, openAfterBoot: again.booted!.terminal.inDoubt.open.length, walletBalance: this.#wallet.balance, logs: again.logs };
  }

  async #boot(): Promise<void> {
    this.#mail = new Mailbox();
    const mail = this.#mail;
    await this.#w.boot((booted) => (this.#online = new Online({ booted, transport: mail, clock: this.#w.clock, random: this.#w.random, log: this.#w.log })));
  }

  /** The network comes up: the batch the uplink posts (hex). */
  async networkUp(): Promise<string> {
    const before = this.#mail.sent.length;
    await this.#w.runner!.network(true);
    await this.#w.steps(50, () => this.#mail.sent.length > before);
    return toHex(this.#mail.sent[this.#mail.sent.length - 1]!);
  }

  /** The service's answer to that post; resolves once the uplink has taken it in. */
  async answer(a: { status: number; body: string }): Promise<{ open: number; ackedUpTo: number; logs: string[] }> {
    this.#mail.deliver({ status: a.status, body: fromHex(a.body) });
    await this.#online!.uplink.settled();
    await this.#w.steps(2);
    return { open: this.#w.booted!.terminal.inDoubt.open.length, ackedUpTo: this.#w.booted!.journal.ackedUpTo, logs: this.#w.logs };
  }

  /** The wallet's sync over the service's nonce (hex). */
  walletSync(a: { nonce: string }): string {
    return toHex(this.#wallet.syncMessage(fromHex(a.nonce)));
  }

  /** After a reboot on the same flash: the intents the journal still holds open. */
  async reboot(): Promise<number> {
    const w = this.#w;
    const again = new DeviceWorld({ seed: 'in-doubt upload, third boot', flash: w.flash, issuer: w.issuer, provisioning: w.provisioning, wallTime: this.#now + 120 });
    this.#w = again;
    await this.#boot();
    return again.booted!.terminal.inDoubt.open.length;
  }

  get walletId(): string {
    return this.#wallet.info.walletId;
  }
}
