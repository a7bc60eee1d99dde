// A small settlement stand-in for the uplink tests: a real node:http server on loopback that stores
// receipts by (terminal, sequence), answers with signed responses, and misbehaves on request.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { p256 } from '@noble/curves/nist.js';
import { toHex } from '../firmware/base/bytes';
import { ALG_P256 } from '../firmware/core/crypto/verify';
import { decodeBatch, encodeBatchResponse, RESULT_ACCEPTED, RESULT_DUPLICATE, verifyBatch, type ReceiptResult } from '../firmware/core/uplink/wire';
import { encodeUpdate, type Update, UPDATE_TIME } from '../firmware/core/uplink/updates';

export type Behaviour =
  | 'ok'
  | 'drop' // close the connection before reading an answer
  | 'hang' // never answer
  | '500'
  | 'truncate' // store, then send half the announced body and close
  | 'lose-answer' // store, then close without answering
  | 'stale-ack' // store, answer with an old acknowledgement (an acknowledgement seen twice)
  | 'bad-signature'; // store, answer signed by a key that is not the root

export class TestService {
  readonly rootSecret = p256.utils.randomSecretKey();
  readonly rootPublic = p256.getPublicKey(this.rootSecret, true);
  readonly devicePublic: Uint8Array;
  /** Receipts by sequence number, stored once; `inserted` counts first sightings only. */
  readonly receipts = new Map<number, string>();
  inserted = 0;
  duplicates = 0;
  requests = 0;
  script: Behaviour[] = [];
  /** Updates to send with the next good answer (signed here unless already bytes). */
  updates: (Update | Uint8Array)[] = [];
  serviceTime = 1_790_000_000;
  #server: Server;
  #lastAck = 0;

  constructor(devicePublic: Uint8Array) {
    this.devicePublic = devicePublic;
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        const behaviour = this.script.shift() ?? 'ok';
        if (behaviour === 'drop') return req.socket.destroy();
        if (behaviour === 'hang') return;
        if (behaviour === '500') {
          res.writeHead(500, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ error: 'internal', message: 'database unavailable' }));
        }
        if (req.url !== '/v1/batches' || req.method !== 'POST') {
          res.writeHead(404, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ error: 'not-found', message: req.url }));
        }
        let batch;
        try {
          batch = decodeBatch(new Uint8Array(Buffer.concat(chunks)));
        } catch (e) {
          res.writeHead(400, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ error: 'bad-batch', message: (e as Error).message }));
        }
        if (!verifyBatch(batch, this.devicePublic)) {
          res.writeHead(403, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ error: 'bad-signature', message: 'batch not signed by the device key' }));
        }
        const results: ReceiptResult[] = batch.items.map(({ seq, receipt }) => {
          if (this.receipts.has(seq)) {
            this.duplicates++;
            if (this.receipts.get(seq) !== toHex(receipt)) throw new Error(`receipt ${seq} came back different`);
            return { seq, status: RESULT_DUPLICATE };
          }
          this.receipts.set(seq, toHex(receipt));
          this.inserted++;
          return { seq, status: RESULT_ACCEPTED };
        });
        const top = batch.items.length ? batch.items[batch.items.length - 1]!.seq : this.#lastAck;
        if (behaviour === 'lose-answer') return req.socket.destroy();
        const ack = behaviour === 'stale-ack' ? this.#lastAck : top;
        this.#lastAck = Math.max(this.#lastAck, top);
        const updates = this.updates.splice(0).map((u) => (u instanceof Uint8Array ? u : encodeUpdate(u, ALG_P256, this.rootSecret)));
        updates.push(encodeUpdate({ kind: UPDATE_TIME, version: 0, unixSeconds: this.serviceTime, nonce: batch.nonce }, ALG_P256, this.rootSecret));
        const key = behaviour === 'bad-signature' ? p256.utils.randomSecretKey() : this.rootSecret;
        const body = encodeBatchResponse({ terminalId: batch.terminalId, nonce: batch.nonce, ackedUpTo: ack, results, updates }, ALG_P256, key);
        if (behaviour === 'truncate') {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
          res.write(body.subarray(0, body.length >> 1));
          return setTimeout(() => req.socket.destroy(), 10);
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
