// Two kinds of failure, handled differently. An operating error is the world misbehaving: a bad frame,
// a card taken away, a flash that fails, a full journal. It is a TaplineError (or a subclass naming its
// kind) and the code around it declines, retries or reports it. A programmer error is a bug: a failed
// assertion, a TypeError, a RangeError. Nothing should turn it into a decline; it goes up to the main
// loop, which logs it and restarts (see isProgrammerError).

/** The base of every error tapline throws on purpose. A subclass sets its name in one line. */
export class TaplineError extends Error {
  constructor(message: string) {
    super(message);
  }
}

/** An invariant that does not hold: the code is wrong, not the world. */
export class AssertionError extends Error {
  override readonly name: string = 'AssertionError';
}

/** True for bugs (assertions and the engine's own errors), which must never become a decline. */
export function isProgrammerError(e: unknown): boolean {
  return e instanceof AssertionError || e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError;
}

/** For a catch that turns operating errors into a decline or a retry: a bug goes on up untouched. */
export function rethrowIfProgrammerError(e: unknown): void {
  if (isProgrammerError(e)) throw e;
}

/** An error as a log line shows it: its name and message, or the thrown value as text. */
export function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
