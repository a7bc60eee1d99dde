// Runs inside XS: the reader stack (driver + simulated IO + simulated PN532) tapping the wallet emulator.
import { fromHex } from '../../firmware/base/bytes';
import { seededRandom } from '../../host/wallet/random';
import { serve } from '../../host/xs/guest';
import { ReplayCard, TapBench } from '../../host/sim/hw/tap-exchange';
import type { Interface } from '../../host/sim/hw/rig';
import { makeWallet, recordExchange, REQUEST } from '../drivers-wallet';

let replay: { bench: TapBench; card: ReplayCard } | undefined;

serve({
  tap: async (a: { via: Interface; alg: 'p256' | 'ed25519' }) => {
    const bench = new TapBench({ via: a.via });
    await bench.begin();
    return bench.tap(makeWallet(a.alg), { random: seededRandom('xs tap'), request: REQUEST });
  },
  /** Sets up a reader and a replay card, so that `replayTap` meters the reader stack alone. */
  prepare: async (a: { via: Interface; exchange?: { command: string; response: string }[] }) => {
    const bench = new TapBench({ via: a.via });
    await bench.begin();
    const exchange = a.exchange
      ? a.exchange.map((e) => ({ command: fromHex(e.command), response: fromHex(e.response) }))
      : recordExchange(makeWallet('p256'));
    replay = { bench, card: new ReplayCard(exchange) };
    return true;
  },
  replayTap: () => replay!.bench.tap(replay!.card, { random: () => new Uint8Array(16), request: REQUEST, verify: false }),
});
