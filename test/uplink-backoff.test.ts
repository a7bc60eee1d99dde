import { expect } from 'chai';
import { p256 } from '@noble/curves/nist.js';
import { ALG_P256 } from '../firmware/core/crypto/verify';
import { Journal } from '../firmware/core/journal/journal';
import { VirtualClock } from '../firmware/base/platform';
import { UPDATE_RECORD_TYPES, UpdateStore } from '../firmware/core/uplink/store';
import { type HttpTransport, TransportError } from '../firmware/core/uplink/transport';
import { Uplink } from '../firmware/core/uplink/uplink';
import { decodeBatch, encodeBatchResponse } from '../firmware/core/uplink/wire';
import { RamFlash } from '../host/flash/ram-flash';
import { RECEIPT, receiptPayload } from './journal-workload';
import { seededRandom } from './uplink-fuzz-helpers';

describe('uplink retries', () => {
  it('backs off exponentially with jitter, capped, and retries the very same bytes', async () => {
    const root = p256.utils.randomSecretKey();
    const clock = new VirtualClock();
    const posts: { at: number; body: string }[] = [];
    const failures = 12;
    const transport: HttpTransport = {
      post: async (_path, body) => {
        posts.push({ at: clock.now(), body: Buffer.from(body).toString('hex') });
        if (posts.length <= failures) throw new TransportError('unreachable');
        const b = decodeBatch(body);
        const top = b.items[b.items.length - 1]!.seq;
        return { status: 200, body: encodeBatchResponse({ terminalId: b.terminalId, nonce: b.nonce, ackedUpTo: top, results: [], updates: [] }, ALG_P256, root) };
      },
    };
    const journal = new Journal({ flash: new RamFlash({ blocks: 8 }), reserveBlocks: 2, keyedTypes: UPDATE_RECORD_TYPES });
    journal.open();
    journal.appendSync(RECEIPT, receiptPayload(1, 5, 1, 100));
    const rootKey = { alg: ALG_P256, publicKey: p256.getPublicKey(root, true) } as const;
    const random = seededRandom(42);
    const uplink = new Uplink({
      journal,
      store: new UpdateStore({ journal, root: rootKey, terminalId: 'T-1' }),
      transport,
      clock,
      random: (n) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256)),
      terminalId: 'T-1',
      deviceSecretKey: p256.utils.randomSecretKey(),
      root: rootKey,
      backoffMs: 1000,
      maxBackoffMs: 60_000,
    });
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
