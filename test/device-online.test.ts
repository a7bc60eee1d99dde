import { expect } from 'chai';
import { fromHex, toHex } from '../firmware/base/bytes';
import { RECORD_DENY_LIST } from '../firmware/core/uplink/store';
import { RamFlash } from '../host/flash/ram-flash';
import { ModdableHttpTransport } from '../firmware/app/device-http';
import { Online } from '../firmware/app/online';
import { verifySignature, type VerifyFn } from '../firmware/core/crypto/verify';
import { UPDATE_DENY_LIST } from '../firmware/core/uplink/updates';
import { TestService } from './uplink-service';
import { LoopbackRequest } from './device-loopback';
import { DeviceWorld } from './xs/device-world';

describe('device app: online (uplink over the device HTTP adapter, loopback service)', () => {
  let service: TestService | undefined;
  let worlds: { w: DeviceWorld; online: Online }[] = [];
  afterEach(async () => {
    // An uplink whose answer was refused retries for ever (the world's virtual clock sleeps at once):
    // take every world's network down and let its uplink stop before the service goes.
    for (const { w, online } of worlds) {
      await w.runner?.network(false);
      await online.uplink.settled();
    }
    worlds = [];
    await service?.close();
    service = undefined;
  });

  async function connected(flash?: RamFlash, verify?: VerifyFn): Promise<{ w: DeviceWorld; online: Online; service: TestService; base: string }> {
    const probe = new DeviceWorld({ seed: 'online' });
    const svc = new TestService(probe.devicePublic);
    service = svc;
    const base = await svc.listen();
    // the same seed gives the same device key, now provisioned with the service's root key
    const w = new DeviceWorld({ seed: 'online', rootPublic: svc.rootPublic, issuer: probe.issuer, flash, verify });
    expect(w.devicePublic).to.deep.equal(probe.devicePublic);
    return { w, online: await goOnline(w, base), service: svc, base };
  }

  async function goOnline(w: DeviceWorld, base: string): Promise<Online> {
    const transport = new ModdableHttpTransport({
      baseUrl: base, Request: LoopbackRequest,
      setTimer: (cb, ms) => setTimeout(cb, ms), clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
    });
    let online: Online | undefined;
    await w.boot((booted) => (online = new Online({ booted, transport, clock: w.clock, random: w.random, log: w.log })));
    worlds.push({ w, online: online! });
    return online!;
  }

  async function pay(w: DeviceWorld, keys: string, wallet = w.wallet()): Promise<void> {
    const before = w.runner!.approved + w.runner!.declined;
    await w.keys(keys);
    w.chip.placeCard(wallet);
    await w.steps(50, () => w.runner!.approved + w.runner!.declined > before);
    w.chip.removeCard();
    await w.steps(500, () => w.booted!.terminal.state === 'idle');
  }

  it('uploads the journaled receipt when the network comes up, learns the time, resets the offline totals', async () => {
    const { w, online, service } = await connected();
    await pay(w, '1500#');
    expect(w.runner!.approved).to.equal(1);
    expect(w.booted!.risk.offlineCount).to.equal(1);
    await w.runner!.network(true);
    await online.uplink.settled();
    await w.steps(1);
    expect(service.inserted, w.logs.join('\n')).to.equal(1);
    expect(w.booted!.journal.ackedUpTo).to.be.greaterThan(0);
    expect(w.booted!.risk.offlineCount).to.equal(0);
    expect(w.logs.some((l) => l.includes('time: service time'))).to.equal(true);
  });

  it('checks the upload answer with boot\'s signature primitive (native on the device), not noble\'s own: one it refuses is ignored', async () => {
    let rootHex = '';
    let rootChecks = 0;
    // passes boot's self-test (it sees no root key), then refuses the root's signatures
    const verify: VerifyFn = (alg, key, message, signature) => {
      if (toHex(key) === rootHex) return void rootChecks++, false;
      return verifySignature(alg, key, message, signature);
    };
    const { w, service } = await connected(undefined, verify);
    rootHex = toHex(service.rootPublic);
    await pay(w, '1500#');
    await w.runner!.network(true);
    const ignored = () => w.logs.some((l) => l.includes('response not signed by the root key'));
    // the answer comes over a real socket: wait for it in real time (the uplink then backs off and retries)
    for (let i = 0; i < 250 && !ignored(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(ignored(), w.logs.join('\n')).to.equal(true);
    expect([service.inserted, w.booted!.journal.ackedUpTo, rootChecks > 0]).to.deep.equal([1, 0, true]);
  });

  it('refuses a signed service time earlier than the last known time: the clock never moves back', async () => {
    const { w, online, service } = await connected();
    await pay(w, '1500#');
    const known = w.booted!.risk.lastKnownTime;
    service.serviceTime = known - 86400;
    await w.runner!.network(true);
    await online.uplink.settled();
    await w.steps(1);
    expect(w.logs.some((l) => l.includes('[warn] time: service time') && l.includes('s behind the last known time')), w.logs.join('\n')).to.equal(true);
    expect(w.clock.wallTime()!).to.be.at.least(known);
    expect(w.booted!.risk.lastKnownTime).to.be.at.least(known);
  });

  it('applies a signed deny list from the answer: the denied wallet is then declined', async () => {
    const { w, online, service } = await connected();
    const clone = w.wallet();
    await pay(w, '300#', clone);
    service.updates.push({ kind: UPDATE_DENY_LIST, version: 1, fromVersion: 0, add: [fromHex(clone.info.walletId)], remove: [] });
    await w.runner!.network(true);
    await online.uplink.settled();
    await w.steps(1);
    expect(w.booted!.risk.denyVersion, w.logs.join('\n')).to.equal(1);
    await pay(w, '300#', clone);
    expect(w.runner!.approved).to.equal(1);
    expect(w.runner!.declined).to.equal(1);
    expect(w.logs.some((l) => /DECLINED 300 .*card blocked/.test(l)), w.logs.join('\n')).to.equal(true);
  });
  it('keeps a deny list of 10,000 wallets across a reboot: stored over several journal records, with its version', async () => {
    // The device's 1 MiB journal partition.
    const { w, online, service, base } = await connected(new RamFlash({ blocks: 256 }));
    const clone = w.wallet();
    const ids = Array.from({ length: 9_999 }, (_, i) => fromHex((0x1000_0000 + i * 7919).toString(16).padStart(16, 'a')));
    ids.push(fromHex(clone.info.walletId));
    // A response carries at most 64 KiB of updates: two deltas of 1,000 ids per exchange.
    for (let v = 1; v <= 10; v++) {
      service.updates.push({ kind: UPDATE_DENY_LIST, version: v, fromVersion: v - 1, add: ids.slice((v - 1) * 1000, v * 1000), remove: [] });
      if (v % 2 === 1) continue;
      await w.runner!.network(true);
      await online.uplink.settled();
      await w.runner!.network(false);
    }
    await w.steps(1);
    expect(online.store.versions.denyListVersion, w.logs.join('\n')).to.equal(10);
    expect(w.booted!.risk.deniedWallets).to.equal(10_000);
    const stored = w.booted!.journal.latest(RECORD_DENY_LIST)!;
    // version, one run header, 10,000 ids of 8 bytes: about 21 records of a 4 KiB block.
    expect(stored.payload.length).to.equal(4 + 3 + 80_000);
    expect(Math.ceil(stored.payload.length / w.booted!.journal.maxPayload)).to.be.greaterThan(20);

    const again = new DeviceWorld({ seed: 'online-2', flash: w.flash, issuer: w.issuer, provisioning: w.provisioning });
    const after = await goOnline(again, base);
    expect(after.store.versions.denyListVersion).to.equal(10);
    expect(again.booted!.risk.deniedWallets, again.logs.join('\n')).to.equal(10_000);
    expect(after.store.denyList.has(toHex(ids[4321]!))).to.equal(true);
    await pay(again, '300#', clone);
    expect(again.runner!.declined, again.logs.join('\n')).to.equal(1);
    expect(again.logs.some((l) => /DECLINED 300 .*card blocked/.test(l)), again.logs.join('\n')).to.equal(true);
  });
  it('after a reboot the offline totals count only the receipts not acknowledged (not the settled ones, not other records)', async () => {
    const { w, online, base } = await connected();
    await pay(w, '1250#');
    await w.runner!.network(true);
    await online.uplink.settled();
    await w.steps(1);
    await w.runner!.network(false);
    expect(w.booted!.risk.offlineCount, w.logs.join('\n')).to.equal(0);
    await pay(w, '700#');
    expect([w.booted!.risk.offlineCount, w.booted!.risk.offlineAmount]).to.deep.equal([1, 700]);
    const again = new DeviceWorld({ seed: 'online-3', flash: w.flash, issuer: w.issuer, provisioning: w.provisioning });
    await goOnline(again, base);
    expect([again.booted!.risk.offlineCount, again.booted!.risk.offlineAmount], again.logs.join('\n')).to.deep.equal([1, 700]);
  });
});
