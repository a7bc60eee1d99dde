// Starts the settlement service from a key folder (host/cli/keystore.ts) and a database location.
import type { FastifyInstance } from 'fastify';
import { Keystore } from '../cli/keystore';
import { openDatabase, type Database } from './db';
import { buildServer, type ServerLimits } from './server';
import { Settlement } from './settlement';

export interface ServiceOptions {
  /** The key folder `tapline init` made. */
  keys: string;
  /** A SQLite file path, or a postgres:// URL. */
  database: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  logger?: boolean;
  /** Client limits (timeouts, connections); the defaults suit terminals on Wi-Fi. */
  limits?: Partial<ServerLimits>;
  clock?: () => number;
  /** Fault injection for crash tests: called inside each batch's transaction, before it commits. */
  beforeCommit?: () => Promise<void>;
  /** Told when keyring.json changed and was refused (the message also goes to stderr). */
  onKeyringRefused?: (message: string) => void;
}

export interface RunningService {
  url: string;
  settlement: Settlement;
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function startService(options: ServiceOptions): Promise<RunningService> {
  const keystore = new Keystore(options.keys);
  const root = keystore.root();
  // Re-read keyring.json when it changes (tapline add-issuer): terminals get the new keyring next upload.
  // A file changed without the root key is refused: the keyring in use stays.
  let keyring = keystore.keyring();
  let stamp = keystore.keyringStamp();
  const currentKeyring = () => {
    const now = keystore.keyringStamp();
    if (now !== stamp) {
      stamp = now;
      try {
        keyring = keystore.keyring();
      } catch (e) {
        options.onKeyringRefused?.((e as Error).message);
        process.stderr.write(`tapline: ${(e as Error).message}; keeping keyring version ${keyring.version}\n`);
      }
    }
    return keyring;
  };
  const adminToken = keystore.adminToken();
  const db: Database = await openDatabase(options.database);
  const settlement = new Settlement({ db, root, keyring: currentKeyring, clock: options.clock, beforeCommit: options.beforeCommit });
  const app = buildServer({ settlement, adminToken, logger: options.logger, limits: options.limits });
  try {
    await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  } catch (e) {
    await settlement.close();
    await db.close();
    throw e;
  }
  const address = app.server.address() as { address: string; port: number };
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    settlement,
    app,
    async close() {
      await app.close();
      await settlement.close();
      await db.close();
    },
  };
}
