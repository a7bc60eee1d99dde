// The host side of a scenario: bundle an entry that calls serve() (host/xs/guest.ts), load it into a
// fresh XS worker, and call its handlers by name. Each call reports the engine's metering for it.
import { bundleToFile } from './bundle';
import { XSWorker, type Meter, type XSWorkerOptions } from './worker';

export interface CallResult<T> {
  value: T;
  meter: Meter;
}

export class XSScenario {
  private constructor(readonly worker: XSWorker) {}

  /** Loads `entry` (a repo-relative path) into a new XS worker. */
  static async load(entry: string, options: XSWorkerOptions = {}): Promise<XSScenario> {
    const code = await bundleToFile(entry);
    const worker = new XSWorker(options);
    try {
      await worker.evaluate(code);
    } catch (error) {
      await worker.close();
      throw error;
    }
    return new XSScenario(worker);
  }

  /** Runs handler `op` in XS; rejects with the handler's error message if it threw. */
  async call<T = unknown>(op: string, args: unknown = null): Promise<CallResult<T>> {
    const { meter } = await this.worker.call({ op, args });
    const { value: outcome } = await this.worker.call<{ ok: boolean; value?: T; error?: string }>({ op: '__result' });
    if (!outcome.ok) throw new Error(`in XS, ${op}: ${outcome.error}`);
    return { value: outcome.value as T, meter };
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}
