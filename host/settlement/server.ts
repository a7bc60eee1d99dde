// The settlement service's HTTP API on Fastify (docs/SETTLEMENT.md). Terminals use POST /v1/batches
// (binary, authenticated by the batch's device-key signature); operators use the JSON routes with the
// admin bearer token. Every refusal is `{ "error": code, "message": text }` with a 4xx/5xx status.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { fromHex, toHex } from '../../firmware/base/bytes';
import { MAX_BATCH_BYTES } from '../../firmware/core/uplink/wire';
import { MAX_WALLET_SYNC_BYTES } from '../wallet/sync';
import { MAX_UPDATE_BYTES } from '../../firmware/core/uplink/updates';
import { sameSecret } from './secret';
import { Settlement, SettlementError } from './settlement';
import { registerOffice } from './office/routes';

export interface ServerOptions {
  settlement: Settlement;
  /** Bearer token for the operator routes. */
  adminToken: string;
  /** Log requests (Fastify's pino logger); off by default. */
  logger?: boolean;
  limits?: Partial<ServerLimits>;
}

/** What one client may hold of the service: a slow or silent client is cut, and connections are bounded. */
export interface ServerLimits {
  /** The request line and headers must arrive within this. */
  headersMs: number;
  /** The whole request, body included (a batch over a slow Wi-Fi link takes well under a second). */
  requestMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: number;
  /** A socket with no traffic at all is closed after this. */
  idleMs: number;
  /** Open connections at most; more are refused at accept. */
  maxConnections: number;
  /** How often Node checks the header and request deadlines (its default is 30 s). */
  checkEveryMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  headersMs: 5_000,
  requestMs: 15_000,
  keepAliveMs: 5_000,
  idleMs: 30_000,
  maxConnections: 512,
  checkEveryMs: 1_000,
};

const ID_SCHEMA = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,16}$' } as const;
const WALLET_SCHEMA = { type: 'string', pattern: '^[0-9a-f]{16}$' } as const;
const AMOUNT_SCHEMA = { type: 'integer', minimum: 0, maximum: 281474976710655 } as const;

