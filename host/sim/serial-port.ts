// Bench mode's serial port: a PN532 in HSU mode on a USB-UART adapter (or a pseudo-terminal). With the
// optional `serialport` package installed it is used; without it, a tty is set raw at 115200 with
// `stty` and read and written as a file, which is all a PN532 at 115200 8N1 needs on Linux and macOS.
import { spawnSync } from 'node:child_process';
import { createReadStream, openSync, writeSync, closeSync } from 'node:fs';
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
  const fd = openSync(path, 'r+');
  const input = createReadStream('', { fd, autoClose: false });
  let open = true;
  // A line that goes away (adapter unplugged, the other end of a pty closed) reads EIO: the reader then
  // stops answering, which the driver reports as a timeout; nothing here should crash the host.
  input.on('error', () => close());
  const close = () => {
    if (!open) return;
    open = false;
    input.destroy();
    try {
      closeSync(fd);
    } catch {
      // already gone with the device
    }
  };
  const port: BytePort = {
    write: (data) => {
      if (open) writeSync(fd, data);
    },
    on: (_event, listener) => input.on('data', (chunk) => listener(chunk as Buffer)),
    close: (callback) => {
      close();
      callback?.(null);
    },
  };
  return new NodeSerial({ port });
}
