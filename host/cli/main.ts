// `tapline`: the provisioning CLI. Creates the root and issuer keys, issues wallets, provisions terminals,
// signs updates, and runs the settlement service. Secrets go to files created 0600; nothing secret is
// ever printed. Exit codes: 0 done, 1 refused (a clear message on stderr), 2 bad usage.
import { TaplineError } from '../../firmware/base/errors';
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { fromHex, toHex } from '../../firmware/base/bytes';
import { formatProvisioning, parseProvisioning, ProvisioningError, type Provisioning } from '../../firmware/core/provisioning';
import { DEFAULT_RISK_CONFIG, parseRiskConfig, RiskConfigError, type RiskConfig } from '../../firmware/core/risk/config';
import { encodeUpdate, UPDATE_CONFIG, UPDATE_DENY_LIST, UPDATE_KEYRING, UpdateError, type Update } from '../../firmware/core/uplink/updates';
import { publicKeyOf } from '../../firmware/core/uplink/sign';
import { ALG_P256 } from '../../firmware/core/crypto/verify';
import { TlvError } from '../../firmware/core/protocol/tlv';
import { generateKeyPair, issueWallet } from '../wallet/issuer';
import { algFromName, algToName, Keystore, KeystoreError, nodeRandom, writePublicFile, writeSecretFile, keyJson } from './keystore';
import { formatWalletFile, walletFileOf } from './wallet-file';
import { BENCH_COMMANDS } from './bench';

export class UsageError extends TaplineError {
  override readonly name: string = 'UsageError';
}

export interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>, out: (line: string) => void): Promise<void>;
}

const DAY = 86400;
const keysOption = { keys: { type: 'string', default: 'tapline-keys' } } as const;

