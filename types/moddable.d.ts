// Ambient declarations of the Moddable SDK modules firmware/app uses, so the host typecheck
// (`npx tsc -p . --noEmit`) covers the device adapters. They follow the SDK's own typings (its
// typings/ folder, Moddable SDK 8.x), trimmed to what the app calls; `mcconfig` compiles the app
// against the SDK's typings, not these.

declare module 'timer' {
  class Timer {
    private constructor();
    static set(callback: (timer: Timer) => void, interval?: number, repeat?: number): Timer;
    static repeat(callback: (timer: Timer) => void, interval: number): Timer;
    static clear(timer: Timer | undefined | null): void;
    private brand: boolean;
  }
  export { Timer as default };
}

declare module 'time' {
  const Time: {
    set(seconds: number): void;
    ticks: number;
    delta(start: number, end?: number): number;
  };
  export { Time as default };
}

declare module 'wifi' {
  export type WiFiCallback = (
    message: 'connect' | 'gotIP' | 'lostIP' | 'disconnect' | 'station_connect' | 'station_disconnect',
  ) => void;
  class WiFi {
    constructor(options?: { ssid: string; password?: string }, callback?: WiFiCallback);
    close(): void;
    static mode: -5 | 0 | 1 | 2 | 3;
    static connect(options?: { ssid: string; password?: string }): void;
    static disconnect(): void;
  }
  export { WiFi as default };
}

declare module 'embedded:storage/flash' {
  // As the SDK types it: an ArrayBuffer or a typed array, not a DataView.
  type ByteBuffer = ArrayBufferLike | Uint8Array | Int8Array | Uint8ClampedArray | Uint16Array | Int16Array | Uint32Array | Int32Array;
  export class Flash {
    close(): void;
    eraseBlock(start: number, end?: number): void;
    read(byteLength: number, byteOffset: number): ArrayBuffer;
    write(buffer: ByteBuffer, byteOffset: number): void;
    status(): { size: number; blockLength: number; blocks: number; writeAlign: number; eraseValue: number };
  }
  const FlashStorage: {
    open(options: { path: string; mode?: 'r' | 'r+' }): Flash;
  };
  export default FlashStorage;
}

declare module 'embedded:provider/builtin' {
  interface IOClass<O, I> {
    new (options: O): I;
  }
  interface I2CLike {
    read(count: number, stop?: boolean): ArrayBuffer;
    write(buffer: ArrayBuffer | ArrayBufferView, stop?: boolean): void;
    close(): void;
  }
  interface SPILike {
    transfer(buffer: ArrayBuffer | ArrayBufferView): void;
    flush(deselect?: boolean): void;
  }
  interface SerialLike {
    read(): number | ArrayBuffer | undefined;
    write(value: number | ArrayBuffer | ArrayBufferView): void;
    close(): void;
  }
  interface DigitalBankLike {
    read(): number;
    write(value: number): void;
    close(): void;
  }
  interface PWMLike {
    readonly resolution: number;
    write(value: number): void;
    close(): void;
  }
  const device: {
    io: {
      I2C: IOClass<{ data: number; clock: number; hz: number; address: number; port?: number }, I2CLike>;
      SPI: IOClass<{ clock: number; hz: number; out?: number; in?: number; select?: number; mode?: number; port?: number }, SPILike>;
      Serial: IOClass<{ baud: number; transmit?: number; receive?: number; port: number; format?: 'buffer' }, SerialLike>;
      DigitalBank: IOClass<{ pins: number; mode: number; bank?: number }, DigitalBankLike> & {
        readonly Input: number;
        readonly InputPullUp: number;
        readonly Output: number;
        readonly OutputOpenDrain: number;
      };
      PWM: IOClass<{ pin: number; hz: number; resolution?: number }, PWMLike>;
    };
  };
  export default device;
}

declare module 'mc/config' {
  const config: Record<string, unknown>;
  export default config;
}

// Moddable's `http` shares its name with Node's; on the host this declaration merges into Node's module.
declare module 'http' {
  export class Request {
    constructor(options: {
      host?: string;
      address?: string;
      port?: number;
      path?: string;
      method?: string;
      headers?: (string | number)[];
      body?: boolean | string | ArrayBuffer;
      response?: typeof String | typeof ArrayBuffer;
    });
    close(): void;
    callback: (message: number, value1?: unknown, value2?: unknown) => unknown;
  }
}

// The project's native module (native/tapline_native.c, bound by firmware/app/native-module.js, typed
// beside it for the SDK's tsc).
declare module 'tapline-native' {
  type Native = import('../firmware/app/native').NativePrimitives;
  export const p256Verify: Native['p256Verify'];
  export const ed25519Verify: Native['ed25519Verify'];
  export const sha256: Native['sha256'];
  export const crc32: Native['crc32'];
  export const blockHeader: Native['blockHeader'];
  export function restart(): void;
}

// Moddable's Preference module (modules/files/preference): NVS on the ESP32.
declare module 'preference' {
  const Preference: {
    get(domain: string, key: string): boolean | number | string | ArrayBuffer | undefined;
    set(domain: string, key: string, value: boolean | number | string | ArrayBuffer): void;
    delete(domain: string, key: string): void;
  };
  export { Preference as default };
}
