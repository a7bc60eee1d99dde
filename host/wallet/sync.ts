// The wallet's sync with its issuer's service (docs/PROTOCOL.md, "The wallet's sync"): the signed PAY
// exchanges the wallet still holds, with its counter now, signed by the wallet's own key over a fresh
// nonce from the service. It is what lets the service settle a terminal's in-doubt payment that no
// terminal could recover (host/settlement/intents.ts). Canonical BER-TLV (firmware/core/protocol/tlv.ts):
//
// WalletSync = 80 version | 81 certificate | 82 service nonce (16) | 83 counter now (4)
//              | 84 heldFrom (4) | A5 { A1 { 80 PAY request | 81 PAY response } ... } | DE signature
//
// The signature covers "tapline/wallet-sync/v1" 00 and the bytes before DE: the nonce makes it fresh
// (a recorded sync cannot speak for a later moment), and the domain string keeps it apart from any
// payment signature of the same key. Platform-free.
import { concatBytes, utf8Encode } from '../../firmware/base/bytes';
import { decodeFields, decodeTlv, decodeUint, encodeTlv, encodeUint, required, TlvError } from '../../firmware/core/protocol/tlv';
import { MAX_CERTIFICATE_BYTES, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES } from '../../firmware/core/protocol/messages';
import { SIGNATURE_LENGTH } from '../../firmware/core/protocol/alg';

export const WALLET_SYNC_VERSION = 1;
export const WALLET_SYNC_DOMAIN = utf8Encode('tapline/wallet-sync/v1\u0000');
export const SYNC_NONCE_BYTES = 16;
/** Exchanges one sync carries at most (a wallet holds its last few; a phone may hold more). */
export const MAX_SYNC_ENTRIES = 64;
const MAX_ENTRIES_BYTES = MAX_SYNC_ENTRIES * (MAX_REQUEST_BYTES + MAX_RESPONSE_BYTES + 12);
export const MAX_WALLET_SYNC_BYTES = MAX_ENTRIES_BYTES + MAX_CERTIFICATE_BYTES + 128;

export interface SignedExchange {
  /** The PAY request bytes exactly as the wallet received them. */
  request: Uint8Array;
  /** The PAY response bytes exactly as it sent them (its signature covers the request too). */
  response: Uint8Array;
}

export interface WalletSync {
  certificate: Uint8Array;
  nonce: Uint8Array;
  /** The wallet's counter now: it has signed no payment above it. */
  counter: number;
  /** It holds every exchange it signed with a counter at or above this one (counter + 1: none). */
  heldFrom: number;
  /** Oldest first. */
  entries: SignedExchange[];
}

export interface SignedWalletSync extends WalletSync {
  signature: Uint8Array;
  /** The bytes the signature covers (after the domain string). */
  signedBytes: Uint8Array;
}

function body(s: WalletSync): Uint8Array {
  if (s.nonce.length !== SYNC_NONCE_BYTES) throw new TlvError(`a sync nonce is ${SYNC_NONCE_BYTES} bytes`);
  if (s.entries.length > MAX_SYNC_ENTRIES) throw new TlvError(`more than ${MAX_SYNC_ENTRIES} exchanges`);
  return encodeTlv([
    { tag: 0x80, value: encodeUint(WALLET_SYNC_VERSION, 1) },
    { tag: 0x81, value: s.certificate },
    { tag: 0x82, value: s.nonce },
    { tag: 0x83, value: encodeUint(s.counter, 4) },
    { tag: 0x84, value: encodeUint(s.heldFrom, 4) },
    { tag: 0xa5, value: encodeTlv(s.entries.map((e) => ({ tag: 0xa1, value: encodeTlv([{ tag: 0x80, value: e.request }, { tag: 0x81, value: e.response }]) }))) },
  ]);
}

/** Encodes a sync and signs it with the wallet's key (`sign`: the secure element's signer). */
export function encodeWalletSync(s: WalletSync, sign: (message: Uint8Array) => Uint8Array): Uint8Array {
  const b = body(s);
  return concatBytes(b, encodeTlv([{ tag: 0xde, value: sign(concatBytes(WALLET_SYNC_DOMAIN, b)) }]));
}

/** Parses a sync (untrusted bytes; the signatures are the service's to check). Throws TlvError. */
export function decodeWalletSync(bytes: Uint8Array): SignedWalletSync {
  const f = decodeFields(
    bytes,
    {
      0x80: { min: 1, max: 1 },
      0x81: { min: 1, max: MAX_CERTIFICATE_BYTES },
      0x82: { min: SYNC_NONCE_BYTES, max: SYNC_NONCE_BYTES },
      0x83: { min: 4, max: 4 },
      0x84: { min: 4, max: 4 },
      0xa5: { min: 0, max: MAX_ENTRIES_BYTES },
      0xde: { min: SIGNATURE_LENGTH, max: SIGNATURE_LENGTH },
    },
    MAX_WALLET_SYNC_BYTES,
  );
  if (decodeUint(required(f, 0x80)) !== WALLET_SYNC_VERSION) throw new TlvError(`unsupported wallet sync version ${decodeUint(required(f, 0x80))}`);
  const entries = decodeTlv(required(f, 0xa5), { maxBytes: MAX_ENTRIES_BYTES, maxFields: MAX_SYNC_ENTRIES }).map((t) => {
    if (t.tag !== 0xa1) throw new TlvError(`unexpected tag ${t.tag.toString(16)} among exchanges`);
    const e = decodeFields(t.value, { 0x80: { min: 1, max: MAX_REQUEST_BYTES }, 0x81: { min: 1, max: MAX_RESPONSE_BYTES } }, MAX_REQUEST_BYTES + MAX_RESPONSE_BYTES + 8);
    return { request: required(e, 0x80).slice(), response: required(e, 0x81).slice() };
  });
  const counter = decodeUint(required(f, 0x83));
  const heldFrom = decodeUint(required(f, 0x84));
  if (heldFrom > counter + 1) throw new TlvError(`heldFrom ${heldFrom} is above counter ${counter} + 1`);
  return {
    certificate: required(f, 0x81).slice(),
    nonce: required(f, 0x82).slice(),
    counter,
    heldFrom,
    entries,
    signature: required(f, 0xde).slice(),
    // the signature field is DE 40 and 64 bytes, last
    signedBytes: bytes.subarray(0, bytes.length - 2 - SIGNATURE_LENGTH),
  };
}
