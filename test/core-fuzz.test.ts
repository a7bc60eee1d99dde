// Mutation fuzzing of every parser of untrusted bytes in the payment core: each gets >= 100,000 inputs
// derived from valid encodings; the only exception allowed is the parser's own named error.
import { expect } from 'chai';
import { ApduError, decodeCommand, decodeResponse, payCommand, readCertificateCommand, recallCommand, selectCommand, verifyPinCommand } from '../firmware/core/protocol/apdu';
import { decodeCertificate, decodePayRequest, decodePayResponse } from '../firmware/core/protocol/messages';
import { decodeReceipt, openReceipt, receiptFacts, receiptSeq } from '../firmware/core/protocol/receipt';
import { verifyReceipt } from '../firmware/core/crypto/receipt';
import { decodeTlv, encodeTlv, TlvError } from '../firmware/core/protocol/tlv';
import { ALG_ED25519, ALG_P256 } from '../firmware/core/crypto/verify';
import { RiskEngine } from '../firmware/core/risk/engine';
import { ClockState } from '../firmware/core/risk/clock-state';
import { DEFAULT_RISK_CONFIG } from '../firmware/core/risk/config';
import { fuzzer, mutate, seededRandom } from './uplink-fuzz-helpers';
import { encodeTransitLog } from '../firmware/core/protocol/transit-log';
import { decodeIntent, decodeRecallResponse, decodeRelease, encodeIntent, encodeRecallResponse, encodeRelease } from '../firmware/core/protocol/intent';
import { InDoubt } from '../firmware/core/terminal/in-doubt';
import { decodeState, encodeState } from '../firmware/app/state';
import { NOW, World, outcomeOf, Relay } from './xs/core-scenarios';
import { DECLINE } from '../firmware/base/reasons';

