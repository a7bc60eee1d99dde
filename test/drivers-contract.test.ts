// The driver contract of drivers/README.md, checked for every driver on the simulated IO classes, which
// keep ECMA-419's rules ("in use" on a second open, "closed" on use after close): the driver opens its
// IO with the datasheet defaults, refuses an option out of range with a RangeError, closes twice
// without harm, throws when used after close, and frees its bus when its init fails.
import { expect } from 'chai';
import { VirtualClock } from '../firmware/base/platform';
import { Display } from '../firmware/app/hardware';
import { selectBoard, type PinMap } from '../firmware/app/pins';
import pinMap from '../hardware/pins.json';
import { SSD1306 } from '../drivers/display/ssd1306';
import { Framebuffer } from '../drivers/display/framebuffer';
import { PN532I2C, PN532SPI, PN532UART } from '../drivers/pn532/transport';
import { PN532 } from '../drivers/pn532/pn532';
import { NfcReader } from '../drivers/pn532/reader';
import { IsoDep } from '../drivers/pn532/isodep';
import { Keypad } from '../drivers/keypad';
import { Buzzer, Feedback } from '../drivers/feedback/feedback';
import type { IOClass } from '../drivers/io';
import { digitalBankOn, i2cOn, serialOn, SimI2C, SimI2CBus, SimSerial, SimSPI, spiOn, SimDigitalBank, type PinNetwork } from '../host/sim/hw/io';
import { SimSSD1306 } from '../host/sim/hw/ssd1306';
import { SimPN532 } from '../host/sim/hw/pn532';
import { KeyMatrix } from '../host/sim/hw/keypad';
import { BuzzerRecorder, OutputPins } from '../host/sim/hw/feedback';

/** The IO class, recording the options of every open. */
function recording<O, T>(io: IOClass<O, T>): { io: IOClass<O, T>; opened: O[] } {
  const opened: O[] = [];
  return {
    opened,
    io: class {
      constructor(options: O) {
        opened.push(options);
        return new io(options) as object;
      }
    } as unknown as IOClass<O, T>,
  };
}

const ROWS = [13, 12, 14, 27];
const COLUMNS = [34, 35, 36, 39];
const LEDS = { red: 25, green: 26 };

describe('drivers: simulated IO keeps the ECMA-419 rules', () => {
  it('refuses an I2C address that is open, frees it on close, and throws on use after close', () => {
    const bus = new SimI2CBus();
    bus.attach(0x3c, new SimSSD1306());
    const first = new SimI2C({ bus, data: 21, clock: 22, hz: 400_000, address: 0x3c });
    expect(() => new SimI2C({ bus, data: 21, clock: 22, hz: 400_000, address: 0x3c })).to.throw(RangeError, 'in use');
    first.close();
    first.close();
    expect(() => first.write(Uint8Array.of(0, 0xae))).to.throw('closed');
    new SimI2C({ bus, data: 21, clock: 22, hz: 400_000, address: 0x3c }).write(Uint8Array.of(0, 0xae));
  });

  it('refuses pins, an SPI device or a UART device that is open', () => {
    const network: PinNetwork = new OutputPins({ clock: new VirtualClock() });
    const bank = new SimDigitalBank({ pins: 0b110, mode: 8, network });
    expect(() => new SimDigitalBank({ pins: 0b100, mode: 8, network })).to.throw(RangeError, 'in use');
    new SimDigitalBank({ pins: 0b100, bank: 1, mode: 8, network }).close();
    bank.close();
    expect(() => bank.write(0)).to.throw('closed');
    new SimDigitalBank({ pins: 0b100, mode: 8, network }).close();

    const device = { spiTransfer: (b: Uint8Array) => b, uartWrite: () => {}, uartRead: () => undefined };
    const spi = new SimSPI({ device, clock: 14, hz: 1_000_000 });
    expect(() => new SimSPI({ device, clock: 14, hz: 1_000_000 })).to.throw(RangeError, 'in use');
    spi.close();
    expect(() => spi.transfer(new Uint8Array(1))).to.throw('closed');
    const serial = new SimSerial({ device, baud: 115_200 });
    expect(() => new SimSerial({ device, baud: 115_200 })).to.throw(RangeError, 'in use');
    serial.close();
    expect(() => serial.read()).to.throw('closed');
  });
});

