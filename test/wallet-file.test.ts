// The wallet file keeps what the secure element would keep across a power-off: balance, counter, the
// PIN tries left, and its refund book with each payment's last refund answer. A reload must not hand out
// fresh PIN tries, nor forget an answer a terminal may ask for again.
import { expect } from 'chai';
import { decodeCommand, decodeResponse, INS_REFUND, payCommand, selectCommand, verifyPinCommand, SW } from '../firmware/core/protocol/apdu';
import { fromHex, toHex, utf8Encode } from '../firmware/base/bytes';
import { fuzzer } from './uplink-fuzz-helpers';
import type { CardLink } from '../firmware/base/ports';
import { PowerLossError } from '../host/flash/ram-flash';
import { RefundDevice, RefundWorld } from './refund-scenarios';
import { encodePayRequest } from '../firmware/core/protocol/messages';
import { ALG_P256 } from '../firmware/core/crypto/verify';
import { formatWalletFile, parseWalletFile, walletFileOf, walletFileWithState, WalletFileError, type WalletFile } from '../host/cli/wallet-file';
import { createIssuer, issueWallet } from '../host/wallet/issuer';
import { WalletEmulator } from '../host/wallet/emulator';
import { seededRandom } from '../host/wallet/random';

const NOW = 1_790_000_000;
const SEED = Number(process.env.TAPLINE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));

async function verify(w: WalletEmulator, pin: string): Promise<number> {
  expect(decodeResponse(await w.transceive(selectCommand())).sw).to.equal(SW.ok);
  return decodeResponse(await w.transceive(verifyPinCommand(pin))).sw;
}

/** What the simulator does between runs: write the state back, read the file again. */
function reload(text: string, w: WalletEmulator): { text: string; wallet: WalletEmulator } {
  const next = walletFileWithState(JSON.parse(text) as WalletFile, w);
  const saved = next ? formatWalletFile(next) : text;
  return { text: saved, wallet: new WalletEmulator(parseWalletFile(saved)) };
}

describe('wallet file: PIN lockout survives a reload', () => {
  const random = seededRandom('wallet-file');
  const issuer = createIssuer(ALG_P256, random, { keyId: 1, notBefore: NOW - 86400, notAfter: NOW + 86400 });
  const issued = issueWallet(issuer, random, { alg: ALG_P256, walletClass: 2, notBefore: NOW - 86400, notAfter: NOW + 86400 });
  const fresh = formatWalletFile(walletFileOf({ profile: 'card', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 5000, pin: '2468' }));

  it('two wrong PINs, a reload, one try left; the third blocks it, and a reload keeps it blocked', async () => {
    let w = new WalletEmulator(parseWalletFile(fresh));
    expect(await verify(w, '1111')).to.equal(SW.pinWrongBase + 2);
    expect(await verify(w, '1111')).to.equal(SW.pinWrongBase + 1);
    let r = reload(fresh, w);
    w = r.wallet;
    expect(w.pinTriesLeft).to.equal(1);
    expect(await verify(w, '1111')).to.equal(SW.pinBlocked);
    r = reload(r.text, w);
    expect(JSON.parse(r.text).pinTriesLeft).to.equal(0);
    expect(await verify(r.wallet, '2468')).to.equal(SW.pinBlocked);
  });

  it('the right PIN restores the tries, and the file says so', async () => {
    let w = new WalletEmulator(parseWalletFile(fresh));
    await verify(w, '1111');
    const r = reload(fresh, w);
    expect(await verify(r.wallet, '2468')).to.equal(SW.ok);
    expect(JSON.parse(reload(r.text, r.wallet).text).pinTriesLeft).to.equal(3);
  });

  it('refuses a tries counter out of range', () => {
    for (const bad of [-1, 4, 1.5, '2']) {
      const text = JSON.stringify({ ...JSON.parse(fresh), pinTriesLeft: bad });
      expect(() => parseWalletFile(text), String(bad)).to.throw(WalletFileError, /pinTriesLeft/);
    }
  });
});

