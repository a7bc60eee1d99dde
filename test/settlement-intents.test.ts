// In-doubt payments at the service (host/settlement/intents.ts, docs/SETTLEMENT.md "In-doubt payments"):
// a terminal cut off after PAY uploads its open intent; the wallet's own signed log reaches the service
// in a sync; the service credits the payment once (whichever arrives first, and whether or not the
// terminal later recovers it too), releases one the wallet never signed, finds one left open too long,
// and refuses a forged, stale or replayed sync. The taps are the payment core's own Tap. Both backends.
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../host/cli/main';
import { formatWalletFile, walletFileOf, walletFileWithState } from '../host/cli/wallet-file';
import { concatBytes, fromHex, toHex } from '../firmware/base/bytes';
import type { IssuerKey } from '../firmware/core/crypto/keyring';
import { verifyReceipt } from '../firmware/core/crypto/receipt';
import { ALG_P256, verifySignature } from '../firmware/core/crypto/verify';
import { decodeIntent } from '../firmware/core/protocol/intent';
import { decodeCertificate } from '../firmware/core/protocol/messages';
import { decodeBatch, decodeBatchResponse, verifyBatch, verifyBatchResponse } from '../firmware/core/uplink/wire';
import { IN_DOUBT_VECTOR_FILE, makeInDoubtVector } from '../host/wallet/intent-vectors';
import { VECTOR_TIME } from '../host/wallet/vectors';
import { XSScenario } from '../host/xs/scenario';
import { UploadScenario } from './xs/in-doubt-upload';
import { CardLostError, type CardLink } from '../firmware/base/ports';
import { INS_PAY } from '../firmware/core/protocol/apdu';
import { INTENT_RECOVERED, INTENT_RELEASED, RESULT_ACCEPTED, RESULT_DUPLICATE } from '../firmware/core/uplink/wire';
import { DEFAULT_INTENT_BOUND_SECONDS, SYNC_NONCE_TTL_SECONDS } from '../host/settlement/intents';
import { WalletEmulator } from '../host/wallet/emulator';
import { signGrant } from '../host/wallet/purses';
import { decodeReceipt } from '../firmware/core/protocol/receipt';
import { encodeUpdate, UPDATE_FARE_RULES } from '../firmware/core/uplink/updates';
import { parseFareRules } from '../firmware/core/fares/rules';
import { ZONE_RULES } from './xs/fares-scenarios';
import { sign } from '../host/wallet/issuer';
import { decodeWalletSync, encodeWalletSync, WALLET_SYNC_DOMAIN } from '../host/wallet/sync';
import { BACKENDS, DAY, unixNow, World, type Backend, type TestTerminal } from './settlement-fixtures';

/** A tap whose PAY answer never reaches the terminal: after the wallet signed (`signed`), or before. */
function cutLink(wallet: WalletEmulator, signed: boolean): CardLink & { removed(): void } {
  return {
    transceive: async (apdu) => {
      if (apdu[1] !== INS_PAY) return wallet.answer(apdu);
      if (signed) wallet.answer(apdu);
      throw new CardLostError('power cut');
    },
    removed: () => wallet.removed(),
  };
}

