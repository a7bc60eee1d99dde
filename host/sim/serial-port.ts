// Bench mode's serial port: a PN532 in HSU mode on a USB-UART adapter (or a pseudo-terminal). With the
// optional `serialport` package installed it is used; without it, a tty is set raw at 115200 with
// `stty` and read through Node's tty stream, which is all a PN532 at 115200 8N1 needs on Linux and macOS.
import { spawnSync } from 'node:child_process';
import { constants, openSync, writeSync, closeSync } from 'node:fs';
import { isatty, ReadStream } from 'node:tty';
import { NodeSerial, openSerialPort, type BytePort } from './hw/serial-node';

export async function openSerial(path: string, baud = 115_200): Promise<NodeSerial> {
  try {
    return await openSerialPort(path, baud);
  } catch (e) {
    if (!/not installed/.test((e as Error).message)) throw e;
  }
  const flag = process.platform === 'darwin' ? '-f' : '-F';
  const stty = spawnSync('stty', [flag, path, String(baud), 'raw', '-echo', 'cs8', '-cstopb', '-parenb'], { encoding: 'utf8' });
  if (stty.status !== 0) throw new Error(`cannot set up ${path}: ${(stty.stderr || stty.error?.message || '').trim()}`);
  const fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
  if (!isatty(fd)) {
    closeSync(fd);
    throw new Error(`${path} is not a serial device`);
  }
  // Not fs.createReadStream: its reads block a thread-pool thread until a byte comes, and a line that
  // never sends one (a chip that does not answer) then holds the process at exit. The tty stream polls.
  const input = new ReadStream(fd);
  input.setRawMode(true);
  let open = true;
  // A line that goes away (adapter unplugged, the other end of a pty closed) reads EIO: the reader then
  // stops answering, which the driver reports as a timeout; nothing here should crash the host.
  input.on('error', () => close());
  const close = () => {
    if (!open) return;
    open = false;
    // destroying the stream closes the descriptor
    input.destroy();
  };
  const port: BytePort = {
    write: (data) => {
      if (open) writeAll(fd, data);
    },
    on: (_event, listener) => input.on('data', (chunk) => listener(chunk as Buffer)),
    close: (callback) => {
      close();
      callback?.(null);
    },
  };
  return new NodeSerial({ port });
}

/**
 * The tty stream makes the descriptor non-blocking, so a write may be cut short by a full output
 * buffer (a slow adapter): the rest goes once the line drains, within a bound.
 */
function writeAll(fd: number, data: Uint8Array): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let at = 0, stalls = 0; at < data.length; ) {
    try {
      at += writeSync(fd, data, at);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' || ++stalls > 200) throw e;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}
