// The wallet's own rules, end to end through the terminal, on Node (test/wallet-rules.test.ts) and on
// XS (test/xs/wallet-rules.guest.ts): its offline caps since its last sync. Platform-free.
import { decodeCertificate, encodeCertificate } from '../../firmware/core/protocol/messages';
import { RECORD_RELEASE } from '../../firmware/core/protocol/intent';
import { screenLines } from '../../firmware/ui/text';
import type { Alg } from '../../firmware/core/crypto/verify';
import { issueWallet } from '../../host/wallet/issuer';
import { WalletEmulator } from '../../host/wallet/emulator';
import { classOfflineCaps } from '../../host/wallet/offline-caps';
import { NOW, World, type Scenario } from './core-scenarios';

const YUAN = 100;

function cappedWallet(w: World, caps: { offlineAmountCap?: number; offlineCountCap?: number }, balance = 1_000 * YUAN): WalletEmulator {
  const issued = issueWallet(w.issuer, w.random, { alg: w.alg, walletClass: 2, notBefore: NOW - 86400, notAfter: NOW + 86400 * 365, ...caps });
  return new WalletEmulator({ profile: 'card', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance });
}

function declinedText(w: World): string {
  for (let i = w.effects.length - 1; i >= 0; i--) {
    const e = w.effects[i]!;
    if (e.type === 'display' && e.screen.kind === 'declined') return screenLines(e.screen).join(' / ');
  }
  return 'no decline screen';
}

export const WALLET_RULE_SCENARIOS: Record<string, { expect: string; run: Scenario }> = {
  "the wallet's offline amount cap: refused by the wallet with its reason, nothing debited, the intent released": {
    expect: 'approved, walletOfflineAmount [DECLINED / card offline limit], balance 800.00, spent 200.00 in 1, released; after sync approved',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = cappedWallet(w, { offlineAmountCap: 300 * YUAN, offlineCountCap: 10 });
      const first = await w.tap(wallet, 200 * YUAN);
      await w.next();
      const second = await w.tap(wallet, 150 * YUAN);
      const shown = declinedText(w);
      const released = w.journal.bookkeeping.some((r) => r.type === RECORD_RELEASE);
      const { amount, count } = wallet.offlineSpent;
      await w.next();
      wallet.synced();
      const third = await w.tap(wallet, 150 * YUAN);
      return `${first}, ${second} [${shown}], balance ${(wallet.balance + 150 * YUAN) / YUAN}.00, spent ${amount / YUAN}.00 in ${count}, ${released ? 'released' : 'left open'}; after sync ${third}`;
    },
  },
  "the wallet's offline count cap: the third payment since sync refused": {
    expect: 'approved approved walletOfflineCount',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = cappedWallet(w, { offlineCountCap: 2 });
      const out: string[] = [];
      for (let i = 0; i < 3; i++) {
        out.push(await w.tap(wallet, 100));
        await w.next();
      }
      return out.join(' ');
    },
  },
  "the class's default caps (class 4: 1,000 yuan) refuse a second 600 yuan": {
    expect: 'approved walletOfflineAmount',
    run: async (alg) => {
      const w = new World({ alg, config: { walletClasses: { 4: { single: 1_000 * YUAN, daily: 10_000 * YUAN } } } });
      const issued = issueWallet(w.issuer, w.random, { alg, walletClass: 4, notBefore: NOW - 86400, notAfter: NOW + 86400 * 365, ...classOfflineCaps(4) });
      const wallet = new WalletEmulator({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 5_000 * YUAN, holderVerified: true });
      const a = await w.tap(wallet, 600 * YUAN);
      await w.next();
      return `${a} ${await w.tap(wallet, 600 * YUAN)}`;
    },
  },
  'a certificate whose offline caps were raised after issuance is refused (cap evasion)': {
    expect: 'badCertificate',
    run: async (alg) => {
      const w = new World({ alg });
      const honest = cappedWallet(w, { offlineAmountCap: 100 * YUAN, offlineCountCap: 5 });
      const c = decodeCertificate(honest.certificate);
      const raised = encodeCertificate({ ...c, offlineAmountCap: 100_000 * YUAN }, c.signature);
      const forged = new WalletEmulator({ profile: 'card', certificate: raised, secretKey: new Uint8Array(0), balance: 1_000 * YUAN });
      return w.tap(forged, 50 * YUAN);
    },
  },
};