const COMMANDS: Record<string, Command> = {
  init: {
    summary: 'create the provisioning root key, an issuer key and the operator token',
    usage: `tapline init [--keys DIR] [--root-alg p256|ed25519] [--issuer-alg p256|ed25519] [--issuer-id N] [--valid-days N] [--force]

Creates DIR (default ./tapline-keys, mode 0700) with root.key, issuer-N.key and admin.token (all 0600)
and keyring.json (the issuer public keys terminals cache). Refuses to replace existing keys without --force.`,
    options: {
      ...keysOption,
      'root-alg': { type: 'string', default: 'p256' },
      'issuer-alg': { type: 'string', default: 'p256' },
      'issuer-id': { type: 'string', default: '1' },
      'valid-days': { type: 'string', default: '1825' },
      force: { type: 'boolean', default: false },
    },
    async run(v, out) {
      const store = new Keystore(str(v.keys));
      const now = unixNow();
      store.init({
        rootAlg: algFromName(str(v['root-alg'])),
        issuerAlg: algFromName(str(v['issuer-alg'])),
        issuerId: int(v['issuer-id'], 'issuer-id', 0, 0xffffffff),
        notBefore: now - DAY,
        notAfter: now + int(v['valid-days'], 'valid-days', 1, 36500) * DAY,
        force: v.force === true,
      });
      const root = store.root();
      out(`created keys in ${store.dir}`);
      out(`root public key (${algToName(root.alg)}): ${toHex(root.publicKey)}`);
      out(`issuer key ${v['issuer-id']}: see ${store.dir}/keyring.json`);
    },
  },

  'add-issuer': {
    summary: 'add (rotate in) an issuer key; the keyring version goes up',
    usage: `tapline add-issuer --id N [--keys DIR] [--alg p256|ed25519] [--valid-days N]`,
    options: { ...keysOption, id: { type: 'string' }, alg: { type: 'string', default: 'p256' }, 'valid-days': { type: 'string', default: '1825' } },
    async run(v, out) {
      const store = new Keystore(str(v.keys));
      const now = unixNow();
      const key = store.addIssuer({
        alg: algFromName(str(v.alg)),
        keyId: int(required(v.id, 'id'), 'id', 0, 0xffffffff),
        notBefore: now - DAY,
        notAfter: now + int(v['valid-days'], 'valid-days', 1, 36500) * DAY,
      });
      out(`added issuer key ${key.keyId}; keyring version ${store.keyring().version}`);
    },
  },

  'revoke-issuer': {
    summary: 'mark an issuer key revoked in the keyring (terminals get it on their next upload)',
    usage: `tapline revoke-issuer --id N [--keys DIR]

Receipts under a revoked key no longer verify at the service either: revoke only a compromised key.`,
    options: { ...keysOption, id: { type: 'string' } },
    async run(v, out) {
      const store = new Keystore(str(v.keys));
      store.revokeIssuer(int(required(v.id, 'id'), 'id', 0, 0xffffffff));
      out(`revoked issuer key ${v.id}; keyring version ${store.keyring().version}`);
    },
  },

  'issue-wallet': {
    summary: 'issue a wallet (IC card or phone) into a file the wallet emulator loads',
    usage: `tapline issue-wallet --out FILE [--keys DIR] [--profile card|phone] [--class 1..4] [--balance N]
                     [--pin DIGITS] [--alg p256|ed25519] [--issuer-id N] [--single-limit N] [--daily-limit N]
                     [--valid-days N] [--service URL]

Writes FILE (0600: it holds the wallet's private key). Amounts are in minor units. --service URL also
tells the settlement service the wallet's balance (spending beyond it is flagged as an overspend).`,
    options: {
      ...keysOption,
      out: { type: 'string' },
      profile: { type: 'string', default: 'card' },
      class: { type: 'string', default: '4' },
      balance: { type: 'string', default: '10000' },
      pin: { type: 'string' },
      alg: { type: 'string', default: 'p256' },
      'issuer-id': { type: 'string' },
      'single-limit': { type: 'string' },
      'daily-limit': { type: 'string' },
      'valid-days': { type: 'string', default: '1095' },
      service: { type: 'string' },
    },
    async run(v, out) {
      const store = new Keystore(str(v.keys));
      const outPath = required(v.out, 'out');
      const profile = str(v.profile);
      if (profile !== 'card' && profile !== 'phone') throw new UsageError('--profile must be card or phone');
      const walletClass = int(v.class, 'class', 0, 255);
      const limits = DEFAULT_RISK_CONFIG.walletClasses[walletClass];
      const pin = v.pin === undefined ? undefined : str(v.pin);
      if (pin !== undefined && !/^[0-9]{4,12}$/.test(pin)) throw new UsageError('--pin must be 4 to 12 digits');
      if (profile === 'phone' && pin !== undefined) throw new UsageError('a phone wallet verifies its holder itself: no --pin');
      const issuer = store.issuer(v['issuer-id'] === undefined ? undefined : int(v['issuer-id'], 'issuer-id', 0, 0xffffffff));
      const now = unixNow();
      const balance = int(v.balance, 'balance', 0, 2 ** 48 - 1);
      const wallet = issueWallet(issuer, nodeRandom, {
        alg: algFromName(str(v.alg)),
        walletClass,
        singleLimit: v['single-limit'] !== undefined ? int(v['single-limit'], 'single-limit', 0, 2 ** 48 - 1) : (limits?.single ?? 2 ** 48 - 1),
        dailyLimit: v['daily-limit'] !== undefined ? int(v['daily-limit'], 'daily-limit', 0, 2 ** 48 - 1) : (limits?.daily ?? 2 ** 48 - 1),
        notBefore: Math.max(now - DAY, issuer.key.notBefore),
        notAfter: Math.min(now + int(v['valid-days'], 'valid-days', 1, 36500) * DAY, issuer.key.notAfter),
      });
      const file = walletFileOf({ profile, certificate: wallet.certificate, secretKey: wallet.keys.secretKey, balance, pin });
      writeSecretFile(outPath, formatWalletFile(file));
      if (v.service !== undefined) {
        await postJson(str(v.service), '/v1/wallets', store.adminToken(), { walletId: file.walletId, balance, issuerKeyId: issuer.key.keyId });
      }
      out(`issued wallet ${file.walletId} (${profile}, class ${walletClass}, balance ${balance}) to ${outPath}`);
    },
  },

  'provision-terminal': {
    summary: 'provision a terminal: device key, merchant, mode, caps, issuer keys, root key, service URL, Wi-Fi',
    usage: `tapline provision-terminal --out FILE --terminal-id ID --merchant-id ID --service URL [--keys DIR]
                     [--mode merchant|transit] [--fare N] [--risk FILE.json] [--currency N] [--max-transaction N]
                     [--wifi-ssid SSID --wifi-password PASS] [--register]

Writes the provisioning file (0600: it holds the terminal's device private key and the Wi-Fi password)
that the simulator loads and the device build writes to flash. --risk takes a whole risk configuration
(firmware/core/risk/config.ts); --currency and --max-transaction adjust the default one. --register also
registers the terminal (device public key, merchant, cap) with the settlement service at --service.`,
    options: {
      ...keysOption,
      out: { type: 'string' },
      'terminal-id': { type: 'string' },
      'merchant-id': { type: 'string' },
      service: { type: 'string' },
      mode: { type: 'string', default: 'merchant' },
      fare: { type: 'string' },
      risk: { type: 'string' },
      currency: { type: 'string' },
      'max-transaction': { type: 'string' },
      'wifi-ssid': { type: 'string' },
      'wifi-password': { type: 'string', default: '' },
      register: { type: 'boolean', default: false },
    },
    async run(v, out) {
      const store = new Keystore(str(v.keys));
      const outPath = required(v.out, 'out');
      let risk: RiskConfig = structuredClone(DEFAULT_RISK_CONFIG);
      if (v.risk !== undefined) risk = parseRiskConfig(JSON.parse(readFileSync(str(v.risk), 'utf8')));
      if (v.currency !== undefined) risk.currency = int(v.currency, 'currency', 1, 999);
      if (v['max-transaction'] !== undefined) risk.maxTransaction = int(v['max-transaction'], 'max-transaction', 0, 2 ** 48 - 1);
      const mode = str(v.mode);
      // The device key is P-256: the service verifies batches with it.
      const deviceSecret = generateKeyPair(ALG_P256, nodeRandom).secretKey;
      const root = store.root();
      const provisioning: Provisioning = {
        version: 1,
        terminalId: required(v['terminal-id'], 'terminal-id'),
        devicePrivateKey: toHex(deviceSecret),
        devicePublicKey: toHex(publicKeyOf(ALG_P256, deviceSecret)),
        merchantId: required(v['merchant-id'], 'merchant-id'),
        mode: mode as Provisioning['mode'],
        risk,
        issuerKeys: store.keyring().keys.map(keyJson),
        rootPublicKey: { alg: algToName(root.alg), publicKey: toHex(root.publicKey) },
        settlementUrl: required(v.service, 'service'),
      };
      if (v.fare !== undefined) provisioning.fare = int(v.fare, 'fare', 1, 2 ** 40);
      if (v['wifi-ssid'] !== undefined) provisioning.wifi = { ssid: str(v['wifi-ssid']), password: str(v['wifi-password']) };
      const text = formatProvisioning(provisioning);
      writeSecretFile(outPath, text);
      if (v.register === true) {
        await postJson(provisioning.settlementUrl, '/v1/terminals', store.adminToken(), {
          terminalId: provisioning.terminalId,
          publicKey: provisioning.devicePublicKey,
          merchantId: provisioning.merchantId,
          maxTransaction: risk.maxTransaction,
        });
        out(`registered terminal ${provisioning.terminalId} with ${provisioning.settlementUrl}`);
      }
      out(`provisioned terminal ${provisioning.terminalId} (${mode}, merchant ${provisioning.merchantId}) to ${outPath}`);
      out(`device public key: ${provisioning.devicePublicKey}`);
    },
  },

  'register-terminal': {
    summary: 'register a provisioned terminal with the settlement service',
    usage: `tapline register-terminal --file FILE [--keys DIR] [--service URL]

Sends the terminal's id, device public key, merchant and per-payment cap from its provisioning file
(never its private key) to the service (default: the file's settlementUrl).`,
    options: { ...keysOption, file: { type: 'string' }, service: { type: 'string' } },
    async run(v, out) {
      const store = new Keystore(str(v.keys));
      const p = parseProvisioning(readFileSync(required(v.file, 'file'), 'utf8'));
      const service = v.service === undefined ? p.settlementUrl : str(v.service);
      await postJson(service, '/v1/terminals', store.adminToken(), {
        terminalId: p.terminalId,
        publicKey: p.devicePublicKey,
        merchantId: p.merchantId,
        maxTransaction: p.risk.maxTransaction,
      });
      out(`registered terminal ${p.terminalId} with ${service}`);
    },
  },

  'report-lost': {
    summary: 'report a wallet lost: the service deny-lists it and terminals refuse it after their next upload',
    usage: `tapline report-lost --wallet ID --service URL [--keys DIR] [--at UNIX_SECONDS]`,
    options: { ...keysOption, wallet: { type: 'string' }, service: { type: 'string' }, at: { type: 'string' } },
    async run(v, out) {
      const store = new Keystore(str(v.keys));
      const wallet = required(v.wallet, 'wallet');
      if (!/^[0-9a-f]{16}$/.test(wallet)) throw new UsageError('--wallet must be 16 lowercase hex digits');
      const body = v.at === undefined ? {} : { at: int(v.at, 'at', 0, 2 ** 40) };
      await postJson(required(v.service, 'service'), `/v1/wallets/${wallet}/lost`, store.adminToken(), body);
      out(`wallet ${wallet} reported lost`);
    },
  },

  'sign-update': {
    summary: 'sign a deny-list, keyring or configuration update with the root key',
    usage: `tapline sign-update --kind deny|keyring|config --out FILE [--keys DIR] [--version N]
                    deny:    --from N [--add WALLET,...] [--remove WALLET,...]   (version defaults to from + 1)
                    keyring: the keyring of DIR at its version (--version overrides)
                    config:  --version N --settings FILE.json --terminal ID (signed for that terminal only)

Writes the signed update's bytes to FILE (public: no secret in it). A configuration update can be
handed to the service (POST /v1/updates) which delivers it to terminals on their next upload.`,
    options: {
      ...keysOption,
      kind: { type: 'string' },
      out: { type: 'string' },
      version: { type: 'string' },
      from: { type: 'string' },
      add: { type: 'string', default: '' },
      remove: { type: 'string', default: '' },
      settings: { type: 'string' },
      terminal: { type: 'string' },
    },
    async run(v, out) {
      const store = new Keystore(str(v.keys));
      const outPath = required(v.out, 'out');
      const kind = required(v.kind, 'kind');
      let update: Update;
      if (kind === 'deny') {
        const from = int(required(v.from, 'from'), 'from', 0, 0xfffffffe);
        const version = v.version === undefined ? from + 1 : int(v.version, 'version', from + 1, 0xffffffff);
        update = { kind: UPDATE_DENY_LIST, fromVersion: from, version, add: walletIds(str(v.add)), remove: walletIds(str(v.remove)) };
      } else if (kind === 'keyring') {
        const keyring = store.keyring();
        update = { kind: UPDATE_KEYRING, version: v.version === undefined ? keyring.version : int(v.version, 'version', 0, 0xffffffff), keys: keyring.keys };
      } else if (kind === 'config') {
        const settings = JSON.parse(readFileSync(required(v.settings, 'settings'), 'utf8')) as unknown;
        if (!settings || typeof settings !== 'object' || Array.isArray(settings)) throw new UsageError('--settings must hold a JSON object');
        update = {
          kind: UPDATE_CONFIG,
          version: int(required(v.version, 'version'), 'version', 1, 0xffffffff),
          terminalId: required(v.terminal, 'terminal'),
          settings: settings as Record<string, unknown>,
        };
      } else {
        throw new UsageError('--kind must be deny, keyring or config');
      }
      const root = store.root();
      const bytes = encodeUpdate(update, root.alg, root.secretKey);
      writePublicFile(outPath, bytes);
      out(`signed ${kind} update version ${update.version} (${bytes.length} bytes) to ${outPath}`);
    },
  },

  serve: {
    summary: 'run the settlement service',
    usage: `tapline serve [--keys DIR] [--db FILE | --db postgres://...] [--host H] [--port N] [--log]

Stores in a SQLite file by default (tapline.db), or in PostgreSQL given a postgres:// URL.`,
    options: {
      ...keysOption,
      db: { type: 'string', default: 'tapline.db' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      log: { type: 'boolean', default: false },
    },
    async run(v, out) {
      const { startService } = await import('../settlement/service');
      const pause = Number(process.env.TAPLINE_PAUSE_BEFORE_COMMIT_MS ?? 0);
      const service = await startService({
        keys: str(v.keys),
        database: str(v.db),
        host: str(v.host),
        port: int(v.port, 'port', 0, 65535),
        logger: v.log === true,
        // Crash tests only: hold each batch's transaction open so the process can be killed inside it.
        beforeCommit:
          pause > 0
            ? async () => {
                out('batch transaction open: pausing before commit');
                await new Promise((r) => setTimeout(r, pause));
              }
            : undefined,
      });
      out(`listening on ${service.url} (${service.settlement.db.kind})`);
      const stop = () => void service.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
  },

  ...BENCH_COMMANDS,
};

function walletIds(list: string): Uint8Array[] {
  if (list === '') return [];
  return list.split(',').map((id) => {
    if (!/^[0-9a-f]{16}$/.test(id)) throw new UsageError(`wallet id "${id}" must be 16 lowercase hex digits`);
    return fromHex(id);
  });
}

async function postJson(base: string, path: string, token: string, body: unknown): Promise<void> {
  const response = await fetch(base.replace(/\/+$/, '') + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  if (response.status >= 300) {
    const text = await response.text();
    throw new KeystoreError(`${path}: the service answered ${response.status} ${text.slice(0, 300)}`);
  }
}

function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

function str(value: string | boolean | undefined): string {
  return typeof value === 'string' ? value : '';
}

function required(value: string | boolean | undefined, name: string): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

function int(value: string | boolean | undefined, name: string, min: number, max: number): number {
  const text = str(value);
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`--${name} must be a whole number`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be in ${min}..${max}`);
  return n;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'tapline: provisioning and settlement for the tapline offline payment terminal',
    '',
    'usage: tapline COMMAND [options]     (tapline COMMAND --help for its options)',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

/** Runs the CLI; resolves with the exit code. Output goes through `out` and `err` (tests capture them). */
export async function main(argv: string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    out(help());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    err(`unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out(`${command.summary}\n\nusage: ${command.usage}`);
    return 0;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: rest, options: command.options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    err(`${(e as Error).message}\n\nusage: ${command.usage}`);
    return 2;
  }
  try {
    await command.run(values, out);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`${e.message}\n\nusage: ${command.usage}`);
      return 2;
    }
    if (
      e instanceof KeystoreError ||
      e instanceof ProvisioningError ||
      e instanceof RiskConfigError ||
      e instanceof UpdateError ||
      e instanceof TlvError ||
      e instanceof SyntaxError ||
      (e as NodeJS.ErrnoException).code !== undefined
    ) {
      err(`tapline ${name}: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
}

const entry = process.argv[1] ?? '';
if (/host[\\/]cli[\\/]main\.ts$/.test(entry)) {
  const code = await main(process.argv.slice(2));
  if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
}
