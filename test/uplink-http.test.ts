import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { toHex, utf8Encode } from '../firmware/base/bytes';
import { ALG_P256 } from '../firmware/core/crypto/verify';
import { Journal } from '../firmware/core/journal/journal';
import { type Log, VirtualClock } from '../firmware/base/platform';
import { UPDATE_RECORD_TYPES, UpdateStore } from '../firmware/core/uplink/store';
import { Uplink } from '../firmware/core/uplink/uplink';
import { encodeUpdate, UPDATE_CONFIG, UPDATE_DENY_LIST, UPDATE_KEYRING } from '../firmware/core/uplink/updates';
import { RamFlash } from '../host/flash/ram-flash';
import { NodeHttpTransport } from '../host/net/http-node';
import { RECEIPT, receiptPayload } from './journal-workload';
import { TestService } from './uplink-service';

const deviceSecret = p256.utils.randomSecretKey();
const random = (n: number) => new Uint8Array(randomBytes(n));

function terminal(flash: RamFlash, service: TestService, url: string, logs: string[] = []) {
  const log: Log = (level, tag, message) => logs.push(`${level} ${tag}: ${message}`);
  const journal = new Journal({ flash, reserveBlocks: 2, keyedTypes: UPDATE_RECORD_TYPES, log });
  journal.open();
  const root = { alg: ALG_P256, publicKey: service.rootPublic } as const;
  const times: number[] = [];
  const store = new UpdateStore({
    journal,
    root,
    terminalId: 'T-0042',
    log,
    onTime: (t) => times.push(t),
    validateConfig: (s) => {
      if (typeof s.perTransactionCap !== 'number') throw new Error('perTransactionCap must be a number');
    },
  });
  store.load();
  const clock = new VirtualClock();
  const uplink = new Uplink({
    journal,
    store,
    transport: new NodeHttpTransport({ baseUrl: url }),
    clock,
    random,
    log,
    terminalId: 'T-0042',
    deviceSecretKey: deviceSecret,
    root,
    timeoutMs: 400,
    maxBatchReceipts: 8,
  });
  return { journal, store, uplink, clock, times, logs };
}

function pay(journal: Journal, n: number, from: number): Map<number, string> {
  const sent = new Map<number, string>();
  for (let i = 0; i < n; i++) {
    const payload = receiptPayload(1 + (i % 7), 100 + i, from + i, 350);
    sent.set(journal.appendSync(RECEIPT, payload), toHex(payload));
  }
  return sent;
}

