// The upload state machine's retries and the invariants it asserts. The retry test drives a real
// Journal on RAM flash through a transport that fails a dozen times, then checks the delays and that
// every retry carried the same bytes. The invariant tests break one fact the uplink relies on (a
// transport that writes into the batch it was handed, a journal that reports fewer records than it
// holds, a store loaded twice) and check that the uplink stops with an AssertionError, the programmer
// error the device restarts on, instead of sending or acknowledging something wrong.
import { expect } from 'chai';
import { p256 } from '@noble/curves/nist.js';
import { AssertionError } from '../firmware/base/errors';
import { ALG_P256 } from '../firmware/core/crypto/verify';
import { Journal } from '../firmware/core/journal/journal';
import { VirtualClock } from '../firmware/base/platform';
import { UPDATE_RECORD_TYPES, UpdateStore } from '../firmware/core/uplink/store';
import { type HttpTransport, TransportError } from '../firmware/core/uplink/transport';
import { encodeUpdate, UPDATE_KEYRING } from '../firmware/core/uplink/updates';
import { Uplink, type UplinkOptions } from '../firmware/core/uplink/uplink';
import { decodeBatch, encodeBatchResponse } from '../firmware/core/uplink/wire';
import { RamFlash } from '../host/flash/ram-flash';
import { RECEIPT, receiptPayload } from './journal-workload';
import { seededRandom } from './uplink-fuzz-helpers';

const rootSecret = p256.utils.randomSecretKey();
const rootKey = { alg: ALG_P256, publicKey: p256.getPublicKey(rootSecret, true) } as const;

/** Acknowledges every batch it is handed, after `failures` posts that fail. */
function service(failures: number, posts: { at: number; body: string }[], clock: VirtualClock): HttpTransport {
  return {
    post: async (_path, body) => {
      posts.push({ at: clock.now(), body: Buffer.from(body).toString('hex') });
      if (posts.length <= failures) throw new TransportError('unreachable');
      const b = decodeBatch(body);
      const top = b.items[b.items.length - 1]?.seq ?? 0;
      return { status: 200, body: encodeBatchResponse({ terminalId: b.terminalId, nonce: b.nonce, ackedUpTo: top, results: [], updates: [] }, ALG_P256, rootSecret) };
    },
  };
}

function rig(transport: HttpTransport, clock: VirtualClock, options: Partial<UplinkOptions> & { journal?: Journal } = {}) {
  const journal = options.journal ?? new Journal({ flash: new RamFlash({ blocks: 8 }), reserveBlocks: 2, keyedTypes: UPDATE_RECORD_TYPES });
  if (!options.journal) journal.open();
  journal.appendSync(RECEIPT, receiptPayload(1, 5, 1, 100));
  const random = seededRandom(42);
  const store = new UpdateStore({ journal, root: rootKey, terminalId: 'T-1' });
  const uplink = new Uplink({
    journal,
    store,
    transport,
    clock,
    random: (n) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256)),
    terminalId: 'T-1',
    deviceSecretKey: p256.utils.randomSecretKey(),
    root: rootKey,
    ...options,
  });
  return { journal, store, uplink };
}

function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => 'resolved', (e: unknown) => e);
}

describe('uplink retries', () => {
  it('backs off exponentially with jitter, capped, and retries the very same bytes', async () => {
    const clock = new VirtualClock();
    const posts: { at: number; body: string }[] = [];
    const failures = 12;
    const { journal, uplink } = rig(service(failures, posts, clock), clock, { backoffMs: 1000, maxBackoffMs: 60_000 });
    await uplink.networkUp();
    expect(journal.ackedUpTo).to.equal(1);
    expect(posts).to.have.length(failures + 1);
    expect(new Set(posts.map((p) => p.body)).size).to.equal(1, 'every retry is byte-identical');
    const delays = posts.slice(1).map((p, i) => p.at - posts[i]!.at);
    delays.forEach((d, i) => {
      const full = Math.min(60_000, 1000 * 2 ** i);
      expect(d).to.be.at.least(full / 2).and.below(full);
    });
    expect(new Set(delays.slice(-4)).size).to.be.greaterThan(1, 'jittered, not fixed');
  });
});

describe('uplink invariants', () => {
  it('refuses options out of range, naming the option', () => {
    const clock = new VirtualClock();
    const transport = service(0, [], clock);
    expect(() => rig(transport, clock, { backoffMs: 0 })).to.throw(RangeError, /backoffMs/);
    expect(() => rig(transport, clock, { backoffMs: 2000, maxBackoffMs: 1000 })).to.throw(RangeError, /maxBackoffMs/);
    expect(() => rig(transport, clock, { maxBatchReceipts: 129 })).to.throw(RangeError, /maxBatchReceipts/);
    expect(() => rig(transport, clock, { maxBatchBytes: 0x10000 })).to.throw(RangeError, /maxBatchBytes/);
  });

  it('stops with an AssertionError when a retry would not carry the bytes that were signed', async () => {
    const clock = new VirtualClock();
    let posts = 0;
    // a transport bug: it overwrites the tail of the body it was handed (e.g. a buffer it reuses)
    const transport: HttpTransport = {
      post: async (_path, body) => {
        posts++;
        body.fill(0, body.length - 8);
        throw new TransportError('unreachable');
      },
    };
    const { journal, uplink } = rig(transport, clock);
    expect(await failure(uplink.networkUp())).to.be.instanceOf(AssertionError).with.property('message', 'a retry sends the bytes that were signed');
    expect(posts).to.equal(1, 'the damaged batch was never sent again');
    expect(journal.ackedUpTo).to.equal(0);
  });

  it('stops with an AssertionError before sending a batch past what the journal reports written', async () => {
    class Behind extends Journal {
      lies = false;
      override get lastSeq(): number {
        return super.lastSeq - (this.lies ? 1 : 0);
      }
    }
    const clock = new VirtualClock();
    const posts: { at: number; body: string }[] = [];
    const journal = new Behind({ flash: new RamFlash({ blocks: 8 }), reserveBlocks: 2, keyedTypes: UPDATE_RECORD_TYPES });
    journal.open();
    const { uplink } = rig(service(0, posts, clock), clock, { journal });
    journal.lies = true;
    expect(await failure(uplink.networkUp())).to.be.instanceOf(AssertionError).with.property('message', 'a batch carries only records the journal wrote');
    expect(posts).to.have.length(0);
  });

  it('asserts update versions only rise: a store loaded twice meets its own keyring again', () => {
    const clock = new VirtualClock();
    const { store } = rig(service(0, [], clock), clock);
    store.apply(encodeUpdate({ kind: UPDATE_KEYRING, version: 3, keys: [] }, ALG_P256, rootSecret));
    expect(store.versions.keyringVersion).to.equal(3);
    expect(() => store.load()).to.throw(AssertionError, 'the keyring version only rises');
  });
});
