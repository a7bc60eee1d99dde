// A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries, a cluster in a temp folder,
// a free loopback port, trust authentication, removed on stop(). PostgreSQL refuses to run as root, so
// when we are root the server runs as the `postgres` user.
import { TaplineError } from '../../firmware/base/errors';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class PgServerError extends TaplineError {
  override readonly name: string = 'PgServerError';
}

/** The bin folder of the newest installed PostgreSQL, or undefined. */
export function findPgBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0]!, 'bin') : undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export class PgServer {
  #started = false;
  #dir: string;
  #bin: string;
  #asPostgres: boolean;
  readonly port: number;

  private constructor(dir: string, bin: string, port: number, asPostgres: boolean) {
    this.#dir = dir;
    this.#bin = bin;
    this.port = port;
    this.#asPostgres = asPostgres;
  }

  /** Connection URL of the database `postgres` as the superuser. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** `sharedBuffers`: PostgreSQL's own page cache (a test's few rows need little; a bench's million more). */
  static async start(options: { sharedBuffers?: string } = {}): Promise<PgServer> {
    const bin = findPgBin();
    if (!bin) throw new PgServerError('PostgreSQL is not installed (apt-get install postgresql)');
    const asPostgres = process.getuid?.() === 0;
    const dir = mkdtempSync(join(tmpdir(), 'tapline-pg-'));
    chmodSync(dir, 0o777);
    const data = join(dir, 'data');
    const port = await freePort();
    const server = new PgServer(dir, bin, port, asPostgres);
    try {
      server.#run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
      const settings = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c max_connections=50 -c shared_buffers=${options.sharedBuffers ?? '32MB'}`;
      server.#run('pg_ctl', ['start', '-D', data, '-w', '-t', '30', '-l', join(dir, 'server.log'), '-o', settings]);
      server.#started = true;
    } catch (e) {
      await server.stop();
      throw e;
    }
    return server;
  }

  async stop(): Promise<void> {
    if (this.#started) {
      this.#started = false;
      try {
        this.#run('pg_ctl', ['stop', '-D', join(this.#dir, 'data'), '-m', 'fast', '-w', '-t', '30']);
      } catch (e) {
        throw new PgServerError(`pg_ctl stop failed: ${(e as Error).message}`);
      }
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #command(tool: string, args: string[]): [string, string[]] {
    const path = join(this.#bin, tool);
    return this.#asPostgres ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
  }

  #run(tool: string, args: string[]): void {
    const [cmd, full] = this.#command(tool, args);
    execFileSync(cmd, full, { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.#dir });
  }
}
