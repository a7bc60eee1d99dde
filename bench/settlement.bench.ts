// Settlement figures: signature verification per second (the terminal's pure-JS verifier against
// node:crypto, which the service uses), and batch ingest in receipts per second with full
// verification (terminal signature, issuer certificate, wallet payment signature, every database
// write in one transaction per batch) through the HTTP service on loopback, for SQLite and PostgreSQL.
import { cpus } from 'node:os';
import type { Report } from './main';
import { ALG_ED25519, ALG_P256, verifySignature, type Alg } from '../firmware/core/crypto/verify';
import { encodePayRequest } from '../firmware/core/protocol/messages';
import { decodeResponse, payCommand, readCertificateCommand, selectCommand } from '../firmware/core/protocol/apdu';
import { encodeReceipt } from '../firmware/core/protocol/receipt';
import { NodeVerifier } from '../host/settlement/verify';
import { decodeBatchResponse } from '../firmware/core/uplink/wire';
import { generateKeyPair, sign } from '../host/wallet/issuer';
import { seededRandom } from '../host/wallet/random';
import { BACKENDS, World, type TestTerminal } from '../test/settlement-fixtures';

function verifyRates(report: Report, quick: boolean): void {
  const random = seededRandom('bench verify');
  const node = new NodeVerifier();
  for (const [alg, name] of [[ALG_P256, 'p256'], [ALG_ED25519, 'ed25519']] as [Alg, string][]) {
    const pair = generateKeyPair(alg, random);
    const message = random(300);
    const signature = sign(pair, message);
    for (const [impl, verify] of [
      ['noble (terminal)', () => verifySignature(alg, pair.publicKey, message, signature)],
      ['node:crypto (service)', () => node.verify(alg, pair.publicKey, message, signature)],
    ] as [string, () => boolean][]) {
      const n = impl.startsWith('noble') ? (quick ? 50 : 400) : quick ? 500 : 5000;
      verify();
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) if (!verify()) throw new Error('verification failed');
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      report({ bench: 'settlement verify', alg: name, impl, verifiesPerSecond: n / seconds });
    }
  }
}

/** Receipts made by emulated wallets answering PAY directly (no terminal-side checks: faster to make). */
function makeReceipts(world: World, terminal: TestTerminal, count: number, wallets: ReturnType<World['wallet']>[]): { seq: number; payload: Uint8Array }[] {
  const random = seededRandom(`bench receipts ${terminal.terminalId}`);
  const devices = wallets.map((w) => w.emulator());
  const records: { seq: number; payload: Uint8Array }[] = [];
  const now = Math.floor(Date.now() / 1000);
  for (let seq = 1; seq <= count; seq++) {
    const wallet = devices[seq % devices.length]!;
    wallet.answer(selectCommand());
    const certificate = decodeResponse(wallet.answer(readCertificateCommand())).data;
    const request = encodePayRequest({
      challenge: random(16),
      amount: 100 + (seq % 50),
      currency: 156,
      terminalId: terminal.terminalId,
      merchantId: terminal.merchantId,
      terminalTime: now,
      terminalSeq: seq,
      cvmRequired: false,
    });
    const response = decodeResponse(wallet.answer(payCommand(request)));
    if (response.sw !== 0x9000) throw new Error(`PAY answered ${response.sw.toString(16)}`);
    records.push({ seq, payload: encodeReceipt({ terminalSeq: seq, certificate, request, response: response.data, deferred: false }) });
  }
  return records;
}

export async function run(report: Report, options: { quick: boolean }): Promise<void> {
  verifyRates(report, options.quick);
  const batchSize = 100;
  const terminals = 4;
  const perTerminal = options.quick ? 200 : 1000;
  for (const { name, start } of BACKENDS) {
    const backend = await start();
    const world = await World.create({ seed: `bench ${name}` });
    try {
      await world.start(await backend.fresh());
      const wallets = Array.from({ length: 40 }, (_, i) => world.wallet({ balance: 1e12, alg: i % 4 === 3 ? ALG_ED25519 : ALG_P256 }));
      const fleet: { terminal: TestTerminal; batches: Uint8Array[] }[] = [];
      for (let t = 0; t < terminals; t++) {
        const terminal = await world.terminal(`B${t}`);
        const records = makeReceipts(world, terminal, perTerminal, wallets.slice(t * 10, t * 10 + 10));
        const batches: Uint8Array[] = [];
        for (let i = 0; i < records.length; i += batchSize) batches.push(terminal.batch({ records: records.slice(i, i + batchSize) }));
        fleet.push({ terminal, batches });
      }
      const startTime = process.hrtime.bigint();
      await Promise.all(
        fleet.map(async ({ terminal, batches }) => {
          // Plain HTTP posts: the terminals' own response checks would take this one process's CPU from the service.
          for (const body of batches) {
            const r = await fetch(`${world.url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
            const bytes = new Uint8Array(await r.arrayBuffer());
            if (r.status !== 200) throw new Error(`${terminal.terminalId}: batch refused ${r.status} ${Buffer.from(bytes).toString()}`);
            const refused = decodeBatchResponse(bytes).results.find((x) => x.status !== 0);
            if (refused) throw new Error(`${terminal.terminalId}: receipt ${refused.seq} refused: ${refused.reason}`);
          }
        }),
      );
      const seconds = Number(process.hrtime.bigint() - startTime) / 1e9;
      const receipts = terminals * perTerminal;
      const stats = await world.service!.settlement.stats();
      if (stats.settled !== receipts) throw new Error(`settled ${stats.settled} of ${receipts}`);
      report({
        bench: 'settlement ingest',
        backend: name,
        receipts,
        batchSize,
        terminals,
        receiptsPerSecond: receipts / seconds,
        msPerBatch: (seconds * 1000) / (receipts / batchSize),
        cpus: cpus().length,
      });
    } finally {
      await world.close();
      await backend.stop();
    }
  }
}