describe('wallet file: spend since sync, the refund root and the refund book survive a reload', () => {
  const random = seededRandom('wallet-file refunds');
  const issuer = createIssuer(ALG_P256, random, { keyId: 1, notBefore: NOW - 86400, notAfter: NOW + 86400 });
  const issued = issueWallet(issuer, random, { alg: ALG_P256, walletClass: 2, notBefore: NOW - 86400, notAfter: NOW + 86400, offlineAmountCap: 5_000, offlineCountCap: 5 });
  const root = { alg: 'p256' as const, publicKey: '02'.padEnd(66, '1') };

  it('a payment counts against the offline cap after a reload, and the book still names it', () => {
    const fresh = formatWalletFile(walletFileOf({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 9_000 }, root));
    const w = new WalletEmulator({ ...parseWalletFile(fresh), holderVerified: true });
    w.answer(selectCommand());
    const request = encodePayRequest({ challenge: random(16), amount: 3_000, currency: 156, terminalId: 'T-1', merchantId: 'M-1', terminalTime: NOW, terminalSeq: 4, cvmRequired: false });
    expect(decodeResponse(w.answer(payCommand(request))).sw).to.equal(SW.ok);
    const r = reload(fresh, w);
    const file = JSON.parse(r.text) as WalletFile;
    expect(file.offlineSpent).to.deep.equal({ amount: 3_000, count: 1 });
    expect(file.refundRoot).to.deep.equal(root);
    expect(r.wallet.offlineSpent).to.deep.equal({ amount: 3_000, count: 1 });
    expect(r.wallet.refundBook.map((e) => [e.terminalId, e.terminalSeq, e.amount, e.refunded])).to.deep.equal([['T-1', 4, 3_000, 0]]);
    // 3000 spent of a 5000 cap: 2500 more is over it, after the reload as before.
    const again = new WalletEmulator({ ...parseWalletFile(r.text), holderVerified: true });
    again.answer(selectCommand());
    const more = encodePayRequest({ challenge: random(16), amount: 2_500, currency: 156, terminalId: 'T-1', merchantId: 'M-1', terminalTime: NOW, terminalSeq: 5, cvmRequired: false });
    expect(decodeResponse(again.answer(payCommand(more))).sw).to.equal(SW.walletOfflineAmount);
  });

  it('refuses a damaged refund book or spend', () => {
    const base = walletFileOf({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 9_000 }, root);
    expect(() => parseWalletFile(formatWalletFile({ ...base, offlineSpent: { amount: -1, count: 0 } }))).to.throw(WalletFileError, /offlineSpent/);
    expect(() => parseWalletFile(formatWalletFile({ ...base, refundRoot: { alg: 'p256', publicKey: 'zz' } }))).to.throw(WalletFileError, /refundRoot/);
    const entry = { counter: 1, terminalId: 'T-1', terminalSeq: 4, amount: 100, signature: '00'.repeat(64), refunded: 200, lastRefundSeq: 0 };
    expect(() => parseWalletFile(formatWalletFile({ ...base, refundBook: [entry] }))).to.throw(WalletFileError, /refunded above/);
  });
});