export function buildServer(options: ServerOptions): FastifyInstance {
  const { settlement } = options;
  const token = Buffer.from(options.adminToken);
  const limits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: 64 * 1024,
    requestTimeout: limits.requestMs,
    keepAliveTimeout: limits.keepAliveMs,
    connectionTimeout: limits.idleMs,
    http: { headersTimeout: limits.headersMs, connectionsCheckingInterval: limits.checkEveryMs },
  });
  app.server.maxConnections = limits.maxConnections;

  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: MAX_BATCH_BYTES + MAX_UPDATE_BYTES }, (_req, body, done) =>
    done(null, body),
  );

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
    if (error instanceof SettlementError) return reply.code(error.status).send({ error: error.code, message: error.message });
    if (error.validation) return reply.code(400).send({ error: 'bad-request', message: error.message });
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ error: 'body-too-large', message: error.message });
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: 'unsupported-media-type', message: error.message });
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: 'bad-request', message: error.message });
    }
    request.log.error(error);
    return reply.code(500).send({ error: 'internal', message: 'internal error; nothing of this request was recorded' });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: 'not-found', message: `no route ${request.method} ${request.url}` }));

  const admin = async (request: FastifyRequest) => {
    const header = request.headers.authorization ?? '';
    if (!sameSecret(Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : ''), token)) {
      throw new SettlementError(401, 'unauthorized', 'this route needs the operator token (Authorization: Bearer ...)');
    }
  };

  // ---- terminals ----

  app.post('/v1/batches', async (request: FastifyRequest, reply: FastifyReply) => {
    const body = binaryBody(request, MAX_BATCH_BYTES);
    const response = await settlement.ingest(body);
    return reply.code(200).type('application/octet-stream').send(Buffer.from(response));
  });

  app.get('/v1/time', async () => ({ unixSeconds: settlement.now() }));

  // ---- wallets: the sync that settles in-doubt payments (host/settlement/intents.ts) ----

  app.post('/v1/wallet-sync/nonce', async () => ({ nonce: toHex(settlement.walletSyncNonce()) }));

  app.post('/v1/wallet-sync', async (request: FastifyRequest) => settlement.walletSync(binaryBody(request, MAX_WALLET_SYNC_BYTES)));

  app.get('/v1/health', async () => {
    const stats = await settlement.stats();
    return { ok: true, database: settlement.db.kind, receipts: stats };
  });

  app.get(
    '/v1/deny-list',
    { schema: { querystring: { type: 'object', properties: { since: { type: 'integer', minimum: 0, maximum: 4294967295 } }, additionalProperties: false } } },
    async (request) => {
      const since = (request.query as { since?: number }).since ?? 0;
      const list = await settlement.denyList(since);
      return { since, version: list.version, entries: list.entries, update: list.update ? toHex(list.update) : null };
    },
  );

  // ---- operators ----

  app.post(
    '/v1/terminals',
    {
      onRequest: admin,
      schema: {
        body: {
          type: 'object',
          required: ['terminalId', 'publicKey', 'merchantId', 'maxTransaction'],
          additionalProperties: false,
          properties: {
            terminalId: ID_SCHEMA,
            publicKey: { type: 'string', pattern: '^([0-9a-f]{66}|[0-9a-f]{130})$' },
            merchantId: ID_SCHEMA,
            maxTransaction: AMOUNT_SCHEMA,
            merchantCategory: { type: 'integer', minimum: 0, maximum: 9999 },
            region: { type: 'integer', minimum: 0, maximum: 65535 },
          },
        },
      },
    },
    async (request, reply) => {
      const b = request.body as { terminalId: string; publicKey: string; merchantId: string; maxTransaction: number; merchantCategory?: number; region?: number };
      const { created } = await settlement.registerTerminal({ ...b, publicKey: fromHex(b.publicKey) });
      return reply.code(created ? 201 : 200).send({ terminalId: b.terminalId, created });
    },
  );

  app.post(
    '/v1/terminals/:terminalId/revoke',
    { onRequest: admin, schema: { params: { type: 'object', properties: { terminalId: ID_SCHEMA }, required: ['terminalId'] } } },
    async (request) => {
      const { terminalId } = request.params as { terminalId: string };
      await settlement.revokeTerminal(terminalId);
      return { terminalId, status: 'revoked' };
    },
  );

  app.post(
    '/v1/wallets',
    {
      onRequest: admin,
      schema: {
        body: {
          type: 'object',
          required: ['walletId', 'balance'],
          additionalProperties: false,
          properties: { walletId: WALLET_SCHEMA, balance: AMOUNT_SCHEMA, issuerKeyId: { type: 'integer', minimum: 0, maximum: 4294967295 } },
        },
      },
    },
    async (request) => {
      const b = request.body as { walletId: string; balance: number; issuerKeyId?: number };
      await settlement.registerWallet(b.walletId, b.balance, b.issuerKeyId);
      return { walletId: b.walletId, balance: b.balance };
    },
  );

  app.post(
    '/v1/wallets/:walletId/lost',
    {
      onRequest: admin,
      schema: {
        params: { type: 'object', properties: { walletId: WALLET_SCHEMA }, required: ['walletId'] },
        body: { type: ['object', 'null'], additionalProperties: false, properties: { at: { type: 'integer', minimum: 0, maximum: 1099511627775 } } },
      },
    },
    async (request) => {
      const { walletId } = request.params as { walletId: string };
      const at = (request.body as { at?: number } | null)?.at;
      const { denyListVersion } = await settlement.reportLost(walletId, at);
      return { walletId, status: 'lost', denyListVersion };
    },
  );

  app.post(
    '/v1/updates',
    { onRequest: admin, schema: { querystring: { type: 'object', properties: { terminal: ID_SCHEMA }, additionalProperties: false } } },
    async (request, reply) => {
      const body = binaryBody(request, MAX_UPDATE_BYTES);
      const { terminal } = request.query as { terminal?: string };
      const stored = await settlement.addUpdate(body, terminal);
      return reply.code(201).send(stored);
    },
  );

  app.get(
    '/v1/accounts/:account',
    { onRequest: admin, schema: { params: { type: 'object', properties: { account: { type: 'string', maxLength: 80 } }, required: ['account'] } } },
    async (request) => {
      const { account } = request.params as { account: string };
      return { account, balance: await settlement.balance(account) };
    },
  );

  app.get(
    '/v1/findings',
    { onRequest: admin, schema: { querystring: { type: 'object', properties: { wallet: WALLET_SCHEMA }, additionalProperties: false } } },
    async (request) => {
      const { wallet } = request.query as { wallet?: string };
      return { findings: await settlement.findings(wallet) };
    },
  );

  registerOffice(app, { settlement, adminToken: options.adminToken });

  return app;
}

function binaryBody(request: FastifyRequest, max: number): Uint8Array {
  const body = request.body;
  if (!Buffer.isBuffer(body)) throw new SettlementError(415, 'unsupported-media-type', 'send the bytes as application/octet-stream');
  if (body.length === 0) throw new SettlementError(400, 'empty-body', 'the body is empty');
  if (body.length > max) throw new SettlementError(413, 'body-too-large', `body of ${body.length} bytes exceeds ${max}`);
  return new Uint8Array(body.buffer, body.byteOffset, body.length);
}
