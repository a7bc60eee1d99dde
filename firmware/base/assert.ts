// Assertions on invariants, TigerBeetle-style: state a fact the code relies on where it is relied on, and
// crash (restart) rather than run on with state that is wrong. The message says which fact failed.
import { AssertionError } from './errors';

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** The value, asserted present: for a lookup the surrounding code guarantees (in place of `!`). */
export function present<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new AssertionError(`${what} is missing`);
  return value;
}
