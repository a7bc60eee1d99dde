// `tapline`: the provisioning CLI. Creates the root and issuer keys, issues wallets, provisions terminals,
// signs updates, and runs the settlement service. Secrets go to files created 0600; nothing secret is
// ever printed. Exit codes: 0 done, 1 refused or failed, 2 bad usage; either way one line on stderr that
// says what to do, never a stack trace. A command that fails writes nothing: output files are written
// last, after every check and every call to the service succeeded.
import { TaplineError } from '../../firmware/base/errors';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { fromHex, toHex } from '../../firmware/base/bytes';
import { formatProvisioning, parseProvisioning, ProvisioningError, type Provisioning } from '../../firmware/core/provisioning';
import { DEFAULT_RISK_CONFIG, parseRiskConfig, RiskConfigError, type RiskConfig } from '../../firmware/core/risk/config';
import { encodeUpdate, UPDATE_CONFIG, UPDATE_DENY_LIST, UPDATE_FARE_RULES, UPDATE_KEYRING, UpdateError, type Update } from '../../firmware/core/uplink/updates';
import { FareRulesError, parseFareRules } from '../../firmware/core/fares/rules';
import { publicKeyOf } from '../../firmware/core/uplink/sign';
import { ALG_P256 } from '../../firmware/core/crypto/verify';
import { TlvError } from '../../firmware/core/protocol/tlv';
import { generateKeyPair, issueWallet } from '../wallet/issuer';
import { algFromName, algToName, Keystore, KeystoreError, nodeRandom, writePublicFile, writeSecretFile, keyJson } from './keystore';
import { signTerminalCertificate } from '../wallet/refunds';
import { hashMerchantPin } from '../../firmware/core/refund/flow';
import { formatWalletFile, parseWalletFile, walletFileOf, WalletFileError, type WalletFile } from './wallet-file';
import { signGrant } from '../wallet/purses';
import { decodeGrant, MAX_PURSE } from '../../firmware/core/protocol/purpose';
import { decodeCertificate } from '../../firmware/core/protocol/messages';
import { BENCH_COMMANDS } from './bench';
import { WalletEmulator } from '../wallet/emulator';
import type { SyncResult } from '../settlement/intents';

export class UsageError extends TaplineError {
  override readonly name: string = 'UsageError';
}

/** The command could not be done (exit code 1): the message says why and what to do. */
export class CommandError extends TaplineError {
  override readonly name: string = 'CommandError';
}

export interface CliCommand {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>, out: (line: string) => void): Promise<void>;
}

const DAY = 86400;
const keysOption = { keys: { type: 'string', default: 'tapline-keys' } } as const;

