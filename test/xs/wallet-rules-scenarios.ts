// The wallet's own rules, end to end through the terminal, on Node (test/wallet-rules.test.ts) and on
// XS (test/xs/wallet-rules.guest.ts): its offline caps since its last sync, and its purpose-bound
// balances (a food subsidy) at matching and non-matching merchants. Platform-free.
import { decodeCertificate, encodeCertificate } from '../../firmware/core/protocol/messages';
import { RECORD_RELEASE } from '../../firmware/core/protocol/intent';
import { screenLines } from '../../firmware/ui/text';
import type { Alg } from '../../firmware/core/crypto/verify';
import { issueWallet } from '../../host/wallet/issuer';
import { WalletEmulator } from '../../host/wallet/emulator';
import { classOfflineCaps } from '../../host/wallet/offline-caps';
import { signGrant } from '../../host/wallet/purses';
import { decodeReceipt } from '../../firmware/core/protocol/receipt';
import { verifyReceipt } from '../../firmware/core/crypto/receipt';
import { decodeResponse, INS_PAY, payCommand, selectCommand } from '../../firmware/core/protocol/apdu';
import { decodeGrant, encodeGrant, encodePurseResponse, type GrantBody } from '../../firmware/core/protocol/purpose';
import { encodePayRequest } from '../../firmware/core/protocol/messages';
import { NOW, Relay, World, type Scenario } from './core-scenarios';

/** A grocery (ISO 18245 5411) in region 101, a restaurant (5812) there, a grocery in region 202. */
export const GROCERY = { category: 5411, region: 101 };
export const RESTAURANT = { category: 5812, region: 101 };
export const GROCERY_ELSEWHERE = { category: 5411, region: 202 };
export const FOOD = { program: 'FOOD-2026', categories: [5411, 5499], regions: [101] };

/** A wallet with 500.00 of free money and a 200.00 food subsidy (purse 1) its holder chose to pay with. */
export function subsidyWallet(w: World, grant: Partial<Omit<GrantBody, 'walletId' | 'purse' | 'issuerKeyId' | 'issuerAlg'>> = {}): WalletEmulator {
  const issued = issueWallet(w.issuer, w.random, { alg: w.alg, walletClass: 2, notBefore: NOW - 86400, notAfter: NOW + 86400 * 365 });
  const walletId = decodeCertificate(issued.certificate).walletId;
  const subsidy = signGrant(w.issuer, { walletId, purse: 1, ...FOOD, notAfter: NOW + 30 * 86400, ...grant });
  return new WalletEmulator({ profile: 'card', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 500 * YUAN, purses: [{ grant: subsidy, balance: 200 * YUAN }], payWith: 1 });
}

function money(n: number): string {
  return (n / YUAN).toFixed(2);
}

/** Counts the PAY commands that reach the wallet. */
function payCounter(wallet: WalletEmulator): { link: Relay; pays: () => number } {
  let n = 0;
  const link = new Relay(wallet, { command: (apdu) => (apdu[1] === INS_PAY && n++, apdu) });
  return { link, pays: () => n };
}