for (const { name, start } of BACKENDS) {
  describe(`settlement of in-doubt payments (${name})`, function () {
    this.timeout(120_000);
    let backend: Backend;
    let world: World;
    /** The service's clock (unix seconds): a sync's nonce must be later than the intent's upload. */
    let now: number;
    before(async () => (backend = await start()));
    after(async () => backend.stop());
    beforeEach(async () => {
      now = unixNow();
      world = await World.create({ seed: `${name} intents ${Math.random()}` });
      await world.start(await backend.fresh(), { clock: () => now });
    });
    afterEach(async () => world.close());

    async function terminal(id: string): Promise<TestTerminal> {
      const t = await world.terminal(id);
      t.reportsIntents = true;
      return t;
    }

    /** A tap cut after PAY (or before it): the payment is in doubt at the terminal. */
    async function cut(t: TestTerminal, wallet: WalletEmulator, amount: number, signed = true): Promise<number> {
      const tap = await t.pay(cutLink(wallet, signed) as unknown as WalletEmulator, amount);
      expect(tap.kind).to.equal('declined');
      expect(t.inDoubt.open).to.have.length(1);
      return t.inDoubt.open[0]!.terminalSeq;
    }

    async function nonce(): Promise<Uint8Array> {
      const r = await fetch(`${world.url}/v1/wallet-sync/nonce`, { method: 'POST' });
      return fromHex(((await r.json()) as { nonce: string }).nonce);
    }

    async function sync(wallet: WalletEmulator, body?: Uint8Array) {
      return world.post('/v1/wallet-sync', body ?? wallet.syncMessage(await nonce()));
    }

    async function rows(table: string): Promise<number> {
      return world.service!.settlement.db.read(async (tx) => Number((await tx.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))!.n));
    }

    async function balances(t: TestTerminal, wallet: WalletEmulator): Promise<number[]> {
      const s = world.service!.settlement;
      return [await s.balance(`merchant:${t.merchantId}`), await s.balance(`wallet:${wallet.info.walletId}`), await s.balance('advance')];
    }

    it("settles an uploaded intent when the wallet's sync shows it signed: credited once, and the terminal told", async () => {
      const t = await terminal('T-1');
      const wallet = world.wallet().emulator();
      const seq = await cut(t, wallet, 1500);
      const first = await t.upload(world.url);
      expect(first.response!.intents ?? []).to.deep.equal([]);
      expect(t.inDoubt.open).to.have.length(1);

      now += 1;
      const synced = await sync(wallet);
      expect(synced.status, JSON.stringify(synced.json)).to.equal(200);
      expect(synced.json.recovered).to.deep.equal([{ terminalId: 'T-1', terminalSeq: seq, amount: 1500 }]);
      expect(await balances(t, wallet)).to.deep.equal([1500, -1500, 0]);
      // a second sync of the same log credits nothing more
      now += 1;
      expect((await sync(wallet)).json.recovered).to.deep.equal([]);
      expect(await balances(t, wallet)).to.deep.equal([1500, -1500, 0]);

      const second = await t.upload(world.url);
      expect(second.response!.intents).to.deep.equal([{ terminalSeq: seq, outcome: INTENT_RECOVERED }]);
      expect(t.inDoubt.open).to.deep.equal([]);
      expect((await world.service!.settlement.stats()).settled).to.equal(1);
    });

    it("settles an intent that arrives after the wallet's sync, in the answer to its own upload", async () => {
      const t = await terminal('T-2');
      const wallet = world.wallet().emulator();
      const seq = await cut(t, wallet, 800);
      const synced = await sync(wallet);
      expect([synced.status, synced.json.stored, synced.json.recovered]).to.deep.equal([200, 1, []]);
      const up = await t.upload(world.url);
      expect(up.response!.intents).to.deep.equal([{ terminalSeq: seq, outcome: INTENT_RECOVERED }]);
      expect(t.inDoubt.open).to.deep.equal([]);
      expect(await balances(t, wallet)).to.deep.equal([800, -800, 0]);
    });

    it('releases an intent the wallet never signed, but only on a sync made after the intent reached the service', async () => {
      const t = await terminal('T-3');
      const wallet = world.wallet().emulator();
      expect((await t.pay(wallet, 300)).kind).to.equal('approved');
      const seq = await cut(t, wallet, 1200, false);
      // before the upload the service cannot know the tap happened before the sync
      const early = await nonce();
      await t.upload(world.url);
      const tooEarly = await sync(wallet, wallet.syncMessage(early));
      expect([tooEarly.status, tooEarly.json.released]).to.deep.equal([200, []]);
      now += 1;
      const synced = await sync(wallet);
      expect(synced.json.released).to.deep.equal([{ terminalId: 'T-3', terminalSeq: seq, amount: 1200 }]);
      const up = await t.upload(world.url);
      expect(up.response!.intents).to.deep.equal([{ terminalSeq: seq, outcome: INTENT_RELEASED }]);
      expect(t.inDoubt.open).to.deep.equal([]);
      expect(await balances(t, wallet)).to.deep.equal([300, -300, 0]);
    });

    it("credits once when the terminal recovers the payment itself too, before or after the wallet's sync", async () => {
      const t = await terminal('T-4');
      const wallet = world.wallet().emulator();
      const seq = await cut(t, wallet, 1500);
      await t.upload(world.url);
      now += 1;
      expect((await sync(wallet)).json.recovered).to.have.length(1);
      // the holder taps again before the terminal's next upload: RECALL recovers the same payment there
      const next = await t.pay(wallet, 700);
      expect(next.kind).to.equal('approved');
      expect(t.journal.records).to.have.length(2);
      const up = await t.upload(world.url);
      expect(up.response!.results.map((r) => [r.status, r.reason ?? 'ok'])).to.deep.equal([
        [RESULT_DUPLICATE, "already settled from the wallet's log"],
        [RESULT_ACCEPTED, 'ok'],
      ]);
      expect(await balances(t, wallet)).to.deep.equal([2200, -2200, 0]);

      // the other order: the terminal's recovered receipt first, the wallet's sync after
      const u = await terminal('T-5');
      const other = world.wallet().emulator();
      const seq2 = await cut(u, other, 900);
      await u.upload(world.url);
      expect((await u.pay(other, 100)).kind).to.equal('approved');
      const mine = await u.upload(world.url);
      expect(mine.response!.results.map((r) => r.status)).to.deep.equal([RESULT_ACCEPTED, RESULT_ACCEPTED]);
      now += 1;
      const late = await sync(other);
      expect([late.json.recovered, late.json.released]).to.deep.equal([[], []]);
      expect(await balances(u, other)).to.deep.equal([1000, -1000, 0]);
      expect([seq, seq2]).to.deep.equal([1, 1]);
    });

    it('applies the checks of any receipt to a recovered one: an overspend is booked as a loss and the wallet denied', async () => {
      const t = await terminal('T-6');
      const spec = world.wallet();
      const wallet = spec.emulator();
      expect((await world.admin('POST', '/v1/wallets', { walletId: wallet.info.walletId, balance: 1000 })).status).to.equal(200);
      await cut(t, wallet, 1500);
      await t.upload(world.url);
      now += 1;
      expect((await sync(wallet)).json.recovered).to.have.length(1);
      expect(await world.service!.settlement.stats()).to.deep.equal({ overspend: 1 });
      const findings = (await world.service!.settlement.findings(wallet.info.walletId)).map((f) => f.kind);
      expect(findings).to.deep.equal(['overspend']);
      expect((await world.service!.settlement.denyList(0)).entries.map((e) => e.walletId)).to.deep.equal([wallet.info.walletId]);
    });

    it("finds a clone in the wallet's own log: its sync signed another exchange under a counter a terminal's receipt holds", async () => {
      const t = await terminal('T-10');
      const spec = world.wallet();
      const original = spec.emulator();
      const clone = spec.emulator();
      expect((await t.pay(clone, 500)).kind).to.equal('approved');
      expect((await t.upload(world.url)).response!.results.map((r) => r.status)).to.deep.equal([RESULT_ACCEPTED]);
      // the original spends its counter 1 at a terminal still offline: only its log says so
      const offline = await world.terminal('T-11');
      expect((await offline.pay(original, 700)).kind).to.equal('approved');
      const synced = await sync(original);
      expect(synced.status).to.equal(200);
      const found = await world.service!.settlement.findings(spec.walletId);
      expect(found.map((f) => [f.kind, f.evidence.counter, (f.evidence.other as { terminalId: string }).terminalId])).to.deep.equal([['clone', 1, 'T-10']]);
      expect((await world.service!.settlement.denyList(0)).entries.map((e) => [e.walletId, e.reason])).to.deep.equal([[spec.walletId, 'clone']]);
    });

    it('refuses a forged, tampered, incomplete, stale or replayed sync, and writes nothing for it', async () => {
      const t = await terminal('T-7');
      const spec = world.wallet();
      const wallet = spec.emulator();
      expect((await t.pay(wallet, 200)).kind).to.equal('approved');
      await cut(t, wallet, 1500);
      await t.upload(world.url);
      now += 1;
      const before = [await rows('wallet_log'), await rows('wallet_syncs')];
      const good = wallet.syncMessage(await nonce());
      const parsed = decodeWalletSync(good);
      const walletSign = (m: Uint8Array) => sign({ alg: wallet.info.alg, secretKey: spec.options.secretKey }, m);
      const intruder = world.wallet().options.secretKey;

      const refusals: [string, Uint8Array][] = [
        ['bad-nonce', wallet.syncMessage(new Uint8Array(16).fill(7))],
        ['bad-signature', encodeWalletSync(parsed, (m) => sign({ alg: wallet.info.alg, secretKey: intruder }, m))],
        ['bad-signature', Uint8Array.from(good, (b, i) => (i === good.length - 1 ? b ^ 1 : b))],
        ['bad-exchange', encodeWalletSync({ ...parsed, entries: parsed.entries.map((e, i) => (i === 1 ? { ...e, response: Uint8Array.from(e.response, (b, k) => (k === e.response.length - 1 ? b ^ 1 : b)) } : e)) }, walletSign)],
        ['incomplete-sync', encodeWalletSync({ ...parsed, entries: parsed.entries.slice(1) }, walletSign)],
        ['malformed-sync', good.subarray(0, 40)],
      ];
      for (const [code, body] of refusals) {
        const r = await sync(wallet, body);
        expect([r.status >= 400, r.json.error], code).to.deep.equal([true, code]);
      }
      expect([await rows('wallet_log'), await rows('wallet_syncs')]).to.deep.equal(before);

      expect((await sync(wallet, good)).status).to.equal(200);
      const replay = await sync(wallet, good);
      expect([replay.status, replay.json.error]).to.deep.equal([409, 'replayed-sync']);
      const old = wallet.syncMessage(await nonce());
      now += SYNC_NONCE_TTL_SECONDS + 1;
      const stale = await sync(wallet, old);
      expect([stale.status, stale.json.error]).to.deep.equal([409, 'stale-sync']);
      expect(await balances(t, wallet)).to.deep.equal([1700, -1700, 0]);
    });

    it('tapline wallet-sync sends the log a wallet file keeps, and says what it settled', async () => {
      const t = await terminal('T-9');
      const spec = world.wallet();
      const wallet = spec.emulator();
      const seq = await cut(t, wallet, 4200);
      await t.upload(world.url);
      now += 1;
      const path = join(world.dir, 'bob.json');
      writeFileSync(path, formatWalletFile(walletFileWithState(walletFileOf({ ...spec.options, profile: 'phone' }), wallet)!), { mode: 0o600 });
      const lines: string[] = [];
      const code = await main(['wallet-sync', '--wallet', path, '--service', world.url], (l) => lines.push(l), (l) => lines.push(l));
      expect(code, lines.join('\n')).to.equal(0);
      expect(lines[1]).to.equal(`in-doubt payment T-9#${seq} of 4200: signed by the wallet, credited to the terminal`);
      expect(await balances(t, wallet)).to.deep.equal([4200, -4200, 0]);
    });

    it("books a bound-purse payment cut after PAY to its program, recovered at the terminal's next tap or from the wallet's sync", async () => {
      const grocery = { category: 5411, region: 101 };
      const subsidy = () => {
        const spec = world.wallet();
        const grant = signGrant(world.issuer, { walletId: spec.walletId, purse: 1, program: 'FOOD-2026', categories: [5411], regions: [101], notAfter: now + 30 * DAY });
        return { grant, wallet: new WalletEmulator({ ...spec.options, purses: [{ grant, balance: 20_000 }], payWith: 1 }) };
      };
      const s = world.service!.settlement;
      // The holder taps again: RECALL recovers it, the receipt carries the grant as an uncut tap's does.
      const t = await world.terminal('T-12', { place: grocery });
      t.reportsIntents = true;
      const { grant, wallet } = subsidy();
      const seq = await cut(t, wallet, 5000);
      const next = await t.pay(wallet, 700);
      expect(next.kind).to.equal('approved');
      expect(t.inDoubt.open).to.deep.equal([]);
      const recovered = decodeReceipt(t.journal.records[0]!.payload);
      expect([recovered.terminalSeq, toHex(recovered.grant!)]).to.deep.equal([seq, toHex(grant)]);
      const up = await t.upload(world.url);
      expect(up.response!.results.map((r) => [r.status, r.reason ?? 'ok'])).to.deep.equal([[RESULT_ACCEPTED, 'ok'], [RESULT_ACCEPTED, 'ok']]);
      expect([await s.balance(`merchant:${t.merchantId}`), await s.balance('program:FOOD-2026'), await s.balance(`wallet:${wallet.info.walletId}`)]).to.deep.equal([5700, -5700, 0]);
      expect(await s.findings(wallet.info.walletId)).to.deep.equal([]);

      // The holder never comes back to that terminal: the uploaded intent keeps the grant, the sync settles it.
      const u = await world.terminal('T-13', { place: grocery });
      u.reportsIntents = true;
      const other = subsidy().wallet;
      const seq2 = await cut(u, other, 900);
      await u.upload(world.url);
      now += 1;
      const synced = await sync(other);
      expect(synced.json.recovered).to.deep.equal([{ terminalId: 'T-13', terminalSeq: seq2, amount: 900 }]);
      expect([await s.balance(`merchant:${u.merchantId}`), await s.balance('program:FOOD-2026'), await s.balance(`wallet:${other.info.walletId}`)]).to.deep.equal([900, -6600, 0]);
      expect(await s.findings(other.info.walletId)).to.deep.equal([]);
      expect((await u.upload(world.url)).response!.intents).to.deep.equal([{ terminalSeq: seq2, outcome: INTENT_RECOVERED }]);
      expect(u.inDoubt.open).to.deep.equal([]);
    });

    it("prices a transit tap cut after PAY as the uncut one: its intent keeps the transit log and the rules' version, recovered at the next tap or from the wallet's sync", async () => {
      const s = world.service!.settlement;
      const root = world.keys.root();
      const gate = async (id: string) => {
        const t = await terminal(id);
        const update = encodeUpdate({ kind: UPDATE_FARE_RULES, version: 1, operatorId: t.merchantId, rules: { ...ZONE_RULES, operatorId: t.merchantId } }, root.alg, root.secretKey);
        await s.addUpdate(update);
        return { t, fares: (station: number, version: number) => ({ rules: parseFareRules({ ...ZONE_RULES, operatorId: t.merchantId }), station, version }) };
      };
      // The rider taps off 20 minutes later: RECALL recovers the tap-on, its receipt the one an uncut tap-on journals.
      const { t, fares } = await gate('G-7');
      const wallet = world.wallet({ balance: 100_00 }).emulator();
      expect((await t.pay(cutLink(wallet, true) as unknown as WalletEmulator, 0, fares(1, 1))).kind).to.equal('declined');
      const intent = t.inDoubt.open[0]!;
      expect([intent.transitLog !== undefined, intent.fareRulesVersion]).to.deep.equal([true, 1]);
      t.clock.advance(20 * 60_000);
      expect((await t.pay(wallet, 0, fares(3, 1))).kind).to.equal('approved');
      const recovered = decodeReceipt(t.journal.records[0]!.payload);
      expect([recovered.terminalSeq, toHex(recovered.transitLog!), recovered.fareRulesVersion]).to.deep.equal([intent.terminalSeq, toHex(intent.transitLog!), 1]);
      const up = await t.upload(world.url);
      expect(up.response!.results.map((r) => [r.status, r.reason ?? 'ok'])).to.deep.equal([[RESULT_ACCEPTED, 'ok'], [RESULT_ACCEPTED, 'ok']]);
      // 400 held at the tap-on, 100 back at the tap-off: priced as the rules say, no finding
      expect([await s.balance(`merchant:${t.merchantId}`), await s.balance(`wallet:${wallet.info.walletId}`)]).to.deep.equal([300, -300]);
      expect(await s.findings(wallet.info.walletId)).to.deep.equal([]);

      // The rider never taps off there: the uploaded intent is rebuilt from the wallet's sync and priced
      // too, by the version it names (one the service lacks: the finding shows the receipt was priced).
      const other = await gate('G-8');
      const rider = world.wallet({ balance: 100_00 }).emulator();
      expect((await other.t.pay(cutLink(rider, true) as unknown as WalletEmulator, 0, other.fares(1, 5))).kind).to.equal('declined');
      await other.t.upload(world.url);
      now += 1;
      const synced = await sync(rider);
      expect(synced.json.recovered).to.deep.equal([{ terminalId: 'G-8', terminalSeq: other.t.inDoubt.open[0]!.terminalSeq, amount: 400 }]);
      const findings = await s.findings(rider.info.walletId);
      expect(findings.map((f) => [f.kind, f.evidence.reason])).to.deep.equal([['fare-mismatch', 'priced with fare rules version 5, which the service does not hold (it holds 1)']]);
    });

    it('makes an intent no wallet log settles within the bound a finding, once', async () => {
      const t = await terminal('T-8');
      const wallet = world.wallet().emulator();
      const seq = await cut(t, wallet, 2500);
      await t.upload(world.url);
      now += DEFAULT_INTENT_BOUND_SECONDS + 1;
      await t.upload(world.url);
      await t.upload(world.url);
      const found = await world.service!.settlement.findings(wallet.info.walletId);
      expect(found.map((f) => [f.kind, f.evidence.terminalSeq, f.evidence.amount])).to.deep.equal([['intent-unresolved', seq, 2500]]);
      expect(t.inDoubt.open).to.have.length(1);
    });
  });
}

