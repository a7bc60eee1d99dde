// The reader stack's cost of one tap: XS computrons and heap for driver + simulated IO + simulated
// PN532 carrying SELECT, READ CERTIFICATE and PAY, and the bytes that cross the bus. The wallet's
// answers are replayed (recorded from the wallet emulator on Node) so the figures are the reader's
// alone; a second row per interface includes the wallet's signing and the terminal's check.
// Each row uses a fresh XS worker, so heap figures do not carry over from another row. The worker
// allocates its heap up front (engineHeapBytes stays flat); slots in use are the finer figure, and
// an XS slot is 16 bytes on the ESP32's 32-bit build.
import type { Report } from './main';
import { toHex } from '../firmware/base/bytes';
import { XSScenario } from '../host/xs/scenario';
import type { TapExchangeOutcome } from '../host/sim/hw/tap-exchange';
import { makeWallet, recordExchange } from '../test/drivers-wallet';

// Bus time model: I2C at 400 kHz, 9 clocks per byte (ACK bit), SPI at 1 MHz, 8 clocks per byte,
// HSU at 115200 baud, 10 bits per byte; gaps between transactions and chip processing not counted.
const BUS = {
  i2c: { hz: 400_000, bitsPerByte: 9 },
  spi: { hz: 1_000_000, bitsPerByte: 8 },
  uart: { hz: 115_200, bitsPerByte: 10 },
} as const;

export async function run(report: Report, options: { quick: boolean }): Promise<void> {
  const exchange = recordExchange(makeWallet('p256')).map((e) => ({ command: toHex(e.command), response: toHex(e.response) }));
  for (const via of ['i2c', 'spi', 'uart'] as const) {
    const xs = await XSScenario.load('test/xs/drivers-tap.guest.ts');
    try {
      const prepared = await xs.call('prepare', { via, exchange });
      const { value, meter } = await xs.call<TapExchangeOutcome>('replayTap');
      const bus = BUS[via];
      report({
        bench: `driver.tap.${via}`,
        computrons: meter.compute,
        engineHeapBytes: meter.allocate,
        // slots in use after the tap minus before it, no collection in between: an upper bound
        slotsPerTap: meter.currentHeapCount - prepared.meter.currentHeapCount,
        slotBytesEsp32: (meter.currentHeapCount - prepared.meter.currentHeapCount) * 16,
        busBytes: value.busBytes,
        busMs: Math.round(((value.busBytes * bus.bitsPerByte) / bus.hz) * 1e4) / 10,
        certificateBytes: value.certificateBytes,
        busModel: `${bus.hz} Hz, ${bus.bitsPerByte} bits per byte`,
      });
    } finally {
      await xs.close();
    }
    if (options.quick && via !== 'i2c') continue;
    const again = await XSScenario.load('test/xs/drivers-tap.guest.ts');
    try {
      const full = await again.call<TapExchangeOutcome>('tap', { via, alg: 'p256' });
      report({
        bench: `driver.tap.${via}.withWallet`,
        computrons: full.meter.compute,
        engineHeapBytes: full.meter.allocate,
        note: 'fresh engine: reader set-up, wallet keys, P-256 signing and verification (first use) included',
      });
    } finally {
      await again.close();
    }
  }
}