const SEED = Number(process.env.TAPLINE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const INPUTS = 100_000;

/** Valid messages of every kind, from a real tap, to mutate. */
async function corpus() {
  const w = new World({ alg: ALG_P256, seed: 'fuzz corpus' });
  const wallet = w.wallet({ profile: 'phone', holderVerified: true });
  const commands: Uint8Array[] = [];
  const responses: Uint8Array[] = [];
  const link = new Relay(wallet, {
    response: (c, r) => {
      commands.push(c);
      responses.push(r);
      return r;
    },
  });
  await w.tap(link, 1250);
  await w.next();
  await w.tap(link, 40_000);
  const receipts = w.journal.records.map((r) => r.payload);
  const first = openReceipt(decodeReceipt(receipts[0]!));
  await w.next();
  return { w, commands, responses, receipts, certificate: first.certificate.bytes, request: decodeReceipt(receipts[0]!).request, response: decodeReceipt(receipts[0]!).response };
}

const fuzz = fuzzer({ seed: SEED, inputs: INPUTS, randomEvery: 50 });

const isTlv = (e: unknown) => e instanceof TlvError;
const isApdu = (e: unknown) => e instanceof ApduError;

describe('payment core: TLV encoding', () => {
  it('writes every tag and length form canonically, and decodes back to the same fields', () => {
    const fields = [0, 0x7f, 0x80, 0xff, 0x100, 0xffff].map((n, i) => ({ tag: i === 5 ? 0x9f21 : 0x80 + i, value: new Uint8Array(n).fill(i) }));
    const bytes = encodeTlv(fields);
    const heads = [[0x80, 0x00], [0x81, 0x7f], [0x82, 0x81, 0x80], [0x83, 0x81, 0xff], [0x84, 0x82, 0x01, 0x00], [0x9f, 0x21, 0x82, 0xff, 0xff]];
    let offset = 0;
    fields.forEach((f, i) => {
      expect([...bytes.subarray(offset, offset + heads[i]!.length)], `field ${i}`).to.deep.equal(heads[i]);
      offset += heads[i]!.length + f.value.length;
    });
    expect(offset).to.equal(bytes.length);
    const back = decodeTlv(bytes, { maxBytes: bytes.length, maxFields: 6 });
    expect(back.map((f) => [f.tag, f.value.length])).to.deep.equal(fields.map((f) => [f.tag, f.value.length]));
    expect(() => encodeTlv([{ tag: 0x1f, value: new Uint8Array(0) }])).to.throw(TlvError);
    expect(() => encodeTlv([{ tag: 0x80, value: new Uint8Array(0x10000) }])).to.throw(TlvError);
  });
});

describe('payment core: fuzzed parsers', function () {
  this.timeout(300_000);
  let c: Awaited<ReturnType<typeof corpus>>;
  before(async () => {
    console.log(`      fuzz seed ${SEED} (set TAPLINE_FUZZ_SEED to repeat)`);
    c = await corpus();
  });

  it('decodeCertificate refuses with TlvError only', () => {
    const r = fuzz('certificate', [c.certificate], decodeCertificate, isTlv);
    expect(r.refused).to.be.greaterThan(INPUTS / 2);
  });

  it('decodePayRequest refuses with TlvError only', () => {
    const r = fuzz('request', [c.request], decodePayRequest, isTlv);
    expect(r.refused).to.be.greaterThan(INPUTS / 2);
  });

  it('decodePayResponse refuses with TlvError only', () => {
    const r = fuzz('response', [c.response], decodePayResponse, isTlv);
    expect(r.refused).to.be.greaterThan(INPUTS / 2);
  });

  it('decodeReceipt and openReceipt refuse with TlvError only', () => {
    const r = fuzz('receipt', c.receipts, (b) => openReceipt(decodeReceipt(b)), isTlv);
    expect(r.refused).to.be.greaterThan(INPUTS / 2);
  });

  it('receiptFacts and receiptSeq (what a boot reads of each receipt) refuse with TlvError only, and agree with the whole decode wherever it accepts', () => {
    let agreed = 0;
    const r = fuzz('receipt facts', c.receipts, (b) => {
      const facts = receiptFacts(b);
      expect(receiptSeq(b)).to.equal(facts.terminalSeq);
      let whole: ReturnType<typeof openReceipt>;
      try {
        whole = openReceipt(decodeReceipt(b));
      } catch (e) {
        if (isTlv(e)) return; // the whole decode is stricter (order, duplicates, every field's rules)
        throw e;
      }
      const d = decodeReceipt(b);
      expect(facts).to.deep.equal({
        terminalSeq: d.terminalSeq,
        walletId: whole.certificate.walletId,
        counter: whole.response.counter,
        amount: whole.request.amount,
        terminalTime: whole.request.terminalTime,
        deferred: d.deferred,
      });
      agreed++;
    }, isTlv);
    expect(r.refused).to.be.greaterThan(INPUTS / 4);
    expect(agreed).to.be.greaterThan(INPUTS / 100);
  });

  it('decodeTlv refuses with TlvError only', () => {
    fuzz('tlv', [c.certificate, c.receipts[0]!], (b) => decodeTlv(b, { maxBytes: 512, maxFields: 16 }), isTlv);
  });

  it('decodeCommand and decodeResponse refuse with ApduError only', () => {
    fuzz('command', c.commands, decodeCommand, isApdu);
    fuzz('rapdu', c.responses, decodeResponse, isApdu);
  });

  it('the risk checkpoint decoder refuses with TlvError only', () => {
    const engine = new RiskEngine({ config: DEFAULT_RISK_CONFIG, settledAt: NOW });
    for (const r of c.receipts) engine.applyReceipt(decodeReceipt(r));
    engine.applyDenyDelta({ version: 3, addWallets: ['0011223344556677'], addSerials: ['8899aabbccddeeff'], removeWallets: [], removeSerials: [] });
    const r = fuzz('checkpoint', [engine.encode()], (b) => RiskEngine.decode(b, { config: DEFAULT_RISK_CONFIG }), isTlv);
    expect(r.refused).to.be.greaterThan(INPUTS / 2);
  });

  it('the clock state decoder refuses with TlvError only', () => {
    const seeds = [new ClockState({ lastKnownTime: NOW, settledAt: NOW - 3600, offlineSeconds: 3600 }).encode(), new ClockState().encode()];
    const r = fuzz('clock state', seeds, (b) => ClockState.decode(b), isTlv);
    expect(r.refused).to.be.greaterThan(INPUTS / 2);
  });

  it('intents, releases, RECALL answers and the state checkpoint refuse with TlvError only', () => {
    const intent = { terminalSeq: 7, walletId: '0011223344556677', counterFloor: 3, request: c.request };
    const inDoubt = new InDoubt();
    inDoubt.opened(intent);
    inDoubt.opened({ ...intent, terminalSeq: 8, request: decodeReceipt(c.receipts[1]!).request });
    const risk = new RiskEngine({ config: DEFAULT_RISK_CONFIG, settledAt: NOW });
    const results = [
      fuzz('intent', [encodeIntent(intent), encodeIntent({ ...intent, transitLog: encodeTransitLog({ counter: 2, entries: [] }), fareRulesVersion: 5 })], decodeIntent, isTlv),
      fuzz('release', [encodeRelease(7)], decodeRelease, isTlv),
      fuzz('recall', [encodeRecallResponse({ heldFrom: 42, response: c.response }), encodeRecallResponse({ heldFrom: 1 })], decodeRecallResponse, isTlv),
      fuzz('in-doubt', [inDoubt.encode()], InDoubt.decode, isTlv),
      fuzz('state', [encodeState(risk, inDoubt)], (b) => decodeState(b, { config: DEFAULT_RISK_CONFIG }), isTlv),
    ];
    for (const r of results) expect(r.refused).to.be.greaterThan(0);
  });

  it('the wallet emulator answers every mutated APDU with a status word, never an exception', () => {
    const w = new World({ alg: ALG_ED25519, seed: 'fuzz wallet' });
    // A small balance: most mutated PAYs are refused before the (costly) signature.
    const wallet = w.wallet({ pin: '1234', balance: 5 });
    const pay = c.commands.find((a) => a[1] === 0x30)!;
    const seeds = [selectCommand(), readCertificateCommand(), verifyPinCommand('1234'), payCommand(decodeCommand(pay).data), recallCommand(decodePayRequest(decodeCommand(pay).data).challenge)];
    const sws = new Set<number>();
    fuzz('wallet', seeds, (b) => {
      if (b[1] === 0x30) wallet.answer(selectCommand());
      const r = wallet.answer(b);
      expect(r.length).to.be.at.least(2);
      sws.add((r[r.length - 2]! << 8) | r[r.length - 1]!);
    }, () => false);
    expect(sws.size).to.be.greaterThan(5);
  });

  it('verifyReceipt never throws on mutated receipts and accepts only the genuine ones', () => {
    const keys = [c.w.issuer.key];
    let accepted = 0;
    fuzz('verifyReceipt', c.receipts, (b) => {
      const r = verifyReceipt(b, keys, NOW);
      if (r.ok) {
        accepted++;
        // The wallet signs the certificate, request and response; the terminal's flags (deferred) are
        // covered by its batch signature instead, so a receipt differing only there still verifies here.
        const d = decodeReceipt(b);
        const same = (g: Uint8Array) => {
          const o = decodeReceipt(g);
          return [o.certificate, o.request, o.response].every((x, i) => Buffer.from(x).equals(Buffer.from([d.certificate, d.request, d.response][i]!))) && o.terminalSeq === d.terminalSeq;
        };
        expect(c.receipts.some(same)).to.equal(true, 'a receipt with changed signed content verified');
      } else {
        expect(DECLINE[r.reason.code]).to.be.a('string');
      }
    }, () => false, 3_000);
  });

  it('a terminal tapped by a wallet whose answers are mutated declines with a reason, never throws', async () => {
    const random = seededRandom(SEED ^ 77);
    const w = new World({ alg: ALG_P256, seed: 'fuzz terminal', config: { maxOfflineCount: 10_000 } });
    const wallet = w.wallet({ profile: 'phone', holderVerified: true });
    const codes = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const link = new Relay(wallet, { response: (_c, r) => (random() < 0.5 ? mutate(r, random) : r) });
      const result = await w.tap(link, 100 + i);
      codes.add(result);
      expect(result === 'approved' || result === 'pin' || result in DECLINE).to.equal(true, result);
      w.clock.advance(5000);
      await w.send({ type: 'tick' });
      if (w.terminal.state !== 'idle') await w.keys('*');
      w.clock.advance(5000);
      await w.send({ type: 'tick' });
    }
    expect(codes.size).to.be.greaterThan(2);
    console.log(`      outcomes: ${[...codes].sort().join(', ')}`);
  });
});