describe('drivers: the driver contract', () => {
  it('SSD1306: 0x3C at 400 kHz, range-checked, close twice, use after close throws', () => {
    const bus = new SimI2CBus();
    bus.attach(0x3c, new SimSSD1306());
    const { io, opened } = recording(i2cOn(bus));
    const panel = new SSD1306({ io, data: 21, clock: 22 });
    expect(opened).to.deep.equal([{ data: 21, clock: 22, port: undefined, address: 0x3c, hz: 400_000 }]);
    panel.init();
    expect(() => new SSD1306({ io, data: 21, clock: 22 })).to.throw(RangeError, 'in use');
    for (const bad of [{ height: 48 }, { address: 0x3e }, { hz: 1_000_000 }, { chunkBytes: 0 }, { width: 96 }])
      expect(() => new SSD1306({ io, data: 21, clock: 22, ...bad }), JSON.stringify(bad)).to.throw(RangeError, /SSD1306/);
    panel.close();
    panel.close();
    expect(() => panel.flush(new Framebuffer())).to.throw(/SSD1306 is closed/);
    expect(() => panel.init()).to.throw(/SSD1306 is closed/);
    new SSD1306({ io, data: 21, clock: 22 }).close();
  });

  it('SSD1306: an init the panel does not acknowledge closes the bus', () => {
    const bus = new SimI2CBus();
    const panel = new SSD1306({ io: i2cOn(bus), data: 21, clock: 22 });
    expect(() => panel.init()).to.throw('write failed');
    // the address is free again: a panel plugged in later can be opened
    bus.attach(0x3c, new SimSSD1306());
    new SSD1306({ io: i2cOn(bus), data: 21, clock: 22 }).init();
  });

  it('Display: a panel that does not answer leaves the shared bus free (the leak of issue 15)', () => {
    const board = selectBoard(pinMap as PinMap, 'esp32-devkitc');
    const bus = new SimI2CBus();
    expect(() => new Display({ board, I2C: i2cOn(bus) })).to.throw('write failed');
    const sim = new SimSSD1306();
    bus.attach(board.display.address, sim);
    const display = new Display({ board, I2C: i2cOn(bus) });
    expect(sim.on).to.equal(true);
    display.close();
    display.close();
  });

  it('PN532 I2C: 0x24 at 400 kHz, range-checked, close twice, use after close throws', async () => {
    const bus = new SimI2CBus();
    const chip = new SimPN532({ clock: new VirtualClock() });
    bus.attach(0x24, { i2cWrite: (b) => chip.i2cWrite(b), i2cRead: (n) => chip.i2cRead(n) });
    const { io, opened } = recording(i2cOn(bus));
    const transport = new PN532I2C({ io, data: 21, clock: 22 });
    expect(opened).to.deep.equal([{ data: 21, clock: 22, port: undefined, address: 0x24, hz: 400_000 }]);
    expect(() => new PN532I2C({ io, data: 21, clock: 22 })).to.throw(RangeError, 'in use');
    expect(() => new PN532I2C({ io, data: 21, clock: 22, address: 0x24, hz: 1_000_000 })).to.throw(RangeError, /PN532 hz/);
    expect(() => new PN532I2C({ io, data: 21, clock: 22, address: 0x80 })).to.throw(RangeError, /PN532 address/);
    transport.close();
    transport.close();
    expect(() => transport.read(6, 6)).to.throw(/PN532 I2C is closed/);
    const error = await transport.write(Uint8Array.of(0)).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error).with.property('message', 'PN532 I2C is closed');
    new PN532I2C({ io, data: 21, clock: 22 }).close();
  });

  it('PN532 SPI: 1 MHz mode 0, range-checked, close twice, use after close throws', () => {
    const device = { spiTransfer: (b: Uint8Array) => new Uint8Array(b.length) };
    const { io, opened } = recording(spiOn(device));
    const pins = { clock: 14, in: 12, out: 13, select: 15 };
    const transport = new PN532SPI({ io, ...pins });
    expect(opened).to.deep.equal([{ ...pins, port: undefined, hz: 1_000_000, mode: 0 }]);
    expect(() => new PN532SPI({ io, ...pins, mode: 3 })).to.throw(RangeError, /PN532 SPI mode/);
    expect(() => new PN532SPI({ io, ...pins, hz: 10_000_000 })).to.throw(RangeError, /PN532 hz/);
    transport.close();
    transport.close();
    expect(() => transport.read(6)).to.throw(/PN532 SPI is closed/);
    new PN532SPI({ io, ...pins }).close();
  });

  it('PN532 UART: 115200 baud, range-checked, close twice, use after close throws', () => {
    const clock = new VirtualClock();
    const device = { uartWrite: () => {}, uartRead: () => undefined };
    const { io, opened } = recording(serialOn(device));
    const transport = new PN532UART({ io, transmit: 17, receive: 16, port: 2, clock });
    expect(opened).to.deep.equal([{ transmit: 17, receive: 16, port: 2, baud: 115_200 }]);
    expect(() => new PN532UART({ io, clock, baud: 0 })).to.throw(RangeError, /PN532 baud/);
    expect(() => new PN532UART({ io, clock, chunkBytes: 1000 })).to.throw(RangeError, /PN532 UART chunkBytes/);
    transport.close();
    transport.close();
    expect(() => transport.read()).to.throw(/PN532 UART is closed/);
    new PN532UART({ io, clock }).close();
  });

  it('PN532 and NfcReader: a probe the chip does not answer closes the bus, so the address can be opened again', async () => {
    const clock = new VirtualClock();
    const bus = new SimI2CBus();
    // nothing at 0x24: every transaction goes unacknowledged
    const reader = new NfcReader({ pn532: new PN532({ transport: new PN532I2C({ io: i2cOn(bus), data: 21, clock: 22 }), clock }) });
    expect(await reader.begin().catch((e: Error) => e.message)).to.match(/no ACK/);
    const chip = new SimPN532({ clock });
    bus.attach(0x24, { i2cWrite: (b) => chip.i2cWrite(b), i2cRead: (n) => chip.i2cRead(n) });
    const again = new NfcReader({ pn532: new PN532({ transport: new PN532I2C({ io: i2cOn(bus), data: 21, clock: 22 }), clock }) });
    expect((await again.begin()).ic).to.equal(0x32);
    again.close();
  });

  it('PN532 and NfcReader: a silent chip on SPI or UART frees the device too', async () => {
    const clock = new VirtualClock();
    const silent = { spiTransfer: (b: Uint8Array) => new Uint8Array(b.length), uartWrite: () => {}, uartRead: () => undefined };
    const spi = spiOn(silent);
    const pins = { clock: 14, in: 12, out: 13, select: 15 };
    const overSpi = new NfcReader({ pn532: new PN532({ transport: new PN532SPI({ io: spi, ...pins }), clock }) });
    expect(await overSpi.begin().catch((e: Error) => e.name)).to.equal('PN532TimeoutError');
    new PN532SPI({ io: spi, ...pins }).close();
    const serial = serialOn(silent);
    const overUart = new NfcReader({ pn532: new PN532({ transport: new PN532UART({ io: serial, clock }), clock }) });
    expect(await overUart.begin().catch((e: Error) => e.name)).to.equal('PN532TimeoutError');
    new PN532UART({ io: serial, clock }).close();
  });

  it('PN532, NfcReader and IsoDep: options range-checked, close twice, use after close throws', async () => {
    const clock = new VirtualClock();
    const bus = new SimI2CBus();
    const chip = new SimPN532({ clock });
    bus.attach(0x24, { i2cWrite: (b) => chip.i2cWrite(b), i2cRead: (n) => chip.i2cRead(n) });
    const io = i2cOn(bus);
    const transport = () => new PN532I2C({ io, data: 21, clock: 22 });
    for (const bad of [{ ackTimeoutMs: 0 }, { timeoutMs: -1 }, { pollMs: 0 }, { retries: 11 }, { maxNacks: 1.5 }, { chunkBytes: 300 }]) {
      const t = transport();
      expect(() => new PN532({ transport: t, clock, ...bad }), JSON.stringify(bad)).to.throw(RangeError, /PN532/);
      t.close();
    }
    const pn532 = new PN532({ transport: transport(), clock });
    expect(() => new NfcReader({ pn532, exchangeTimeoutMs: 0 })).to.throw(RangeError, /NfcReader exchangeTimeoutMs/);
    expect(() => new IsoDep({ pn532, tg: 3 })).to.throw(RangeError, /IsoDep tg/);
    expect(() => new IsoDep({ pn532, tg: 1, maxGetResponse: 0 })).to.throw(RangeError, /IsoDep maxGetResponse/);
    const reader = new NfcReader({ pn532 });
    await reader.begin();
    reader.close();
    reader.close();
    pn532.close();
    expect(await pn532.getFirmwareVersion().catch((e: Error) => e.message)).to.equal('PN532 is closed');
    expect(await reader.waitForCard(10).catch((e: Error) => e.message)).to.equal('NfcReader is closed');
    expect(await reader.startSearch().catch((e: Error) => e.message)).to.equal('NfcReader is closed');
    expect(await reader.begin().catch((e: Error) => e.message)).to.equal('NfcReader is closed');
    // the bus is free again
    transport().close();
  });

  it('Keypad: opens rows open-drain and columns pulled up in their banks, range-checked, close twice', () => {
    const clock = new VirtualClock();
    const matrix = new KeyMatrix({ rowPins: ROWS, columnPins: COLUMNS, clock });
    const { io, opened } = recording(digitalBankOn(matrix));
    const keypad = new Keypad({ io, rows: ROWS, columns: COLUMNS, clock });
    expect(opened).to.deep.equal([
      { pins: (1 << 13) | (1 << 12) | (1 << 14) | (1 << 27), bank: 0, mode: 9 },
      { pins: (1 << 2) | (1 << 3) | (1 << 4) | (1 << 7), bank: 1, mode: 1 },
    ]);
    expect(() => new Keypad({ io, rows: ROWS, columns: COLUMNS, clock })).to.throw(RangeError, 'in use');
    // the rows bank opened before the columns failed is closed again
    expect(() => new Keypad({ io, rows: [5], columns: COLUMNS, clock, keymap: [['1', '2', '3', '4']] })).to.throw(RangeError, 'in use');
    new Keypad({ io, rows: [5], columns: [6], clock, keymap: [['1']] }).close();
    expect(() => new Keypad({ io, rows: [31, 32], columns: [5], clock, keymap: [['1'], ['2']] })).to.throw(RangeError, /not in bank/);
    expect(() => new Keypad({ io, rows: ROWS, columns: COLUMNS, clock, debounceMs: -1 })).to.throw(RangeError, /debounceMs/);
    keypad.close();
    keypad.close();
    expect(() => keypad.poll()).to.throw(/keypad is closed/);
    new Keypad({ io, rows: ROWS, columns: COLUMNS, clock }).close();
  });

  it('Buzzer and Feedback: one PWM per tone on the pin, the LED bank owned, close twice, use after close throws', async () => {
    const clock = new VirtualClock();
    const recorder = new BuzzerRecorder({ clock });
    const pwm = recording(recorder.pwmClass());
    const leds = new OutputPins({ clock });
    const bank = recording(digitalBankOn(leds));
    const buzzer = new Buzzer({ io: pwm.io, pin: 4 });
    expect(() => new Buzzer({ io: pwm.io, pin: 64 })).to.throw(RangeError, /buzzer pin/);
    const feedback = new Feedback({ buzzer, io: bank.io, pins: LEDS, clock });
    expect(bank.opened).to.deep.equal([{ pins: (1 << 25) | (1 << 26), bank: 0, mode: 8 }]);
    expect(() => new Feedback({ buzzer, io: bank.io, pins: LEDS, clock })).to.throw(RangeError, 'in use');
    await feedback.play('key');
    expect(pwm.opened).to.deep.equal([{ pin: 4, hz: 4000 }]);
    expect(() => buzzer.tone(50_000)).to.throw(RangeError, /tone hz/);
    feedback.close();
    feedback.close();
    expect(() => feedback.setLed('green')).to.throw(/feedback is closed/);
    expect(() => buzzer.tone(440)).to.throw(/buzzer is closed/);
    new Feedback({ buzzer: new Buzzer({ io: pwm.io, pin: 4 }), io: bank.io, pins: LEDS, clock }).close();
  });
});
