// The ECMA-419 IO classes a simulated board hands the firmware (what `device.io` is on the ESP32): the
// PN532 and the OLED share the I2C bus, the keypad and the LEDs are pin networks, the buzzer is a PWM
// recorder. The device app's own builders (firmware/app/hardware.ts) open them at the pin map's pins.
import type { BoardPins } from '../../../firmware/app/pins';
import type { IOClasses, PanelClasses } from '../../../firmware/app/hardware';
import type { DigitalBankOptions, I2COptions, PWMOptions, SPIOptions, SerialOptions } from '../../../drivers/io';
import { SimDigitalBank, SimI2C, SimI2CBus, SimSerial, SimSPI, type PinNetwork } from './io';
import type { KeyMatrix } from './keypad';
import type { BuzzerRecorder, OutputPins } from './feedback';
import type { SimSSD1306 } from './ssd1306';
import type { SimPN532 } from './pn532';

/** `pinsSeen` records the options each class was opened with, for tests of the pin map. */
export function simulatedIO(chip: SimPN532, panel: SimSSD1306, networks: { keypad: KeyMatrix; leds: OutputPins; buzzer: BuzzerRecorder; board: BoardPins }, pinsSeen: Record<string, unknown>): IOClasses & PanelClasses {
  const bus = new SimI2CBus();
  bus.attach(networks.board.pn532.i2c.address, { i2cWrite: (b) => chip.i2cWrite(b), i2cRead: (n) => chip.i2cRead(n) });
  bus.attach(networks.board.display.address, panel);
  // one device object per interface, so a second open of the same interface is "in use"
  const spiDevice = { spiTransfer: (b: Uint8Array) => chip.spiTransfer(b) };
  const uartDevice = { uartWrite: (b: Uint8Array) => chip.uartWrite(b), uartRead: () => chip.uartRead() };
  const keypadPins = [...networks.board.keypad.rows, ...networks.board.keypad.cols];
  return {
    DigitalBank: class extends SimDigitalBank {
      constructor(o: DigitalBankOptions) {
        // the banks' masks are bank-relative: bank 1 bit n is GPIO 32 + n, as 1 << (32 + n) is in JS
        const isKeypad = keypadPins.some((p) => (o.pins & (1 << p)) !== 0 && Math.floor(p / 32) === (o.bank ?? 0));
        const network: PinNetwork = isKeypad ? networks.keypad : networks.leds;
        super({ ...o, network });
      }
    },
    PWM: class {
      constructor(o: PWMOptions) {
        pinsSeen.pwm = o;
        return networks.buzzer.open(o);
      }
    } as unknown as PanelClasses['PWM'],
    I2C: class extends SimI2C {
      constructor(o: I2COptions) {
        pinsSeen.i2c = o;
        super({ bus, ...o });
      }
    },
    SPI: class extends SimSPI {
      constructor(o: SPIOptions) {
        pinsSeen.spi = o;
        super({ device: spiDevice, ...o });
      }
    },
    Serial: class extends SimSerial {
      constructor(o: SerialOptions) {
        pinsSeen.serial = o;
        super({ device: uartDevice, ...o });
      }
    },
  } as unknown as IOClasses & PanelClasses;
}

