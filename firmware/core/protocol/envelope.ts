// The envelope the terminal's journaled records share (a receipt, an in-doubt intent): a version byte
// (tag 80) and the terminal sequence (tag 81, 4 bytes) ahead of the record's own fields, decoded
// canonically by the record's rules.
import { decodeFields, decodeUint, encodeTlv, encodeUint, pickFields, required, TlvError, type FieldRule, type Tlv } from './tlv';

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

/**
 * pickFields over a record's envelope and `rules` (computed once, at module load): the rules, and the
 * tags of its version and terminal sequence, which come first in what pickEnvelope returns.
 */
export function envelopePick(rules: Record<number, FieldRule>, tags: readonly number[]): { rules: Record<number, FieldRule>; tags: number[] } {
  return { rules: { ...ENVELOPE_RULES, ...rules }, tags: [VERSION_TAG, TERMINAL_SEQ_TAG, ...tags] };
}

/**
 * A record this terminal journaled, its version checked: its terminal sequence and the fields `pick`
 * names (by position, after the version and the sequence), the rest left undecoded (pickFields).
 * Throws TlvError.
 */
export function pickEnvelope(bytes: Uint8Array, what: string, version: number, pick: { rules: Record<number, FieldRule>; tags: number[] }): { terminalSeq: number; fields: Array<Uint8Array | undefined> } {
  const fields = pickFields(bytes, pick.rules, pick.tags);
  if (fields[0]![0] !== version) throw new TlvError(`${what} version ${fields[0]![0]}`);
  return { terminalSeq: decodeUint(fields[1]!), fields };
}
