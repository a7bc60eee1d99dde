// Seeded randomness and byte mutation for the journal and uplink fuzz tests.

export { prng as seededRandom } from '../host/sim/hw/prng';

/** One to four random edits: flip bits, overwrite, insert, delete, truncate, or splice a length byte. */
export function mutate(input: Uint8Array, random: () => number): Uint8Array {
  let bytes = Array.from(input);
  const edits = 1 + Math.floor(random() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (bytes.length + 1));
    switch (Math.floor(random() * 6)) {
      case 0:
        if (at < bytes.length) bytes[at] = bytes[at]! ^ (1 << Math.floor(random() * 8));
        break;
      case 1:
        if (at < bytes.length) bytes[at] = Math.floor(random() * 256);
        break;
      case 2:
        bytes.splice(at, 0, Math.floor(random() * 256));
        break;
      case 3:
        bytes.splice(at, 1 + Math.floor(random() * 8));
        break;
      case 4:
        bytes = bytes.slice(0, at);
        break;
      default:
        if (at < bytes.length) bytes[at] = [0x00, 0x7f, 0x80, 0x81, 0x82, 0xff][Math.floor(random() * 6)]!;
    }
  }
  return Uint8Array.from(bytes);
}
