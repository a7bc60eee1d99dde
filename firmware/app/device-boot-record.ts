// The boot record in the ESP32's NVS through Moddable's Preference module (keys of at most 15
// characters, small values). NVS is written at once and survives esp_restart and a power cut; a
// record the device never saved reads as undefined. The module is passed in: this file stays
// platform-free and the device app (firmware/app/main.ts) hands it the SDK's.
import type { BootRecord, BootRecordStore } from '../base/ports';

export interface PreferenceModule {
  get(domain: string, key: string): unknown;
  set(domain: string, key: string, value: number | string): void;
}

const DOMAIN = 'tapline';

export class PreferenceBootRecords implements BootRecordStore {
  readonly #p: PreferenceModule;

  constructor(preference: PreferenceModule) {
    this.#p = preference;
  }

  load(): BootRecord | undefined {
    const boots = this.#p.get(DOMAIN, 'boots');
    if (typeof boots !== 'number') return undefined;
    const number = (key: string) => {
      const v = this.#p.get(DOMAIN, key);
      return typeof v === 'number' ? v : 0;
    };
    const cause = this.#p.get(DOMAIN, 'cause');
    return { boots, bugRestarts: number('bugs'), bootBugStreak: number('bootBugStreak'), lastCause: typeof cause === 'string' ? cause : '' };
  }

  save(record: BootRecord): void {
    this.#p.set(DOMAIN, 'bugs', record.bugRestarts);
    this.#p.set(DOMAIN, 'bootBugStreak', record.bootBugStreak);
    this.#p.set(DOMAIN, 'cause', record.lastCause);
    // last: a record is only read back once its boots key exists
    this.#p.set(DOMAIN, 'boots', record.boots);
  }
}
