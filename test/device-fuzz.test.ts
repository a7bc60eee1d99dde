import { expect } from 'chai';
import { utf8Encode } from '../firmware/base/bytes';
import { parseProvisioning, ProvisioningError } from '../firmware/core/provisioning';
import { PartitionError, readProvisioningText, type PartitionFlash } from '../firmware/app/device-storage';
import { PartitionAdapter } from '../firmware/app/device-storage';
import { mutate, seededRandom } from './uplink-fuzz-helpers';
import { DeviceWorld } from './xs/device-world';

/** A 16 KB provision partition in RAM: the file's bytes, then erased flash. */
class Partition implements PartitionFlash {
  data = new Uint8Array(16 * 1024);
  load(bytes: Uint8Array): void {
    this.data.fill(0xff);
    this.data.set(bytes.subarray(0, this.data.length));
  }
  read(n: number, at: number): ArrayBuffer {
    return this.data.slice(at, at + n).buffer;
  }
  write(): void {}
  eraseBlock(): void {}
  status() {
    return { size: this.data.length, blockLength: 4096, blocks: 4 };
  }
}

const ODD_VALUES: unknown[] = [null, true, -1, 0, 1.5, 2 ** 53, '', 'x'.repeat(300), 'zz', [], {}, [1, 2], { a: 1 }, '0x12', 1e300];

/** Replaces, deletes or adds one field somewhere in the object tree. */
function mutateField(value: unknown, random: () => number): unknown {
  if (typeof value !== 'object' || value === null) return ODD_VALUES[Math.floor(random() * ODD_VALUES.length)];
  const copy: Record<string, unknown> = Array.isArray(value) ? ({ ...value } as Record<string, unknown>) : { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const pick = random();
  if (keys.length === 0 || pick < 0.1) copy[`extra${Math.floor(random() * 3)}`] = ODD_VALUES[Math.floor(random() * ODD_VALUES.length)];
  else {
    const key = keys[Math.floor(random() * keys.length)]!;
    if (pick < 0.25) delete copy[key];
    else copy[key] = random() < 0.5 ? mutateField(copy[key], random) : ODD_VALUES[Math.floor(random() * ODD_VALUES.length)];
  }
  return Array.isArray(value) ? Object.values(copy) : copy;
}

describe('device app: provisioning partition fuzz', () => {
  it('survives 100,000 mutated partitions with PartitionError or ProvisioningError only', function () {
    this.timeout(120_000);
    const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`      provisioning partition fuzz seed ${seed} (FUZZ_SEED to replay)`);
    const random = seededRandom(seed);
    const good = new DeviceWorld({ seed: 'fuzz' }).provisioning;
    const goodValue = JSON.parse(good) as unknown;
    const goodBytes = utf8Encode(good);
    const partition = new Partition();
    const flash = new PartitionAdapter(partition);
    const outcomes = { ok: 0, partition: 0, provisioning: 0 };
    for (let i = 0; i < 100_000; i++) {
      const bytes = random() < 0.5 ? mutate(goodBytes, random) : utf8Encode(JSON.stringify(mutateField(goodValue, random)));
      partition.load(bytes);
      try {
        parseProvisioning(readProvisioningText(flash, 256));
        outcomes.ok++;
      } catch (e) {
        if (e instanceof PartitionError) outcomes.partition++;
        else if (e instanceof ProvisioningError) outcomes.provisioning++;
        else throw new Error(`seed ${seed}, input ${i}: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
    expect(outcomes.provisioning, JSON.stringify(outcomes)).to.be.greaterThan(50_000);
    expect(outcomes.ok + outcomes.partition + outcomes.provisioning).to.equal(100_000);
  });
});
