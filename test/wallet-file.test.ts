// The wallet file keeps what the secure element would keep across a power-off: balance, counter and the
// PIN tries left. A reload must not hand out fresh PIN tries.
import { expect } from 'chai';
import { decodeResponse, payCommand, selectCommand, verifyPinCommand, SW } from '../firmware/core/protocol/apdu';
import { encodePayRequest } from '../firmware/core/protocol/messages';
import { ALG_P256 } from '../firmware/core/crypto/verify';
import { formatWalletFile, parseWalletFile, walletFileOf, walletFileWithState, WalletFileError, type WalletFile } from '../host/cli/wallet-file';
import { createIssuer, issueWallet } from '../host/wallet/issuer';
import { WalletEmulator } from '../host/wallet/emulator';
import { seededRandom } from '../host/wallet/random';

const NOW = 1_790_000_000;

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