describe('in-doubt reconciliation vector (docs/vectors/in-doubt-sync.json)', () => {
  const file = new URL(`../docs/vectors/${IN_DOUBT_VECTOR_FILE}`, import.meta.url);
  if (process.env.TAPLINE_WRITE_VECTORS) writeFileSync(file, `${JSON.stringify(makeInDoubtVector(), null, 2)}\n`);
  const v = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;

  it('is what the wallet emulator and the wire codecs produce', () => {
    expect(makeInDoubtVector()).to.deep.equal(v);
  });

  it("decodes: the batch carries the intent under the device key, the sync is the wallet's signed exchange, the answer says recovered", () => {
    const batch = decodeBatch(fromHex(v.batch!));
    expect(verifyBatch(batch, fromHex(v.devicePublicKey!))).to.equal(true);
    expect(batch.intents!.map(toHex)).to.deep.equal([v.intent]);
    const intent = decodeIntent(fromHex(v.intent!));
    expect([intent.terminalSeq, intent.counterFloor, toHex(intent.request)]).to.deep.equal([7, 41, v.request]);
    const s = decodeWalletSync(fromHex(v.walletSync!));
    const cert = decodeCertificate(fromHex(v.certificate!));
    expect(verifySignature(cert.alg, cert.publicKey, concatBytes(WALLET_SYNC_DOMAIN, s.signedBytes), s.signature)).to.equal(true);
    expect([s.counter, s.heldFrom, toHex(s.nonce), s.entries.map((e) => [toHex(e.request), toHex(e.response)])]).to.deep.equal([42, 42, v.syncNonce, [[v.request, v.payResponse]]]);
    const key = { ...(v.issuerKey as unknown as { keyId: number; alg: number; notBefore: number; notAfter: number; revoked: boolean }), publicKey: fromHex((v.issuerKey as unknown as { publicKey: string }).publicKey) };
    expect(verifyReceipt(fromHex(v.receipt!), [key as IssuerKey], VECTOR_TIME).ok).to.equal(true);
    const answer = decodeBatchResponse(fromHex(v.batchResponse!));
    expect(verifyBatchResponse(answer, ALG_P256, fromHex(v.rootPublicKey!))).to.equal(true);
    expect(answer.intents).to.deep.equal([{ terminalSeq: 7, outcome: INTENT_RECOVERED }]);
  });
});