describe('wallet file: a refund in doubt is recovered after the wallet is reloaded from its file', () => {
  /** A phone wallet personalised by the world's issuer, trusting its root, kept in a file. */
  function walletInFile(world: RefundWorld): string {
    const issued = issueWallet(world.issuer, world.random, { alg: world.alg, walletClass: 2, notBefore: NOW - 86400, notAfter: NOW + 365 * 86400 });
    return formatWalletFile(walletFileOf({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 100_000 }, { alg: 'p256', publicKey: toHex(world.root.publicKey) }));
  }
  const load = (text: string) => new WalletEmulator({ ...parseWalletFile(text), holderVerified: true });

  /** A merchant terminal with refunds, and a wallet from its file that paid it 30.00, saved and reloaded. */
  async function paid(seed: string): Promise<{ device: RefundDevice; text: string; wallet: WalletEmulator }> {
    const world = new RefundWorld(ALG_P256, seed);
    const device = new RefundDevice(world);
    device.boot();
    const fresh = walletInFile(world);
    const wallet = load(fresh);
    await device.pay(wallet, 3000);
    wallet.removed();
    const text = reload(fresh, wallet).text;
    return { device, text, wallet: load(text) };
  }

  it('power cut once the wallet answered REFUND, the wallet reloaded: the next refund tap gets the same answer and journals the refund', async function () {
    this.timeout(60_000);
    const start = await paid('wallet-file refund reload');
    const { device, text } = start;
    let wallet = start.wallet;
    // The wallet credits and answers; the terminal loses power before it journals the answer.
    let answered: Uint8Array | undefined;
    const cut: CardLink = {
      transceive: async (apdu) => {
        const answer = wallet.answer(apdu);
        if (decodeCommand(apdu).ins !== INS_REFUND) return answer;
        answered = answer;
        device.flash.cutPowerNow();
        throw new PowerLossError('power lost after REFUND');
      },
    };
    try {
      await device.refund(cut, '', '1000');
    } catch (e) {
      if (!(e instanceof PowerLossError)) throw e;
    }
    wallet.removed();
    expect(device.flash.dead).to.equal(true);
    expect(decodeResponse(answered!).sw).to.equal(SW.ok);
    expect(wallet.balance).to.equal(98_000);
    // What the secure element keeps, through the file: the answer with it.
    const saved = reload(text, wallet);
    const book = (JSON.parse(saved.text) as WalletFile).refundBook!;
    expect(book.map((e) => [e.refunded, e.lastRapdu])).to.deep.equal([[1000, toHex(answered!)]]);
    wallet = load(saved.text);
    device.boot();
    expect(device.refunds()).to.deep.equal([{ seq: 2, amount: 1000, done: false }]);
    // The next refund of that payment sends the one in doubt again first: the same signed answer, no second credit.
    const answers: string[] = [];
    const link: CardLink = {
      transceive: async (apdu) => {
        const a = wallet.answer(apdu);
        if (decodeCommand(apdu).ins === INS_REFUND) answers.push(toHex(a));
        return a;
      },
    };
    const effects = await device.refund(link, '', '500');
    wallet.removed();
    expect(answers[0]).to.equal(toHex(answered!));
    expect(effects.some((e) => e.type === 'refunded'), device.shown).to.equal(true);
    expect(device.screens.some((l) => l.some((x) => x.includes('in doubt')))).to.equal(true);
    expect(device.refunds()).to.deep.equal([{ seq: 2, amount: 1000, done: true }, { seq: 3, amount: 500, done: true }]);
    expect(wallet.balance).to.equal(98_500);
    expect(wallet.refundBook.map((e) => e.refunded)).to.deep.equal([1500]);
  });

  it('refuses a last answer that is damaged or not of that payment (and survives mutated ones)', async function () {
    this.timeout(60_000);
    const start = await paid('wallet-file refund answers');
    await start.device.refund(start.wallet, '', '1000');
    start.wallet.removed();
    const { text, wallet } = reload(start.text, start.wallet);
    const file = JSON.parse(text) as WalletFile;
    const entry = file.refundBook![0]!;
    expect(entry.lastRequest).to.be.a('string');
    expect(load(text).refundBook[0]!.lastRapdu).to.deep.equal(wallet.refundBook[0]!.lastRapdu);
    const bad = (e: Partial<typeof entry>) => formatWalletFile({ ...file, refundBook: [{ ...entry, ...e }] });
    expect(() => parseWalletFile(bad({ lastRapdu: undefined }))).to.throw(WalletFileError, /lastRequest and lastRapdu must both be hex/);
    expect(() => parseWalletFile(bad({ lastRapdu: '6a89' }))).to.throw(WalletFileError, /must end in 9000/);
    expect(() => parseWalletFile(bad({ lastRapdu: '00' + entry.lastRapdu!.slice(2) }))).to.throw(WalletFileError, /lastRapdu: /);
    expect(() => parseWalletFile(bad({ lastRefundSeq: entry.lastRefundSeq + 1 }))).to.throw(WalletFileError, /not the last refund of this payment/);
    expect(() => parseWalletFile(bad({ lastRequest: entry.lastRequest!.slice(0, -4) }))).to.throw(WalletFileError, /lastRequest and lastRapdu: /);
    // Mutated requests and answers, and mutated files: WalletFileError or a book, never another error.
    const fuzz = fuzzer({ seed: SEED, inputs: 10_000 });
    const isFileError = (e: unknown) => e instanceof WalletFileError;
    const results = [
      fuzz('last refund request', [fromHex(entry.lastRequest!)], (b) => parseWalletFile(bad({ lastRequest: toHex(b) })), isFileError),
      fuzz('last refund answer', [fromHex(entry.lastRapdu!)], (b) => parseWalletFile(bad({ lastRapdu: toHex(b) })), isFileError),
      fuzz('wallet file with refund answers', [utf8Encode(text)], (b) => parseWalletFile(new TextDecoder().decode(b)), isFileError),
    ];
    for (const r of results) expect(r.refused).to.be.within(1, 9_999);
  });
});
