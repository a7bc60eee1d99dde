// Mutation fuzzing of the offline-refund parsers (firmware/core/protocol/refund.ts) and of the two
// places that read them from untrusted sources: the wallet's TERMINAL CERTIFICATE and REFUND, and the
// terminal's walk of its journal for a payment's refunds. Only the parsers' own named errors may come
// out; the wallet answers a status word, the walk logs and goes on.
import { expect } from 'chai';
import { decodeCommand, refundCommand, selectCommand, terminalCertificateCommand, INS_REFUND } from '../firmware/core/protocol/apdu';
import {
  decodeRefundRecord,
  decodeRefundRelease,
  decodeRefundRequest,
  decodeRefundResponse,
  decodeTerminalCertificate,
  encodeRefundRelease,
  RECORD_REFUND,
  RECORD_REFUND_INTENT,
  RECORD_REFUND_RELEASE,
} from '../firmware/core/protocol/refund';
import { RECORD_RECEIPT } from '../firmware/core/protocol/receipt';
import { TlvError } from '../firmware/core/protocol/tlv';
import { ALG_P256 } from '../firmware/core/crypto/verify';
import { RefundDesk } from '../firmware/core/refund/desk';
import { Keyring } from '../firmware/core/crypto/keyring';
import { Verifier } from '../firmware/core/crypto/verifier';
import { silentLog, VirtualClock } from '../firmware/base/platform';
import { fuzzer, mutate, seededRandom } from './uplink-fuzz-helpers';
import { RefundDevice, RefundWorld } from './refund-scenarios';
import type { CardLink } from '../firmware/base/ports';

const SEED = Number(process.env.TAPLINE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const INPUTS = 100_000;

async function corpus() {
  const world = new RefundWorld(ALG_P256, 'refund fuzz');
  const device = new RefundDevice(world);
  device.boot();
  const wallet = world.wallet();
  await device.pay(wallet, 3000);
  wallet.removed();
  const sent: Uint8Array[] = [];
  const answers: Uint8Array[] = [];
  const link: CardLink = { transceive: async (a) => { sent.push(a); const r = wallet.answer(a); answers.push(r); return r; } };
  await device.refund(link, '', '1000');
  wallet.removed();
  const records: { type: number; payload: Uint8Array }[] = [];
  device.store.journal.replay(0, (r) => void records.push({ type: r.type, payload: r.payload.slice() }));
  const i = sent.findIndex((a) => decodeCommand(a).ins === INS_REFUND);
  return { world, device, wallet, records, request: decodeCommand(sent[i]!).data, response: answers[i]!.subarray(0, answers[i]!.length - 2) };
}

const fuzz = fuzzer({ seed: SEED, inputs: INPUTS });
const isTlv = (e: unknown) => e instanceof TlvError;

describe(`offline refunds: fuzzing (TAPLINE_FUZZ_SEED=${SEED})`, () => {
  let c: Awaited<ReturnType<typeof corpus>>;
  before(async function () {
    this.timeout(30_000);
    c = await corpus();
  });

  it('parsers: terminal certificate, REFUND request and response, refund record and intent, release', function () {
    this.timeout(300_000);
    const byType = (t: number) => c.records.filter((r) => r.type === t).map((r) => r.payload);
    const results = [
      fuzz('terminal certificate', [c.world.certificate], decodeTerminalCertificate, isTlv),
      fuzz('refund request', [c.request], decodeRefundRequest, isTlv),
      fuzz('refund response', [c.response], decodeRefundResponse, isTlv),
      fuzz('refund record', [...byType(RECORD_REFUND), ...byType(RECORD_REFUND_INTENT)], decodeRefundRecord, isTlv),
      fuzz('refund release', [encodeRefundRelease(7)], decodeRefundRelease, isTlv),
    ];
    for (const r of results) expect(r.ok + r.refused).to.equal(INPUTS);
    // The mutations reach past the parsers: some inputs still parse.
    expect(results.every((r) => r.ok > 0)).to.equal(true);
  });

  it('the wallet answers a status word to every mutated TERMINAL CERTIFICATE and REFUND, and credits nothing', function () {
    this.timeout(300_000);
    const balance = c.wallet.balance;
    const random = seededRandom(SEED ^ 0x5eed);
    const sws = new Map<string, number>();
    // Signature checks dominate: fewer inputs here, each a mutated REFUND and every tenth a mutated certificate.
    for (let i = 0; i < 5_000; i++) {
      if (i % 10 === 0) {
        c.wallet.answer(selectCommand());
        const cert = i % 20 === 0 ? c.world.certificate : mutate(c.world.certificate, random);
        c.wallet.answer(terminalCertificateCommand(cert.length > 255 ? cert.subarray(0, 255) : cert));
      }
      const data = mutate(c.request, random);
      const answer = c.wallet.answer(refundCommand(data.length > 255 ? data.subarray(0, 255) : data));
      const sw = Buffer.from(answer.subarray(answer.length - 2)).toString('hex');
      sws.set(sw, (sws.get(sw) ?? 0) + 1);
    }
    // The unmutated request may come through (its retry answers the first answer again): never a second credit.
    expect(c.wallet.balance).to.equal(balance);
    expect([...sws.keys()].some((sw) => sw !== '9000')).to.equal(true);
  });

  it('the terminal\'s journal walk survives mutated receipts and refund records', function () {
    this.timeout(300_000);
    const random = seededRandom(SEED ^ 0xdead);
    const seeds = c.records.filter((r) => [RECORD_RECEIPT, RECORD_REFUND, RECORD_REFUND_INTENT, RECORD_REFUND_RELEASE].includes(r.type));
    let found = 0;
    for (let i = 0; i < 20_000; i++) {
      const records = seeds.map((r) => ({ seq: 0, type: r.type, payload: i % 3 === 0 ? r.payload : mutate(r.payload, random) }));
      const desk = new RefundDesk({
        terminalId: 'T-REF', currency: 156, verifier: new Verifier({ keyring: new Keyring([]) }), clock: new VirtualClock({ start: 0 }), log: silentLog,
        certificate: c.world.certificate, sign: () => new Uint8Array(64),
        journal: { append: async () => 0, canAppend: () => true, replay: (_after, visit) => void records.every((r) => visit(r) !== false) },
      });
      if (desk.original(1)) found++;
      desk.recent();
    }
    expect(found).to.be.greaterThan(0);
  });
});
