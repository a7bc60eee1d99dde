// Bugs restart the device, counted in the boot record; operating errors do not (firmware/app/restart.ts).
// Each scenario returns a line that says what happened; test/restart.test.ts runs them on Node and XS.
import { AssertionError } from '../../firmware/base/errors';
import type { Log } from '../../firmware/base/platform';
import { CardLostError } from '../../firmware/base/ports';
import { Runner } from '../../firmware/app/runner';
import { countBoot, MAX_BOOT_BUG_RESTARTS, MemoryBootRecordStore, restartOnBug } from '../../firmware/app/restart';
import { World } from './core-scenarios';

const quiet = { display: () => {}, beep: () => {}, led: () => {} };

export const RESTART_SCENARIOS: Record<string, { expect: string; run: () => Promise<string> }> = {
  'a bug in a tap leaves the main loop, restarts the device and is counted at the next boot': {
    expect: 'step: AssertionError; restarted; boot 2 logs 1 restart after AssertionError: head.end <= blockLength',
    run: async () => {
      const lines: string[] = [];
      const log: Log = (level, tag, message) => lines.push(`${level} ${tag}: ${message}`);
      const store = new MemoryBootRecordStore();
      countBoot(store, log);
      const w = new World();
      w.journal.failWith = new AssertionError('head.end <= blockLength');
      const keys = [...'500#'];
      const runner = new Runner({ terminal: w.terminal, reader: undefined, sink: quiet, log, keypad: { poll: () => keys.splice(0) } });
      runner.start();
      await runner.step();
      // the card event meets the journal's bug: not a decline, and the terminal refuses what follows
      await w.send({ type: 'card', link: w.wallet() }).catch(() => undefined);
      keys.push('1');
      const error = await runner.step().then(() => undefined, (e: unknown) => e);
      const step = error instanceof Error ? error.name : 'no error';
      const restarts: string[] = [];
      const outcome = restartOnBug(error, { store, log, phase: 'run', restart: (cause) => restarts.push(cause) });
      const boot = countBoot(store, log);
      const logged = lines.find((l) => l.startsWith('info boot: boot 2;'));
      return `step: ${step}; ${outcome}; boot ${boot.boots} logs ${boot.bugRestarts} restart after ${logged?.split('the last: ')[1] ?? '?'}` +
        (restarts.length === 1 ? '' : ` (restart called ${restarts.length} times)`);
    },
  },
  'a bug that boot meets every time restarts a bounded number of times, then halts': {
    expect: `restarted x${MAX_BOOT_BUG_RESTARTS}, then halted`,
    run: async () => {
      const store = new MemoryBootRecordStore();
      const outcomes: string[] = [];
      for (let boot = 0; boot <= MAX_BOOT_BUG_RESTARTS; boot++) {
        countBoot(store, () => {});
        outcomes.push(restartOnBug(new TypeError('x is undefined'), { store, log: () => {}, phase: 'boot', restart: () => {} }));
      }
      const restarted = outcomes.filter((o) => o === 'restarted').length;
      return `restarted x${restarted}, then ${outcomes.at(-1)}`;
    },
  },
  'an operating error is not a bug: thrown back, nothing counted, no restart': {
    expect: 'CardLostError thrown back; 0 bug restarts',
    run: async () => {
      const store = new MemoryBootRecordStore();
      countBoot(store, () => {});
      let restarted = false;
      let thrown = 'nothing';
      try {
        restartOnBug(new CardLostError(), { store, log: () => {}, phase: 'run', restart: () => (restarted = true) });
      } catch (e) {
        thrown = (e as Error).name;
      }
      return `${thrown} thrown back; ${store.load()?.bugRestarts ?? '?'} bug restarts${restarted ? ' (restarted!)' : ''}`;
    },
  },
};
