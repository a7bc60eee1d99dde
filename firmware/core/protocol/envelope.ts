// The envelope the terminal's journaled records share (a receipt, an in-doubt intent): a version byte
// (tag 80) and the terminal sequence (tag 81, 4 bytes) ahead of the record's own fields, decoded
// canonically by the record's rules.
import { decodeFields, decodeUint, encodeTlv, encodeUint, required, TlvError, type FieldRule, type Tlv } from './tlv';

const VERSION_TAG = 0x80;
const TERMINAL_SEQ_TAG = 0x81;
const ENVELOPE_RULES: Record<number, FieldRule> = {
  [VERSION_TAG]: { min: 1, max: 1 },
  [TERMINAL_SEQ_TAG]: { min: 4, max: 4 },
};
export function encodeEnvelope(version: number, terminalSeq: number, fields: Tlv[]): Uint8Array {
  return encodeTlv([
    { tag: VERSION_TAG, value: encodeUint(version, 1) },
    { tag: TERMINAL_SEQ_TAG, value: encodeUint(terminalSeq, 4) },
    ...fields,
  ]);
}

/**
 * Parses a record (untrusted bytes) of `what` ("receipt", "intent") in `version`, its own fields by
 * `rules` (tags above 81). Throws TlvError.
 */
export function decodeEnvelope(
  bytes: Uint8Array,
  what: string,
  version: number,
  rules: Record<number, FieldRule>,
  maxBytes: number,
): { terminalSeq: number; fields: Map<number, Uint8Array> } {
  const fields = decodeFields(bytes, { ...ENVELOPE_RULES, ...rules }, maxBytes);
  const found = required(fields, VERSION_TAG)[0];
  if (found !== version) throw new TlvError(`${what} version ${found}`);
  return { terminalSeq: decodeUint(required(fields, TERMINAL_SEQ_TAG)), fields };
}