describe('uplink over HTTP on loopback', () => {
  let service: TestService;
  let url: string;
  beforeEach(async () => {
    service = new TestService(p256.getPublicKey(deviceSecret, true));
    url = await service.listen();
  });
  afterEach(() => service.close());

  it('uploads everything through drops, timeouts, 500s, truncated and lost answers, stale acks and forged responses', async function () {
    this.timeout(30_000);
    const flash = new RamFlash({ blocks: 16 });
    const t = terminal(flash, service, url);
    const sent = pay(t.journal, 40, 1);
    service.script = ['drop', 'hang', '500', 'truncate', 'ok', 'lose-answer', 'stale-ack', 'bad-signature', 'ok', 'drop'];
    await t.uplink.networkUp();
    expect(t.uplink.state).to.equal('idle');
    expect(t.journal.ackedUpTo).to.equal(40);
    expect(service.inserted).to.equal(40, 'each receipt stored as new exactly once');
    expect(service.duplicates).to.be.greaterThan(0, 'retries did resend');
    for (const [seq, hex] of sent) expect(service.receipts.get(seq)).to.equal(hex);
    expect(t.uplink.stats.failures).to.be.at.least(8);
    expect(t.clock.now()).to.be.greaterThan(0, 'backed off between retries');
    expect(t.times).to.include(service.serviceTime);
    expect(t.logs.some((l) => l.includes('500: internal: database unavailable'))).to.equal(true);
    expect(t.logs.some((l) => l.includes('not signed by the root key'))).to.equal(true);
    expect(t.logs.some((l) => l.includes('truncated') || l.includes('dropped'))).to.equal(true);
  });

  it('resumes after a reboot from the acknowledged-up-to, and waits while the network is down', async function () {
    this.timeout(30_000);
    const flash = new RamFlash({ blocks: 16 });
    const a = terminal(flash, service, url);
    const sent = pay(a.journal, 30, 1);
    // The first batch gets through; then the service keeps failing until the terminal loses power.
    service.script = ['ok', ...new Array<'500'>(200).fill('500')];
    const run = a.uplink.networkUp();
    while (service.requests < 3) await new Promise((r) => setTimeout(r, 5));
    a.uplink.networkDown();
    await run;
    expect(a.uplink.state).to.equal('offline');
    expect(a.journal.ackedUpTo).to.equal(8);
    // Reboot: new objects on the same flash.
    const b = terminal(flash, service, url);
    expect(b.journal.ackedUpTo).to.equal(8);
    for (const [seq, hex] of pay(b.journal, 5, 100)) sent.set(seq, hex);
    await b.uplink.receiptAdded();
    expect(service.inserted).to.equal(8, 'nothing sent while the network is down');
    service.script = [];
    await b.uplink.networkUp();
    expect(b.journal.ackedUpTo).to.equal(Math.max(...sent.keys()));
    expect(service.inserted).to.equal(35);
    for (const [seq, hex] of sent) expect(service.receipts.get(seq)).to.equal(hex);
  });

  it('applies signed updates, refuses a forged or out-of-order one keeping the old state, and restores them after a reboot', async function () {
    this.timeout(30_000);
    const flash = new RamFlash({ blocks: 16 });
    const a = terminal(flash, service, url);
    pay(a.journal, 3, 1);
    const issuer = p256.getPublicKey(p256.utils.randomSecretKey(), true);
    const forger = p256.utils.randomSecretKey();
    service.updates = [
      { kind: UPDATE_DENY_LIST, fromVersion: 0, version: 1, add: [utf8Encode('wallet-A'), utf8Encode('wallet-B')], remove: [] },
      { kind: UPDATE_KEYRING, version: 3, keys: [{ keyId: 9, alg: ALG_P256, publicKey: issuer, notBefore: 0, notAfter: 2_000_000_000, revoked: false }] },
      { kind: UPDATE_CONFIG, version: 2, terminalId: 'T-0042', settings: { perTransactionCap: 2500 } },
      // Signed for another terminal: not this one's configuration.
      { kind: UPDATE_CONFIG, version: 4, terminalId: 'T-0043', settings: { perTransactionCap: 9999 } },
      // Forged: signed by a key that is not the root.
      encodeUpdate({ kind: UPDATE_DENY_LIST, fromVersion: 1, version: 2, add: [], remove: [utf8Encode('wallet-A')] }, ALG_P256, forger),
      // Out of order: does not follow version 1.
      { kind: UPDATE_DENY_LIST, fromVersion: 5, version: 6, add: [utf8Encode('wallet-C')], remove: [] },
      // Fails the terminal's validation.
      { kind: UPDATE_CONFIG, version: 3, terminalId: 'T-0042', settings: { perTransactionCap: 'lots' } },
    ];
    await a.uplink.networkUp();
    expect(a.uplink.stats.updatesRefused).to.equal(4);
    expect([...a.store.denyList.ids()]).to.deep.equal([toHex(utf8Encode('wallet-A')), toHex(utf8Encode('wallet-B'))]);
    expect(a.store.versions).to.deep.equal({ denyListVersion: 1, keyringVersion: 3, configVersion: 2 });
    expect(a.store.config).to.deep.equal({ perTransactionCap: 2500 });
    expect(a.logs.filter((l) => l.startsWith('error uplink: update refused')).length).to.equal(4);
    expect(a.logs.some((l) => l.includes('signed for terminal T-0043, not T-0042'))).to.equal(true);
    // The next delta follows on; then a reboot restores everything from the journal.
    service.updates = [{ kind: UPDATE_DENY_LIST, fromVersion: 1, version: 2, add: [], remove: [utf8Encode('wallet-A')] }];
    pay(a.journal, 1, 50);
    await a.uplink.receiptAdded();
    const b = terminal(flash, service, url);
    expect([...b.store.denyList.ids()]).to.deep.equal([toHex(utf8Encode('wallet-B'))]);
    expect(b.store.versions).to.deep.equal({ denyListVersion: 2, keyringVersion: 3, configVersion: 2 });
    expect(b.store.keyring?.[0]?.publicKey).to.deep.equal(issuer);
  });
});
