import { expect } from 'chai';
import { XSScenario } from '../host/xs/scenario';
import { backToBack, badProvisioning, bootAndPay, cardBeforeDeferredCheck, DeviceWorld, offlineCapAcrossReboot, payThenReboot, slowReader, tapAtIdle, transitBootDefault } from './xs/device-world';
import { verifySignature, type VerifyFn } from '../firmware/core/crypto/verify';
import type { HashPort } from '../firmware/base/hash';
import { referenceHashes } from '../firmware/app/native';

type Engine = { name: string; call: <T>(handler: string, args?: unknown) => Promise<T> };

function checks(engine: () => Engine): void {
  for (const transport of ['i2c', 'spi', 'uart'] as const) {
    it(`boots with the reader on ${transport} at the pin map's pins, takes a keyed payment, lights green`, async () => {
      const r = await engine().call<Awaited<ReturnType<typeof bootAndPay>>>('bootAndPay', { transport });
      expect(r.readerFirmware, r.logs.join('\n')).to.equal('50:1.6');
      expect(r.transport).to.equal(transport);
      if (transport === 'i2c') expect(r.pins.i2c).to.include({ data: 21, clock: 22, address: 0x24, hz: 400_000 });
      if (transport === 'spi') expect(r.pins.spi).to.include({ clock: 18, in: 19, out: 23, select: 4, mode: 0 });
      if (transport === 'uart') expect(r.pins.serial).to.include({ transmit: 23, receive: 19, port: 2, baud: 115_200 });
      expect(r.approved, r.logs.join('\n')).to.equal(1);
      expect(r.declined).to.equal(0);
      expect(r.journalLastSeq).to.be.greaterThan(0);
      expect(r.greenOn).to.equal(true);
      expect(r.tones, 'key clicks and the approval tone').to.be.greaterThan(4);
      expect(r.panelText, 'the OLED shows the last screen').to.match(/[#█]/);
      expect(r.screens.some((s) => s.some((l) => /APPROVED/.test(l))), JSON.stringify(r.screens)).to.equal(true);
      expect(r.screens[0]).to.deep.equal(['TAPLINE', 'starting...']);
      expect(r.screens.some((s) => s[0] === 'MERCHANT' && s.includes('reader ok'))).to.equal(true);
      expect(r.logs.some((l) => l.startsWith('[info] selftest: crypto ok, random ok, journal ok, reader ok'))).to.equal(true);
      expect(r.logs.some((l) => /^\[info\] pay: APPROVED 1200 /.test(l))).to.equal(true);
    });
  }

  for (const transport of ['i2c', 'uart'] as const)
    it(`answers a card tapped before any amount, keeps scanning keys while it searches, and pays the card left on the reader (${transport})`, async () => {
      const r = await engine().call<Awaited<ReturnType<typeof tapAtIdle>>>('tapAtIdle', { transport });
      const shown = r.screens.map((s) => s.join(' | '));
      const answer = shown.indexOf('enter amount | then tap card');
      expect(answer, shown.join('\n')).to.be.greaterThan(-1);
      expect(r.stepsToAnswer, 'steps from the tap to its screen').to.be.below(5);
      // every key after it counted, though a search ran the whole time
      const keyed = shown.slice(answer).filter((s) => s.startsWith('amount | ') || s.startsWith('pay '));
      expect(keyed.slice(0, 5)).to.deep.equal(['amount | 0.01', 'amount | 0.12', 'amount | 1.20', 'amount | 12.00', 'pay 12.00 | tap card']);
      expect(r.approved, r.logs.join('\n')).to.equal(1);
      expect(r.logs.some((l) => /^\[info\] pay: APPROVED 1200 /.test(l))).to.equal(true);
      // the second payment nobody tapped for: keyed, then cancelled by * during the search
      expect(shown.slice(-4).some((s) => s === 'pay 0.05 | tap card'), shown.join('\n')).to.equal(true);
      expect(shown.at(-2)).to.equal('cancelled');
      expect(r.declined).to.equal(1);
      // keys cancel the search with an ACK abort, and a new one starts after them
      expect(r.aborts).to.be.greaterThan(3);
      expect(r.searches).to.be.greaterThan(r.aborts);
    });

  it('recovers the journal after a power cut and rebuilds the offline totals from it', async () => {
    const r = await engine().call<Awaited<ReturnType<typeof payThenReboot>>>('payThenReboot');
    expect(r.before).to.equal(2);
    expect(r.restored, r.logs.join('\n')).to.equal(2);
    expect(r.offlineCount).to.equal(2);
    expect(r.offlineAmount).to.equal(1250);
    expect(r.logs.some((l) => l.includes('journal: recovered'))).to.equal(true);
  });

  it('keeps counting the offline time across a power cycle that loses the wall time: 8 days into a 7-day cap, 0 of 20 approved', async () => {
    const r = await engine().call<Awaited<ReturnType<typeof offlineCapAcrossReboot>>>('offlineCapAcrossReboot');
    expect(r.before).to.equal('approved');
    expect(r.late).to.equal('offlineTooLong');
    expect(r.after, r.logs.join('\n')).to.deep.equal(Array(20).fill('offlineTooLong'));
    expect(r.logs.some((l) => /time: last known time \d+, offline 6912\d\d s since settlement, wall time unknown/.test(l)), r.logs.join('\n')).to.equal(true);
  });

  it('retries a reader that does not answer at first', async () => {
    const r = await engine().call<Awaited<ReturnType<typeof slowReader>>>('slowReader');
    expect(r.ready).to.equal(true);
    expect(r.attempts).to.equal(3);
  });

  it('charges the next rider at a gate at once when a card with another fixed UID takes the place of the last', async () => {
    const riders = ['04a1a2a3a4a5a6', '04b1b2b3b4b5b6', '04c1c2c3c4c5c6'];
    const r = await engine().call<Awaited<ReturnType<typeof backToBack>>>('backToBack', { uids: riders, stayMs: 1000 });
    expect(r.approved, r.logs.join('\n')).to.equal(3);
    expect(r.declined).to.equal(0);
    expect(r.cardsSeen).to.equal(3);
  });

  it('charges a card that stays on the reader once, and counts random UIDs (phones) as the card still there', async () => {
    const stays = await engine().call<Awaited<ReturnType<typeof backToBack>>>('backToBack', { uids: ['04a1a2a3a4a5a6'], stayMs: 3000 });
    expect(stays.approved, stays.logs.join('\n')).to.equal(1);
    expect(stays.cardsSeen).to.equal(1);
    // two phones back to back cannot be told apart: the second waits until the field is seen empty
    const phones = await engine().call<Awaited<ReturnType<typeof backToBack>>>('backToBack', { uids: ['08a1a2a3', '08b1b2b3'], stayMs: 1000 });
    expect(phones.approved, phones.logs.join('\n')).to.equal(1);
    expect(phones.cardsSeen).to.equal(1);
  });

  it('transit: boot checks Ed25519 cards before the gate opens and defers P-256 ones when its signature primitive is native, defers all on JavaScript', async () => {
    const r = await engine().call<Awaited<ReturnType<typeof transitBootDefault>>>('transitBootDefault');
    expect(r.nativeLine).to.equal('[info] boot: transit: signatures checked before the gate opens for Ed25519 cards, after it (in idle slots) for the others');
    expect(r.native).to.deep.equal({ 'Ed25519': 'verified before opening', 'P-256': 'deferred' });
    expect(r.javascriptLine).to.equal('[info] boot: transit: signatures checked after the gate opens (deferred, in idle slots)');
    expect(r.javascript).to.deep.equal({ 'Ed25519': 'deferred', 'P-256': 'deferred' });
  });

  it('transit: a rider whose card is in the field goes before the deferred check the loop would run, and the check still runs', async () => {
    const r = await engine().call<Awaited<ReturnType<typeof cardBeforeDeferredCheck>>>('cardBeforeDeferredCheck');
    expect(r.pendingBefore, 'a check was due at the waiting gate').to.equal(1);
    expect(r.order, 'that turn of the loop').to.deep.equal(['card']);
    expect(r.approved).to.equal(2);
    expect(r.verifiedLater, 'the first rider verified afterwards').to.equal(true);
  });

  it('stops at the config step with the bad field named', async () => {
    const r = await engine().call<Awaited<ReturnType<typeof badProvisioning>>>('badProvisioning');
    expect(r.error).to.match(/^BootError: config: /);
    expect(r.screens.at(-1)).to.deep.equal(['NOT PROVISIONED', 'see serial log']);
  });
}

describe('device app: boot and main loop on Node', () => {
  const node: Engine = {
    name: 'node',
    call: async <T>(handler: string, args?: unknown) => {
      const a = args as { transport: 'i2c' | 'spi' | 'uart'; uids: string[]; stayMs: number };
      const table: Record<string, () => Promise<unknown>> = {
        bootAndPay: () => bootAndPay(a.transport),
        payThenReboot,
        offlineCapAcrossReboot,
        slowReader,
        badProvisioning,
        tapAtIdle: () => tapAtIdle(a.transport),
        backToBack: () => backToBack(a.uids, a.stayMs),
        transitBootDefault,
        cardBeforeDeferredCheck,
      };
      return (await table[handler]!()) as T;
    },
  };
  checks(() => node);

  it('finds a card whose activation takes 80 ms (a phone, a slow card) instead of aborting every search', async () => {
    let chip: DeviceWorld['chip'] | undefined;
    const r = await bootAndPay('uart', (w) => {
      chip = w.chip;
      w.chip.faults.activationMs = 80;
    });
    expect(r.approved, r.logs.join('\n')).to.equal(1);
    // the first search after the tap was answered, not aborted and searched again
    const searches = chip!.commands.filter((c) => c === '4a0100').length;
    expect(searches, chip!.commands.join(' ')).to.be.below(10);
  });
});

/** Boots with these native parts and takes one keyed payment. */
async function payWithNative(o: { verify?: VerifyFn; hashes?: HashPort }): Promise<DeviceWorld> {
  const w = new DeviceWorld(o);
  await w.boot();
  await w.keys('1200#');
  w.chip.placeCard(w.wallet());
  await w.steps(50, () => w.runner!.approved + w.runner!.declined > 0);
  return w;
}

describe('device app: a native signature primitive', () => {
  const payWith = (verify: VerifyFn) => payWithNative({ verify });

  it('is used for payments once it agrees with the reference: Ed25519 at boot, P-256 in the idle slots after it, before the tap', async () => {
    let calls = 0;
    const w = await payWith((...args) => (calls++, verifySignature(...args)));
    const at = (line: string) => w.logs.indexOf(line);
    const ed = at('[info] selftest: native Ed25519 verification agrees with the reference: in use');
    const p256 = at('[info] selftest: native P-256 verification agrees with the reference: in use');
    const ready = w.logs.findIndex((l) => l.startsWith('[info] boot: ready'));
    const paid = w.logs.findIndex((l) => l.startsWith('[info] pay: APPROVED'));
    expect([ed >= 0 && ed < ready, p256 > ready && p256 < paid], w.logs.join('\n')).to.deep.equal([true, true]);
    const knownAnswers = 3 + 3;
    expect(calls).to.be.greaterThan(knownAnswers);
    expect(w.runner!.approved).to.equal(1);
  });

  it('is refused, one algorithm at a time, when it accepts what it must not, and payments fall back to JavaScript', async () => {
    let calls = 0;
    const w = await payWith(() => (calls++, true));
    expect(w.logs).to.include('[error] selftest: native Ed25519 verification disagrees with the reference: using JavaScript');
    expect(w.logs).to.include('[error] selftest: native P-256 verification disagrees with the reference: using JavaScript');
    // each algorithm's good signature, then the changed message it took: nothing after that
    expect(calls).to.equal(2 + 2);
    expect(w.runner!.approved).to.equal(1);
  });
});

describe('device app: native hashes', () => {
  const payWith = (hashes: HashPort) => payWithNative({ hashes });

  it('chain the journal and digest certificates once they give the known answers at boot', async () => {
    const calls = { sha256: 0, crc32: 0 };
    const reference = referenceHashes();
    const w = await payWith({
      sha256: (parts) => (calls.sha256++, reference.sha256(parts)),
      crc32: (bytes, start, end) => (calls.crc32++, reference.crc32(bytes, start, end)),
    });
    expect(w.logs).to.include('[info] selftest: native SHA-256 and CRC-32 give the known answers: in use');
    expect(w.runner!.approved).to.equal(1);
    // boot's known answers (1 + 1), then the tap: the certificate digest, the intent's and the receipt's links
    expect(calls.sha256, 'certificate digest and two journal links at least').to.be.at.least(1 + 3);
    expect(calls.crc32).to.be.greaterThan(1 + 2);
  });

  it('are refused at boot when they give a wrong answer, and the journal stays on the JavaScript ones', async () => {
    const calls = { sha256: 0, crc32: 0 };
    const reference = referenceHashes();
    const w = await payWith({
      sha256: (parts) => (calls.sha256++, reference.sha256(parts)),
      crc32: (bytes, start, end) => (calls.crc32++, reference.crc32(bytes, start, end) ^ 1),
    });
    expect(w.logs).to.include('[error] selftest: native SHA-256 or CRC-32 gives a wrong answer: using JavaScript');
    expect(calls).to.deep.equal({ sha256: 1, crc32: 1 });
    expect(w.runner!.approved).to.equal(1);
  });

  it('with a block header check of their own: used when it takes the known header and refuses it changed, refused otherwise', async () => {
    const reference = referenceHashes();
    let headers = 0;
    const good = await payWith({ ...reference, blockHeader: (bytes, out) => (headers++, reference.blockHeader!(bytes, out)) });
    expect(good.logs).to.include('[info] selftest: native SHA-256 and CRC-32 give the known answers: in use');
    expect(headers, 'the known header, its changed copy, then every block of the partition at open').to.be.greaterThan(2);
    expect(good.runner!.approved).to.equal(1);
    const lax = await payWith({ ...reference, blockHeader: (bytes, out) => (reference.blockHeader!(bytes, out), true) });
    expect(lax.logs).to.include('[error] selftest: native SHA-256 or CRC-32 gives a wrong answer: using JavaScript');
    expect(lax.runner!.approved).to.equal(1);
  });
});

describe('device app: boot and main loop on XS @xs', () => {
  let xs: XSScenario;
  before(async () => {
    xs = await XSScenario.load('test/xs/device.guest.ts');
  });
  after(() => xs?.close());
  checks(() => ({ name: 'xs', call: async <T>(h: string, args?: unknown) => (await xs.call(h, args)).value as T }));
});