/** The scenario's calls, made directly on Node or across to the XS engine. */
interface Engine {
  call<T>(op: string, args?: unknown): Promise<T>;
  close(): Promise<void>;
}

async function nodeEngine(): Promise<Engine> {
  let s: UploadScenario | undefined;
  const ops: Record<string, (a: any) => unknown> = {
    start: (o) => (s = new UploadScenario(o)).terminal,
    cutAfterPay: () => s!.cutAfterPay(),
    networkUp: () => s!.networkUp(),
    answer: (a) => s!.answer(a),
    walletSync: (a) => s!.walletSync(a),
    reboot: () => s!.reboot(),
  };
  return { call: async <T>(op: string, args?: unknown) => (await ops[op]!(args)) as T, close: async () => {} };
}

async function xsEngine(): Promise<Engine> {
  const xs = await XSScenario.load('test/xs/in-doubt-upload.guest.ts');
  return { call: async <T>(op: string, args?: unknown) => (await xs.call<T>(op, args ?? {})).value, close: async () => xs.close() };
}

for (const [label, engine] of [['Node', nodeEngine], ['the XS engine @xs', xsEngine]] as const) {
  describe(`a power cut after PAY settled at the service: the device app on ${label}, a real service (sqlite)`, function () {
    this.timeout(300_000);
    let backend: Backend;
    let world: World;
    let e: Engine;
    before(async () => {
      backend = await BACKENDS[0]!.start();
      world = await World.create({ database: await backend.fresh(), seed: `device intents ${label}` });
      e = await engine();
    });
    after(async () => {
      await e?.close();
      await world?.close();
      await backend?.stop();
    });

    async function post(batchHex: string): Promise<{ status: number; body: string }> {
      const r = await world.post('/v1/batches', fromHex(batchHex));
      return { status: r.status, body: toHex(r.body) };
    }

    it("uploads the open intent after the reboot, the wallet's sync settles it, and the next answer closes it on the terminal", async () => {
      const issuer = world.issuer;
      const t = await e.call<{ terminalId: string; publicKey: string; merchantId: string }>('start', {
        rootPublic: toHex(world.rootPublicKey),
        issuer: { keyId: issuer.key.keyId, publicKey: toHex(issuer.key.publicKey), secretKey: toHex(issuer.secretKey), notBefore: issuer.key.notBefore, notAfter: issuer.key.notAfter },
        now: unixNow(),
      });
      expect((await world.admin('POST', '/v1/terminals', { ...t, maxTransaction: 100_000 })).status).to.equal(201);
      const cut = await e.call<{ approved: number; openAfterBoot: number; walletBalance: number; logs: string[] }>('cutAfterPay');
      // the wallet paid, nothing was approved, the torn receipt is gone and the intent survived
      expect([cut.approved, cut.openAfterBoot, cut.walletBalance], cut.logs.join('\n')).to.deep.equal([0, 1, 100_000 - 3000]);
      expect(cut.logs.some((l) => l.includes('torn tail dropped'))).to.equal(true);

      const first = await e.call<{ open: number }>('answer', await post(await e.call<string>('networkUp')));
      expect(first.open).to.equal(1);
      const { nonce } = (await (await fetch(`${world.url}/v1/wallet-sync/nonce`, { method: 'POST' })).json()) as { nonce: string };
      const synced = await world.post('/v1/wallet-sync', fromHex(await e.call<string>('walletSync', { nonce })));
      expect(synced.json.recovered.map((r: { terminalId: string; amount: number }) => [r.terminalId, r.amount])).to.deep.equal([['T-0042', 3000]]);

      const second = await e.call<{ open: number; logs: string[] }>('answer', await post(await e.call<string>('networkUp')));
      expect(second.open, second.logs.join('\n')).to.equal(0);
      expect(second.logs.some((l) => /in-doubt \d+ paid: settled by the service from the wallet's log/.test(l)), second.logs.join('\n')).to.equal(true);
      expect(await e.call<number>('reboot')).to.equal(0);
      const s = world.service!.settlement;
      expect([await s.balance('merchant:M-bakery'), await s.balance('advance')]).to.deep.equal([3000, 0]);
    });
  });
}
