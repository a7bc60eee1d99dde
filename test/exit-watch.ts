// Root hook: once every test has run, the process must be free to exit. A server, a child process, a
// worker or a client retrying for ever that a test left behind keeps Node's event loop alive, and mocha
// (without --exit) waits on it: CI then sees a hang after the summary, not a failure. This names what
// is still open and ends the run, red.
import process from 'node:process';

const GRACE_MS = 60_000;

function describeHandle(handle: unknown): string {
  const h = handle as { constructor?: { name?: string }; spawnargs?: string[]; address?: () => unknown; remotePort?: number };
  const kind = h.constructor?.name ?? typeof handle;
  if (Array.isArray(h.spawnargs)) return `${kind}(${h.spawnargs.join(' ')})`;
  if (typeof h.address === 'function') {
    try {
      return `${kind}(${JSON.stringify(h.address())}${h.remotePort ? ` -> ${h.remotePort}` : ''})`;
    } catch {
      return kind;
    }
  }
  return kind;
}

export const mochaHooks = {
  afterAll(): void {
    const timer = setTimeout(() => {
      const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
      const open = handles.filter((h) => h !== timer).map(describeHandle);
      process.stderr.write(
        `\ntest/exit-watch.ts: the suite ended ${GRACE_MS / 1000} s ago but the process is still held open by ` +
          `${open.join(', ') || process.getActiveResourcesInfo().join(', ')}: a test left something running (a server, a client that retries, a child process, a worker)\n`,
      );
      process.exit(1);
    }, GRACE_MS);
    // Unreferenced: when nothing else is open, the process exits at once and this never fires.
    timer.unref();
  },
};