/** The wallet asked directly, as a terminal that skipped its own check would: PAY from purse 1 at `place`. */
function payDirect(w: World, wallet: WalletEmulator, place: { category: number; region: number }, time: number): string {
  wallet.answer(selectCommand());
  const request = encodePayRequest({ challenge: w.random(16), amount: 10 * YUAN, currency: 156, terminalId: 'T-0001', merchantId: 'M-cafe', terminalTime: time, terminalSeq: 99, cvmRequired: false, bound: { purse: 1, merchantCategory: place.category, region: place.region } });
  return decodeResponse(wallet.answer(payCommand(request))).sw.toString(16);
}

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
  'a food subsidy spent at a grocery: paid from the bound balance, the receipt carries its grant': {
    expect: 'approved; subsidy 200.00 -> 150.00, free money 500.00; receipt grant FOOD-2026 purse 1, re-verifies',
    run: async (alg) => {
      const w = new World({ alg, place: GROCERY });
      const wallet = subsidyWallet(w);
      const r = await w.tap(wallet, 50 * YUAN);
      const receipt = decodeReceipt(w.journal.records[0]!.payload);
      const check = verifyReceipt(receipt, [w.issuer.key], NOW);
      const grant = receipt.grant ? decodeGrant(receipt.grant) : undefined;
      const after = wallet.purses.balances[0]!.balance;
      return `${r}; subsidy 200.00 -> ${money(after)}, free money ${money(wallet.balance)}; receipt grant ${grant?.program} purse ${grant?.purse}, ${check.ok ? 're-verifies' : 'does not verify'}`;
    },
  },
  'the food subsidy at a restaurant: the terminal declines before PAY, with its reason': {
    expect: 'purposeMismatch [DECLINED / funds not for here], 0 PAY sent, subsidy 200.00',
    run: async (alg) => {
      const w = new World({ alg, place: RESTAURANT });
      const wallet = subsidyWallet(w);
      const { link, pays } = payCounter(wallet);
      const r = await w.tap(link, 50 * YUAN);
      return `${r} [${declinedText(w)}], ${pays()} PAY sent, subsidy ${money(wallet.purses.balances[0]!.balance)}`;
    },
  },
  'the food subsidy at a grocery outside its region: declined by the terminal': {
    expect: 'purposeMismatch',
    run: async (alg) => {
      const w = new World({ alg, place: GROCERY_ELSEWHERE });
      return w.tap(subsidyWallet(w), 50 * YUAN);
    },
  },
  'the food subsidy after its expiry: declined by the terminal': {
    expect: 'purposeExpired [DECLINED / bound funds expired], 0 PAY sent',
    run: async (alg) => {
      const w = new World({ alg, place: GROCERY });
      const wallet = subsidyWallet(w, { notAfter: NOW - 60 });
      const { link, pays } = payCounter(wallet);
      const r = await w.tap(link, 50 * YUAN);
      return `${r} [${declinedText(w)}], ${pays()} PAY sent`;
    },
  },
  'the wallet itself refuses the subsidy at a restaurant (6a8c), outside its region (6a8c), after expiry (6a8d)': {
    expect: '6a8c 6a8c 6a8d 9000; subsidy 190.00',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = subsidyWallet(w);
      const out = [payDirect(w, wallet, RESTAURANT, NOW), payDirect(w, wallet, GROCERY_ELSEWHERE, NOW), payDirect(w, wallet, GROCERY, NOW + 31 * 86400), payDirect(w, wallet, GROCERY, NOW)];
      return `${out.join(' ')}; subsidy ${money(wallet.purses.balances[0]!.balance)}`;
    },
  },
  'a terminal told the subsidy is free money still gets the wallet refusal as a reason': {
    expect: 'purposeMismatch, subsidy 200.00',
    run: async (alg) => {
      // A relay rewrites the terminal's PAY to name the subsidy at a restaurant: the wallet refuses unsigned.
      const w = new World({ alg, place: RESTAURANT });
      const wallet = subsidyWallet(w);
      wallet.purses.choose(undefined);
      const link = new Relay(wallet, {
        command: (apdu) => {
          if (apdu[1] !== INS_PAY) return apdu;
          const body = apdu.subarray(5, 5 + apdu[4]!);
          const named = new Uint8Array([...body, 0x88, 1, 1, 0x89, 2, 0x16, 0xb4, 0x8a, 2, 0, 101]);
          return payCommand(named);
        },
      });
      const r = await w.tap(link, 50 * YUAN);
      return `${r}, subsidy ${money(wallet.purses.balances[0]!.balance)}`;
    },
  },
  'a grant for another wallet, or with its categories widened, is refused': {
    expect: 'badCertificate badCertificate',
    run: async (alg) => {
      const w = new World({ alg, place: RESTAURANT });
      const other = subsidyWallet(w);
      const stolen = other.purses.choice()!.grant;
      const mine = subsidyWallet(w);
      const issued = issueWallet(w.issuer, w.random, { alg, walletClass: 2, notBefore: NOW - 86400, notAfter: NOW + 86400 * 365 });
      const thief = new WalletEmulator({ profile: 'card', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 0, purses: [], payWith: undefined });
      const link = new Relay(thief, { response: (c, r) => (c[1] === 0x34 ? new Uint8Array([...encodePurse(stolen), 0x90, 0x00]) : r) });
      const a = await w.tap(link, 10 * YUAN);
      await w.next();
      const g = decodeGrant(mine.purses.choice()!.grant);
      const widened = encodeGrant({ ...g, categories: [...g.categories, RESTAURANT.category] }, g.signature);
      const link2 = new Relay(mine, { response: (c, r) => (c[1] === 0x34 ? new Uint8Array([...encodePurse(widened), 0x90, 0x00]) : r) });
      return `${a} ${await w.tap(link2, 10 * YUAN)}`;
    },
  },
};

function encodePurse(grant: Uint8Array): Uint8Array {
  return encodePurseResponse({ balance: 200 * YUAN, grant });
}

