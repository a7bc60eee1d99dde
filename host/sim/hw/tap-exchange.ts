// One tap carried end to end through the reader stack: driver + transport + simulated IO + simulated
// PN532 + an emulated wallet: SELECT, READ CERTIFICATE, PAY, with the wallet's signature checked.
// Platform-free, so the tests and the benchmark run the very same exchange on Node and in XS.
import { VirtualClock, type Log, type RandomBytes } from '../../../firmware/base/platform';
import { ApduError, decodeResponse, payCommand, readCertificateCommand, selectCommand, SW } from '../../../firmware/core/protocol/apdu';
import { decodeCertificate, decodePayResponse, encodePayRequest, type PayRequest } from '../../../firmware/core/protocol/messages';
import { checkPaymentSignature } from '../../../firmware/core/crypto/certificate';
import { toHex } from '../../../firmware/base/bytes';
import type { ApduTarget } from './pn532';
import { readerRig, type Interface, type ReaderRig } from './rig';

export interface TapExchangeOutcome {
  via: Interface;
  uid: string;
  certificateBytes: number;
  walletId: string;
  counter: number;
  balanceAfter: number;
  signatureChecked: boolean;
  /** Bytes clocked on the bus, both directions, for the tap alone (after the reader was set up). */
  busBytes: number;
  /** Virtual milliseconds the tap took, from the model's response times. */
  virtualMs: number;
}

export class TapBench {
  readonly rig: ReaderRig;
  readonly clock: VirtualClock;

  constructor(options: { via: Interface; log?: Log }) {
    this.clock = new VirtualClock({ wallTime: 1_790_000_000 });
    this.rig = readerRig({ via: options.via, clock: this.clock, log: options.log });
  }

  begin(): Promise<unknown> {
    return this.rig.reader.begin();
  }

  /** Taps `target` once; `verify: false` leaves the signature unchecked (to meter the reader alone). */
  async tap(target: ApduTarget, options: { random: RandomBytes; request: Omit<PayRequest, 'challenge'>; verify?: boolean }): Promise<TapExchangeOutcome> {
    const { rig, clock } = this;
    const stats = rig.transport.stats;
    const before = stats.written + stats.read;
    const start = clock.now();
    rig.chip.placeCard(target);
    const tap = await rig.reader.waitForCard(500);
    if (!tap) throw new Error('no card found');
    const send = async (name: string, apdu: Uint8Array) => {
      const r = decodeResponse(await tap.link.transceive(apdu));
      if (r.sw !== SW.ok) throw new ApduError(`${name}: status ${r.sw.toString(16)}`);
      return r.data;
    };
    await send('SELECT', selectCommand());
    const certificate = decodeCertificate(await send('READ CERTIFICATE', readCertificateCommand()));
    const request = encodePayRequest({ ...options.request, challenge: options.random(16) });
    const response = decodePayResponse(await send('PAY', payCommand(request)));
    if (options.verify !== false) checkPaymentSignature(certificate, request, response);
    await rig.reader.release(tap);
    rig.chip.removeCard();
    return {
      via: rig.transport.name,
      uid: toHex(tap.target.uid),
      certificateBytes: certificate.bytes.length,
      walletId: certificate.walletId,
      counter: response.counter,
      balanceAfter: response.balanceAfter,
      signatureChecked: options.verify !== false,
      busBytes: stats.written + stats.read - before,
      virtualMs: clock.now() - start,
    };
  }
}

/** Answers each command with the response a real wallet gave to the same instruction: the exchange's bytes without its cryptography. */
export class ReplayCard implements ApduTarget {
  private readonly answers = new Map<number, Uint8Array>();

  constructor(exchange: { command: Uint8Array; response: Uint8Array }[]) {
    for (const e of exchange) this.answers.set(e.command[1]!, e.response);
  }

  transceive(apdu: Uint8Array): Uint8Array {
    return this.answers.get(apdu[1]!) ?? Uint8Array.of(0x6d, 0x00);
  }
}
