// Mutation fuzzing of the parsers purpose-bound funds and the wallet's caps added: the grant, READ
// PURSE's answer, a PAY request naming a purse, a certificate with offline caps, a receipt carrying a
// grant (parsed and re-verified), the wallet's PAY, and a terminal reading a mutated purse answer. The
// only failure allowed is the parser's own named error; the wallet answers a status word, the terminal a
// decline with a reason.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fromHex } from '../firmware/base/bytes';
import { decodeCertificate, decodePayRequest } from '../firmware/core/protocol/messages';
import { decodeGrant, decodePurseResponse, encodePurseResponse } from '../firmware/core/protocol/purpose';
import { decodeIntent, encodeIntent } from '../firmware/core/protocol/intent';
import { decodeReceipt, openReceipt } from '../firmware/core/protocol/receipt';
import { verifyReceipt } from '../firmware/core/crypto/receipt';
import { decodeCommand, decodeResponse, INS_READ_PURSE, payCommand } from '../firmware/core/protocol/apdu';
import { TlvError } from '../firmware/core/protocol/tlv';
import { DECLINE } from '../firmware/base/reasons';
import { makeBoundBalanceVector, makeOfflineCapVector } from '../host/wallet/rule-vectors';
import { fuzzer, mutate, seededRandom } from './uplink-fuzz-helpers';
import { NOW, outcomeOf, Relay, World } from './xs/core-scenarios';
import { GROCERY, subsidyWallet } from './xs/wallet-rules-scenarios';

const SEED = Number(process.env.TAPLINE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const INPUTS = 100_000;
const isTlv = (e: unknown) => e instanceof TlvError;

const fuzz = fuzzer({ seed: SEED, inputs: INPUTS });

describe('purpose-bound funds and wallet caps: fuzzed parsers', function () {
  this.timeout(600_000);
  const bound = makeBoundBalanceVector();
  const caps = makeOfflineCapVector();
  const grant = fromHex(bound.grant.hex);
  const payRequests = bound.exchange.filter((e) => e.name.startsWith('PAY')).map((e) => decodeCommand(fromHex(e.command)).data);
  const vectorsOnDisk = JSON.parse(readFileSync(new URL('../docs/vectors/bound-balance.json', import.meta.url), 'utf8'));

  it(`the grant, READ PURSE's answer, a bound PAY request, its intent and a capped certificate: ${INPUTS} inputs each, TlvError or a value`, () => {
    expect(vectorsOnDisk.grant.hex).to.equal(bound.grant.hex);
    const results = [
      fuzz('grant', [grant], decodeGrant, isTlv),
      fuzz('purse', [encodePurseResponse({ balance: 20_000, grant })], decodePurseResponse, isTlv),
      fuzz('request', payRequests, decodePayRequest, isTlv),
      fuzz('certificate', [fromHex(caps.certificate.hex)], decodeCertificate, isTlv),
      // a bound payment's intent keeps the grant (an in-doubt payment is recovered with it)
      fuzz('bound intent', [encodeIntent({ terminalSeq: decodePayRequest(payRequests[0]!).terminalSeq, walletId: decodeGrant(grant).walletId, counterFloor: 0, request: payRequests[0]!, grant })], decodeIntent, isTlv),
    ];
    // Most mutations are refused, and some are not: the fuzzer reaches past the first check.
    for (const r of results) expect(r.refused).to.be.within(1, INPUTS - 1);
  });

  it('a receipt carrying a grant: parsed and re-verified, 3,000 inputs (each that parses costs three signature checks), TlvError or a verdict', () => {
    const key = { ...bound.issuerKey, alg: bound.issuerKey.alg as 1 | 2, publicKey: fromHex(bound.issuerKey.publicKey) };
    let accepted = 0;
    fuzz('receipt', [fromHex(bound.receipt)], (b) => {
      const r = decodeReceipt(b);
      openReceipt(r);
      if (verifyReceipt(r, [key], NOW).ok) accepted++;
    }, isTlv, 3_000);
    // A mutation that still verifies changed nothing signed (there is no such byte outside the envelope's framing).
    expect(accepted).to.be.below(3_000);
  });

  it("the wallet's PAY from a purse: 20,000 mutated requests, a status word each, never an exception", () => {
    const w = new World({ place: GROCERY, seed: 'fuzz wallet' });
    const wallet = subsidyWallet(w);
    const random = seededRandom(SEED);
    const sws = new Set<string>();
    wallet.answer(fromHex(bound.exchange[0]!.command));
    for (let i = 0; i < 20_000; i++) {
      const seed = payRequests[i % payRequests.length]!;
      const input = mutate(seed, random);
      const answer = input.length <= 255 ? wallet.answer(payCommand(input)) : wallet.answer(fromHex(bound.exchange[0]!.command));
      sws.add(decodeResponse(answer).sw.toString(16));
    }
    expect(sws.has('6a80')).to.equal(true);
  });

  it('a terminal reading 300 mutated READ PURSE answers: approved or declined with a reason, never a crash', async () => {
    const w = new World({ place: GROCERY, seed: 'fuzz terminal' });
    const random = seededRandom(SEED + 1);
    const codes = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const wallet = subsidyWallet(w);
      const link = new Relay(wallet, {
        response: (c, r) => (c[1] === INS_READ_PURSE ? new Uint8Array([...mutate(r.subarray(0, r.length - 2), random), 0x90, 0x00]) : r),
      });
      const outcome = await w.tap(link, 1000);
      codes.add(outcome);
      expect(outcome === 'approved' || outcome in DECLINE, outcome).to.equal(true);
      await w.next();
    }
    expect(codes.has('protocol')).to.equal(true);
  });
});
