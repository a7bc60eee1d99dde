// A reader wired up: driver + transport + simulated IO + simulated PN532, on the interface asked for.
// Used by the tests, the benchmark and the simulator.
import type { Clock, Log } from '../../../firmware/base/platform';
import { NfcReader } from '../../../drivers/pn532/reader';
import { PN532, type PN532Options } from '../../../drivers/pn532/pn532';
import { PN532I2C, PN532SPI, PN532UART, type PN532Transport } from '../../../drivers/pn532/transport';
import { i2cOn, serialOn, SimI2CBus, spiOn, type I2CDevice, type SerialDevice, type SPIDevice } from './io';
import { SimPN532, type SimPN532Options } from './pn532';

export type Interface = 'i2c' | 'spi' | 'uart';

export interface ReaderRig {
  chip: SimPN532;
  transport: PN532Transport;
  pn532: PN532;
  reader: NfcReader;
  bus?: SimI2CBus;
}

export function readerRig(options: {
  via: Interface;
  clock: Clock;
  log?: Log;
  chip?: Omit<SimPN532Options, 'clock'>;
  driver?: Omit<PN532Options, 'clock' | 'transport'>;
  bus?: SimI2CBus;
  /** Puts something between the IO class and the chip (a recorder, a line with faults). */
  through?: (chip: SimPN532) => Partial<I2CDevice & SPIDevice & SerialDevice>;
}): ReaderRig {
  const { via, clock, log } = options;
  const chip = new SimPN532({ clock, log, ...options.chip });
  const front = { ...bind(chip), ...options.through?.(chip) };
  let transport: PN532Transport;
  let bus: SimI2CBus | undefined;
  if (via === 'i2c') {
    bus = options.bus ?? new SimI2CBus();
    bus.attach(0x24, front);
    transport = new PN532I2C({ io: i2cOn(bus), data: 21, clock: 22 });
  } else if (via === 'spi') {
    transport = new PN532SPI({ io: spiOn(front), clock: 14, in: 12, out: 13, select: 15 });
  } else {
    chip.powerUpAsleep();
    transport = new PN532UART({ io: serialOn(front), transmit: 17, receive: 16, port: 2, clock });
  }
  const pn532 = new PN532({ transport, clock, log, ...options.driver });
  return { chip, transport, pn532, reader: new NfcReader({ pn532, log }), bus };
}

function bind(chip: SimPN532): I2CDevice & SPIDevice & SerialDevice {
  return {
    i2cWrite: (b) => chip.i2cWrite(b),
    i2cRead: (n) => chip.i2cRead(n),
    spiTransfer: (b) => chip.spiTransfer(b),
    uartWrite: (b) => chip.uartWrite(b),
    uartRead: () => chip.uartRead(),
  };
}