const COMMANDS: Record<string, CliCommand> = {
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
tells the settlement service the wallet's balance (spending beyond it is flagged as an overspend); if the
service cannot be reached nothing is written. \`tapline register --wallet FILE\` registers a wallet later.`,
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
      const outPath = freshOutput(required(v.out, 'out'), 'out');
      const service = v.service === undefined ? undefined : serviceUrl(v.service, 'service');
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
      // The wallet trusts the root key's terminal certificates (offline refunds).
      const root = store.root();
      const file = walletFileOf({ profile, certificate: wallet.certificate, secretKey: wallet.keys.secretKey, balance, pin }, { alg: algToName(root.alg), publicKey: toHex(root.publicKey) });
      if (service !== undefined) {
        await postJson(service, '/v1/wallets', store.adminToken(), { walletId: file.walletId, balance, issuerKeyId: issuer.key.keyId }, `${outPath} was not written`);
        out(`registered wallet ${file.walletId} (balance ${balance}) with ${service}`);
      }
      writeSecretFile(outPath, formatWalletFile(file));
      out(`issued wallet ${file.walletId} (${profile}, class ${walletClass}, balance ${balance}) to ${outPath}`);
    },
  },

  'grant-purse': {
    summary: 'grant a wallet a purpose-bound balance (e.g. a food subsidy): an issuer-signed grant in its file',
    usage: `tapline grant-purse --wallet FILE --program ID --categories MCC[,MCC...] --balance N [--keys DIR]
                   [--regions N[,N...]] [--valid-days N] [--pay-with]

Adds the next free purse (1..15) to the wallet file: money for program ID that may be spent only at the
ISO 18245 merchant categories given (and, with --regions, only there; with --valid-days, only until then),
signed by the issuer key. --pay-with makes it the balance the holder pays with. Amounts in minor units.`,
    options: {
      ...keysOption,
      wallet: { type: 'string' },
      program: { type: 'string' },
      categories: { type: 'string' },
      regions: { type: 'string' },
      balance: { type: 'string' },
      'valid-days': { type: 'string' },
      'pay-with': { type: 'boolean', default: false },
    },
    async run(v, out) {
      const store = new Keystore(str(v.keys));
      const path = required(v.wallet, 'wallet');
      const text = readInput(path, 'wallet');
      const wallet = parseWalletFile(text);
      const file = JSON.parse(text) as WalletFile;
      const list = (value: string | boolean | undefined, name: string) => required(value, name).split(',').map((c) => int(c, name, 0, name === 'categories' ? 9999 : 0xffff));
      const taken = new Set((wallet.purses ?? []).map((p) => decodeGrant(p.grant).purse));
      const purse = [...Array(MAX_PURSE).keys()].map((i) => i + 1).find((n) => !taken.has(n));
      if (purse === undefined) throw new CommandError(`${path} holds ${MAX_PURSE} purses already`);
      const program = required(v.program, 'program');
      if (!/^[\x21-\x7e]{1,16}$/.test(program)) throw new UsageError('--program must be 1 to 16 printable ASCII characters');
      const balance = int(v.balance, 'balance', 0, 2 ** 48 - 1);
      const grant = signGrant(store.issuer(decodeCertificate(wallet.certificate).issuerKeyId), {
        walletId: wallet.walletId,
        purse,
        program,
        categories: list(v.categories, 'categories'),
        ...(v.regions !== undefined ? { regions: list(v.regions, 'regions') } : {}),
        ...(v['valid-days'] !== undefined ? { notAfter: unixNow() + int(v['valid-days'], 'valid-days', 1, 36500) * DAY } : {}),
      });
      const next: WalletFile = { ...file, purses: [...(file.purses ?? []), { grant: toHex(grant), balance }] };
      if (v['pay-with'] === true) next.payWith = purse;
      writeSecretFile(path, formatWalletFile(next), true);
      out(`granted purse ${purse} (${program}, ${balance}) to wallet ${wallet.walletId} in ${path}${v['pay-with'] === true ? '; the holder pays with it' : ''}`);
    },
  },

  'provision-terminal': {
    summary: 'provision a terminal: device key, merchant, mode, caps, issuer keys, root key, service URL, Wi-Fi',
    usage: `tapline provision-terminal --out FILE --terminal-id ID --merchant-id ID --service URL [--keys DIR]
                     [--mode merchant|transit] [--fare N] [--risk FILE.json] [--currency N] [--max-transaction N]
                     [--wifi-ssid SSID --wifi-password PASS] [--category MCC --region N] [--refund-pin PIN] [--utc-offset MINUTES] [--register]

Writes the provisioning file (0600: it holds the terminal's device private key and the Wi-Fi password)
that the simulator loads and the device build writes to flash. --risk takes a whole risk configuration
(firmware/core/risk/config.ts); --currency and --max-transaction adjust the default one. --register also
registers the terminal (device public key, merchant, cap) with the settlement service at --service; if
that fails nothing is written. \`tapline register --terminal FILE\` registers a provisioned file later.
A device needs --wifi-ssid to upload, and a --service address it can reach (not 127.0.0.1).
--category (ISO 18245 merchant category, e.g. 5411 grocery) and --region (0..65535) say where the
merchant is: a wallet's purpose-bound balance pays only where its grant allows (docs/PROTOCOL.md).
--refund-pin (merchant mode, 4..12 digits) sets up offline refunds: the terminal's certificate signed
with the root key, and the merchant PIN kept as a salted SHA-256 (key C on the terminal).
--utc-offset (minutes east of UTC, -720..840, e.g. 480 for China) is where the merchant's day starts
for the day totals (key D on the terminal); default 0, UTC days. West of UTC: --utc-offset=-300.`,
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
      category: { type: 'string' },
      region: { type: 'string' },
      'refund-pin': { type: 'string' },
      'utc-offset': { type: 'string' },
      register: { type: 'boolean', default: false },
    },
    async run(v, out) {
      const store = new Keystore(str(v.keys));
      const outPath = freshOutput(required(v.out, 'out'), 'out');
      const service = serviceUrl(v.service, 'service');
      let risk: RiskConfig = structuredClone(DEFAULT_RISK_CONFIG);
      if (v.risk !== undefined) risk = parseRiskConfig(readJsonFile(str(v.risk), 'risk'));
      if (v.currency !== undefined) risk.currency = int(v.currency, 'currency', 1, 999);
      if (v['max-transaction'] !== undefined) risk.maxTransaction = int(v['max-transaction'], 'max-transaction', 0, 2 ** 48 - 1);
      const mode = str(v.mode);
      if (mode !== 'merchant' && mode !== 'transit') throw new UsageError('--mode must be merchant or transit');
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
        settlementUrl: service,
      };
      if (v.fare !== undefined) provisioning.fare = int(v.fare, 'fare', 1, 2 ** 40);
      if (v['wifi-ssid'] !== undefined) provisioning.wifi = { ssid: str(v['wifi-ssid']), password: str(v['wifi-password']) };
      if ((v.category === undefined) !== (v.region === undefined)) throw new UsageError('--category and --region come together');
      if (v.category !== undefined) provisioning.place = { category: int(v.category, 'category', 0, 9999), region: int(v.region, 'region', 0, 0xffff) };
      if (v['utc-offset'] !== undefined) {
        // west of UTC is negative, which int() does not take
        const text = str(v['utc-offset']);
        const minutes = Number(text);
        if (!/^-?[0-9]{1,3}$/.test(text) || minutes < -720 || minutes > 840) throw new UsageError('--utc-offset is minutes east of UTC, -720..840');
        provisioning.utcOffsetMinutes = minutes;
      }
      if (v['refund-pin'] !== undefined) {
        const pin = str(v['refund-pin']);
        if (mode !== 'merchant' || !/^[0-9]{4,12}$/.test(pin)) throw new UsageError('--refund-pin is 4 to 12 digits, in merchant mode');
        const salt = nodeRandom(16);
        const certificate = signTerminalCertificate(root, { terminalId: provisioning.terminalId, merchantId: provisioning.merchantId, publicKey: publicKeyOf(ALG_P256, deviceSecret), notAfter: Math.floor(Date.now() / 1000) + 5 * 365 * 86400 });
        provisioning.refunds = { certificate: toHex(certificate), pinSalt: toHex(salt), pinHash: toHex(hashMerchantPin(salt, pin)) };
      }
      const text = formatProvisioning(provisioning);
      if (v.register === true) await registerTerminal(store, provisioning, service, out, `${outPath} was not written`);
      writeSecretFile(outPath, text);
      out(`provisioned terminal ${provisioning.terminalId} (${mode}, merchant ${provisioning.merchantId}) to ${outPath}`);
      out(`device public key: ${provisioning.devicePublicKey}`);
      for (const note of deviceNotes(provisioning, v.register === true)) out(`note: ${note}`);
    },
  },

  register: {
    summary: 'register a wallet or a provisioned terminal with the settlement service (or retry it)',
    usage: `tapline register --wallet FILE --service URL [--balance N] [--keys DIR]
       tapline register --terminal FILE [--service URL] [--keys DIR]

--wallet: tells the service the wallet's id, issuer key and the balance the issuer loaded (default: the
file's balance, while the wallet has not paid yet). --terminal: sends the terminal's id, device public
key, merchant and per-payment cap from its provisioning file (never its private key), to --service or
the file's settlementUrl. Registering again is safe: the service updates what it holds.`,
    options: { ...keysOption, wallet: { type: 'string' }, terminal: { type: 'string' }, service: { type: 'string' }, balance: { type: 'string' } },
    async run(v, out) {
      if ((v.wallet === undefined) === (v.terminal === undefined)) throw new UsageError('give one of --wallet FILE or --terminal FILE');
      const store = new Keystore(str(v.keys));
      if (v.terminal !== undefined) {
        if (v.balance !== undefined) throw new UsageError('--balance is for wallets');
        const path = str(v.terminal);
        const p = parseProvisioning(readInput(path, 'terminal'));
        await registerTerminal(store, p, v.service === undefined ? p.settlementUrl : serviceUrl(v.service, 'service'), out);
        return;
      }
      const path = str(v.wallet);
      let wallet;
      try {
        wallet = parseWalletFile(readInput(path, 'wallet'));
      } catch (e) {
        if (e instanceof WalletFileError) throw new CommandError(`${path} is not a wallet file: ${e.message}`);
        throw e;
      }
      const service = serviceUrl(v.service, 'service');
      if (v.balance === undefined && wallet.counter !== 0) {
        throw new UsageError(`the wallet in ${path} has paid ${wallet.counter} time(s): give --balance, what the issuer loaded`);
      }
      const balance = v.balance === undefined ? wallet.balance : int(v.balance, 'balance', 0, 2 ** 48 - 1);
      const issuerKeyId = decodeCertificate(wallet.certificate).issuerKeyId;
      await postJson(service, '/v1/wallets', store.adminToken(), { walletId: wallet.walletId, balance, issuerKeyId });
      out(`registered wallet ${wallet.walletId} (balance ${balance}) with ${service}`);
    },
  },

  'wallet-sync': {
    summary: "send a wallet's signed payments to the service: it settles the terminals' in-doubt payments they decide",
    usage: `tapline wallet-sync --wallet FILE --service URL

The wallet signs what it holds (its last signed PAY exchanges and its counter) over a fresh nonce from
the service. A payment a terminal kept in doubt (a power cut after PAY) that the wallet signed is
credited to that terminal once; one it never signed is released. Needs no operator token: the wallet's
own key and certificate authenticate it.`,
    options: { wallet: { type: 'string' }, service: { type: 'string' } },
    async run(v, out) {
      const path = str(required(v.wallet, 'wallet'));
      let wallet: WalletEmulator;
      try {
        wallet = new WalletEmulator(parseWalletFile(readInput(path, 'wallet')));
      } catch (e) {
        if (e instanceof WalletFileError) throw new CommandError(`${path} is not a wallet file: ${e.message}`);
        throw e;
      }
      const service = serviceUrl(v.service, 'service');
      const { nonce } = (await postJson(service, '/v1/wallet-sync/nonce', '', {})) as { nonce: string };
      const answer = (await postBytes(service, '/v1/wallet-sync', '', wallet.syncMessage(fromHex(nonce)))) as SyncResult;
      out(`wallet ${answer.walletId} synced with ${service}: counter ${answer.counter}, ${answer.stored} signed payment(s) new to the service`);
      for (const r of answer.recovered) out(`in-doubt payment ${r.terminalId}#${r.terminalSeq} of ${r.amount}: signed by the wallet, credited to the terminal`);
      for (const r of answer.released) out(`in-doubt payment ${r.terminalId}#${r.terminalSeq} of ${r.amount}: never signed by the wallet, released`);
    },
  },

  'report-lost': {
    summary: 'deny-list a wallet (lost, stolen): the service adds it and terminals refuse it after their next upload',
    usage: `tapline report-lost --wallet ID --service URL [--keys DIR] [--at UNIX_SECONDS]

The service keeps the deny list and sends each terminal what it lacks in the answer to its next upload.
Spending by the wallet after --at (default now) is booked as a loss, not a debt of the holder.`,
    options: { ...keysOption, wallet: { type: 'string' }, service: { type: 'string' }, at: { type: 'string' } },
    async run(v, out) {
      const store = new Keystore(str(v.keys));
      const wallet = required(v.wallet, 'wallet');
      if (!/^[0-9a-f]{16}$/.test(wallet)) throw new UsageError('--wallet must be 16 lowercase hex digits');
      const body = v.at === undefined ? {} : { at: int(v.at, 'at', 0, 2 ** 40) };
      const service = serviceUrl(v.service, 'service');
      const answer = (await postJson(service, `/v1/wallets/${wallet}/lost`, store.adminToken(), body)) as { denyListVersion?: number };
      out(`wallet ${wallet} reported lost: on the deny list, version ${answer.denyListVersion ?? '?'}; terminals get it on their next upload`);
    },
  },

  'sign-update': {
    summary: 'sign a deny-list, keyring, configuration or fare-rules update with the root key',
    usage: `tapline sign-update --kind deny|keyring|config|fares --out FILE [--keys DIR] [--version N]
                    deny:    --from N [--add WALLET,...] [--remove WALLET,...]   (version defaults to from + 1)
                    keyring: the keyring of DIR at its version (--version overrides)
                    config:  --version N --settings FILE.json --terminal ID (signed for that terminal only) [--service URL]
                    fares:   --version N --rules FILE.json (an operator's fare rules, signed for its operatorId) [--service URL]

Writes the signed update's bytes to FILE (public: no secret in it). With --service a configuration
update is also handed to the service, which delivers it to that terminal on its next upload; fare rules
are handed to the service too, which prices that operator's transit taps by them at settlement. The service signs deny-list and keyring updates itself: deny-list a wallet with
\`tapline report-lost\`, rotate keys with \`tapline add-issuer\`; a deny or keyring file is for tests
and for loading a terminal by hand.`,
    options: {
      ...keysOption,
      kind: { type: 'string' },
      out: { type: 'string' },
      version: { type: 'string' },
      from: { type: 'string' },
      add: { type: 'string', default: '' },
      remove: { type: 'string', default: '' },
      settings: { type: 'string' },
      rules: { type: 'string' },
      service: { type: 'string' },
      terminal: { type: 'string' },
    },
    async run(v, out) {
      const store = new Keystore(str(v.keys));
      const outPath = required(v.out, 'out');
      const kind = required(v.kind, 'kind');
      const service = v.service === undefined ? undefined : serviceUrl(v.service, 'service');
      if (service !== undefined && kind !== 'config' && kind !== 'fares') {
        throw new UsageError(
          kind === 'deny'
            ? 'the service keeps the deny list itself: deny-list a wallet with tapline report-lost --wallet ID --service URL'
            : 'the service sends its keyring itself: add or revoke issuer keys in --keys and it follows',
        );
      }
      let update: Update;
      if (kind === 'deny') {
        const from = int(required(v.from, 'from'), 'from', 0, 0xfffffffe);
        const version = v.version === undefined ? from + 1 : int(v.version, 'version', from + 1, 0xffffffff);
        update = { kind: UPDATE_DENY_LIST, fromVersion: from, version, add: walletIds(str(v.add)), remove: walletIds(str(v.remove)) };
      } else if (kind === 'keyring') {
        const keyring = store.keyring();
        update = { kind: UPDATE_KEYRING, version: v.version === undefined ? keyring.version : int(v.version, 'version', 0, 0xffffffff), keys: keyring.keys };
      } else if (kind === 'config') {
        const settings = readJsonFile(required(v.settings, 'settings'), 'settings');
        if (!settings || typeof settings !== 'object' || Array.isArray(settings)) throw new UsageError('--settings must hold a JSON object');
        update = {
          kind: UPDATE_CONFIG,
          version: int(required(v.version, 'version'), 'version', 1, 0xffffffff),
          terminalId: required(v.terminal, 'terminal'),
          settings: settings as Record<string, unknown>,
        };
      } else if (kind === 'fares') {
        const rules = readJsonFile(required(v.rules, 'rules'), 'rules');
        let operatorId: string;
        try {
          operatorId = parseFareRules(rules).operatorId;
        } catch (e) {
          if (e instanceof FareRulesError) throw new UsageError(`--rules: ${e.message}`);
          throw e;
        }
        update = { kind: UPDATE_FARE_RULES, version: int(required(v.version, 'version'), 'version', 1, 0xffffffff), operatorId, rules: rules as Record<string, unknown> };
      } else {
        throw new UsageError('--kind must be deny, keyring, config or fares');
      }
      const root = store.root();
      const bytes = encodeUpdate(update, root.alg, root.secretKey);
      if (service !== undefined) {
        const query = v.terminal === undefined ? '' : `?terminal=${encodeURIComponent(str(v.terminal))}`;
        await postBytes(service, `/v1/updates${query}`, store.adminToken(), bytes, `${outPath} was not written`);
        if (update.kind === UPDATE_FARE_RULES) out(`the service at ${service} prices the transit taps of operator ${update.operatorId} by these rules`);
        else out(`the service at ${service} delivers it to ${v.terminal === undefined ? 'every terminal' : `terminal ${v.terminal}`} on its next upload`);
      }
      writePublicFile(outPath, bytes);
      out(`signed ${kind} update version ${update.version} (${bytes.length} bytes) to ${outPath}`);
    },
  },

  serve: {
    summary: 'run the settlement service',
    usage: `tapline serve [--keys DIR] [--db FILE | --db postgres://...] [--host H] [--port N] [--log]

Stores in a SQLite file by default (tapline.db), or in PostgreSQL given a postgres:// URL.
Listens on 127.0.0.1:8080 unless --host says otherwise: only this machine can reach it (the simulator
does). For devices on the network use --host 0.0.0.0 (or this machine's LAN address) and provision
them with --service http://LAN-ADDRESS:8080.

The back office is at /office (http://127.0.0.1:8080/office by default): terminals, receipts, findings,
the deny list, merchant accounts. It asks for the operator token, which \`tapline init\` wrote to
admin.token in the --keys folder (tapline-keys/admin.token by default); the operator API takes the same token
as Authorization: Bearer.`,
    options: {
      ...keysOption,
      db: { type: 'string', default: 'tapline.db' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8080' },
      log: { type: 'boolean', default: false },
    },
    async run(v, out) {
      const database = str(v.db);
      const host = str(v.host);
      const port = int(v.port, 'port', 0, 65535);
      const postgres = /^postgres(ql)?:\/\//.test(database);
      if (!postgres && database !== ':memory:' && !existsSync(dirname(resolve(database)))) {
        throw new CommandError(`cannot create the database ${database}: the folder ${dirname(database)} does not exist (create it or pick another --db)`);
      }
      new Keystore(str(v.keys)).root(); // no keys: say so before anything else
      const { startService } = await import('../settlement/service');
      const pause = Number(process.env.TAPLINE_PAUSE_BEFORE_COMMIT_MS ?? 0);
      const service = await startService({
        keys: str(v.keys),
        database,
        host,
        port,
        logger: v.log === true,
        // Crash tests only: hold each batch's transaction open so the process can be killed inside it.
        beforeCommit:
          pause > 0
            ? async () => {
                out('batch transaction open: pausing before commit');
                await new Promise((r) => setTimeout(r, pause));
              }
            : undefined,
      }).catch((e: NodeJS.ErrnoException) => {
        if (e.syscall === 'listen' && e.code === 'EADDRINUSE') throw new CommandError(`port ${port} on ${host} is in use: stop what holds it or pick another --port`);
        if (e.syscall === 'listen' && e.code === 'EADDRNOTAVAIL') throw new CommandError(`${host} is not an address of this machine: use 127.0.0.1, 0.0.0.0 or one of its own addresses`);
        if (e.syscall === 'listen' && e.code === 'EACCES') throw new CommandError(`port ${port} needs privileges: pick a --port above 1023`);
        if (e.syscall === 'listen' || e instanceof KeystoreError) throw e;
        const where = postgres ? database.replace(/\/\/[^@/]*@/, '//') : database;
        throw new CommandError(`cannot open the database ${where}: ${oneLine(e.message)}`);
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

async function registerTerminal(store: Keystore, p: Provisioning, service: string, out: (line: string) => void, unwritten?: string): Promise<void> {
  const body = {
    terminalId: p.terminalId,
    publicKey: p.devicePublicKey,
    merchantId: p.merchantId,
    maxTransaction: p.risk.maxTransaction,
    ...(p.place ? { merchantCategory: p.place.category, region: p.place.region } : {}),
  };
  await postJson(service, '/v1/terminals', store.adminToken(), body, unwritten);
  out(`registered terminal ${p.terminalId} with ${service}`);
}

/** What a device provisioned with `p` would lack; the simulator needs none of it. */
function deviceNotes(p: Provisioning, registered: boolean): string[] {
  const notes: string[] = [];
  if (p.wifi === undefined) notes.push('no --wifi-ssid: a device with this file never uploads (the simulator does not need Wi-Fi)');
  const host = new URL(p.settlementUrl).hostname;
  if (host === '127.0.0.1' || host === 'localhost' || host === '[::1]') {
    notes.push(`a device cannot reach ${host} (that is the device itself): for a board use this machine's LAN address and tapline serve --host 0.0.0.0`);
  }
  if (!registered) notes.push('not registered: the service refuses its batches until tapline register --terminal FILE');
  return notes;
}

/** POSTs JSON to the settlement service; any failure is one CommandError line saying what to do. */
async function postJson(base: string, path: string, token: string, body: unknown, unwritten?: string): Promise<unknown> {
  return callService(base, path, token, 'application/json', JSON.stringify(body), unwritten);
}

async function postBytes(base: string, path: string, token: string, body: Uint8Array, unwritten?: string): Promise<unknown> {
  return callService(base, path, token, 'application/octet-stream', body, unwritten);
}

async function callService(base: string, path: string, token: string, type: string, body: string | Uint8Array, unwritten?: string): Promise<unknown> {
  const tail = unwritten === undefined ? '' : ` (${unwritten}; run the command again)`;
  let response: Response;
  try {
    response = await fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': type, authorization: `Bearer ${token}` },
      body,
      signal: AbortSignal.timeout(15_000),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = (e as Error).name === 'TimeoutError' ? 'no answer in 15 s' : (cause?.code ?? cause?.message ?? (e as Error).message);
    throw new CommandError(`cannot reach the settlement service at ${base} (${why}): start it with tapline serve, or fix --service${tail}`);
  }
  const text = await response.text();
  let answer: { error?: string; message?: string } | undefined;
  try {
    answer = JSON.parse(text) as typeof answer;
  } catch {
    answer = undefined;
  }
  if (response.status === 401) throw new CommandError(`the service at ${base} refused the operator token: use the --keys folder it was started with${tail}`);
  if (response.status === 404 && answer?.error === 'not-found') throw new CommandError(`${base} has no ${path.split('?')[0]}: is it a tapline settlement service?${tail}`);
  if (response.status >= 300) {
    const why = answer?.message ?? oneLine(text).slice(0, 200);
    throw new CommandError(`the service at ${base} answered ${response.status}: ${why}${tail}`);
  }
  return answer;
}

/** The --service value as a base URL; a missing scheme is the common slip, so the message shows one. */
function serviceUrl(value: string | boolean | undefined, name: string): string {
  const text = required(value, name);
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '' || url.search !== '' || url.hash !== '') {
    throw new UsageError(`--${name} must be a URL such as http://127.0.0.1:8080 (got "${text}")`);
  }
  return text.replace(/\/+$/, '');
}

/** An --out path that can be written and holds nothing yet; checked before any work is done. */
function freshOutput(path: string, name: string): string {
  if (existsSync(path)) throw new CommandError(`${path} exists; refusing to overwrite it (remove it or pick another --${name})`);
  const folder = dirname(resolve(path));
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new CommandError(`cannot write ${path}: the folder ${dirname(path)} does not exist`);
  return path;
}

function readInput(path: string, name: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder, not a file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new CommandError(`cannot read --${name} ${path}: ${why}`);
  }
}

function readJsonFile(path: string, name: string): unknown {
  const text = readInput(path, name);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CommandError(`--${name} ${path} is not JSON: ${(e as Error).message}`);
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
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

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    'tapline: provisioning and settlement for the tapline offline payment terminal',
    '',
    'usage: tapline COMMAND [options]     (tapline COMMAND --help for its options; tapline --version)',
    '',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

/** The one line a failure prints: the message of an error the CLI or its modules raise, else a short note. */
function failureLine(e: unknown): string {
  const known = [TaplineError, KeystoreError, ProvisioningError, RiskConfigError, UpdateError, TlvError, WalletFileError];
  if (known.some((k) => e instanceof k)) return oneLine((e as Error).message);
  const errno = e as NodeJS.ErrnoException;
  if (errno.code !== undefined && errno.path !== undefined) return oneLine(errno.message);
  return `unexpected error: ${oneLine(String((e as Error)?.message ?? e))} (TAPLINE_DEBUG=1 shows where)`;
}

/** Runs the CLI; resolves with the exit code. Output goes through `out` and `err` (tests capture them). */
export async function main(argv: string[], out: (line: string) => void = console.log, err: (line: string) => void = console.error): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    out(help());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    out(`tapline ${version()}`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    err(`tapline: unknown command "${name}" (tapline --help lists the commands)`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out(`${command.summary}\n\nusage: ${command.usage}`);
    return 0;
  }
  const usage = (message: string) => {
    err(`tapline ${name}: ${message} (tapline ${name} --help shows the options)`);
    return 2;
  };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: rest, options: command.options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    // node's messages run on with advice about "--"; the first sentence is the one that matters here
    return usage((e as Error).message.split(/\. /)[0]!.replace(/^Unknown option '(.*)'$/, 'unknown option $1').replace(/\.$/, ''));
  }
  try {
    await command.run(values, out);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    err(`tapline ${name}: ${failureLine(e)}`);
    if (process.env.TAPLINE_DEBUG) err(String((e as Error)?.stack ?? e));
    return 1;
  }
}

const entry = process.argv[1] ?? '';
if (/host[\\/]cli[\\/]main\.ts$/.test(entry)) {
  const code = await main(process.argv.slice(2));
  if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
}
