import { expect } from 'chai';
import { fromHex } from '../firmware/base/bytes';
import { ModdableHttpTransport } from '../firmware/app/device-http';
import { Online } from '../firmware/app/online';
import { UPDATE_DENY_LIST } from '../firmware/core/uplink/updates';
import { TestService } from './uplink-service';
import { LoopbackRequest } from './device-loopback';
import { DeviceWorld } from './xs/device-world';

describe('device app: online (uplink over the device HTTP adapter, loopback service)', () => {
  let service: TestService | undefined;
  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  async function connected(): Promise<{ w: DeviceWorld; online: Online; service: TestService }> {
    const probe = new DeviceWorld({ seed: 'online' });
    const svc = new TestService(probe.devicePublic);
    service = svc;
    const base = await svc.listen();
    // the same seed gives the same device key, now provisioned with the service's root key
    const w = new DeviceWorld({ seed: 'online', rootPublic: svc.rootPublic, issuer: probe.issuer });
    expect(w.devicePublic).to.deep.equal(probe.devicePublic);
    const transport = new ModdableHttpTransport({
      baseUrl: base, Request: LoopbackRequest,
      setTimer: (cb, ms) => setTimeout(cb, ms), clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
    });
    let online: Online | undefined;
    await w.boot((booted) => (online = new Online({ booted, transport, clock: w.clock, random: w.random, log: w.log })));
    return { w, online: online!, service: svc };
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
});
