// One error base: every error tapline throws on purpose is a TaplineError that names itself, and bugs
// (assertions, the engine's own errors) are told apart from operating errors by type, not by text.
import { expect } from 'chai';
import { assert, present } from '../firmware/base/assert';
import { AssertionError, isProgrammerError, TaplineError } from '../firmware/base/errors';
import { CardLostError, JournalFullError } from '../firmware/base/ports';
import { DeclineError } from '../firmware/base/reasons';
import { TlvError } from '../firmware/core/protocol/tlv';
import { ApduError } from '../firmware/core/protocol/apdu';
import { FlashError, JournalBug } from '../firmware/core/journal/journal';
import { WireError } from '../firmware/core/uplink/wire';
import { FrameError } from '../drivers/pn532/frame';
import { PN532Error, PN532TimeoutError } from '../drivers/pn532/pn532';
import { IsoDepError } from '../drivers/pn532/isodep';
import { BootError } from '../firmware/app/boot';
import { PowerLossError } from '../host/flash/ram-flash';

describe('errors: one base, named kinds, bugs told apart', () => {
  const made: Array<[Function, Error]> = [
    [TlvError, new TlvError('m')],
    [ApduError, new ApduError('m')],
    [FlashError, new FlashError('m')],
    [WireError, new WireError('m')],
    [FrameError, new FrameError('m')],
    [PN532Error, new PN532Error('m', 0x27)],
    [PN532TimeoutError, new PN532TimeoutError('m', 'ack')],
    [IsoDepError, new IsoDepError('m')],
    [CardLostError, new CardLostError()],
    [JournalFullError, new JournalFullError()],
    [DeclineError, new DeclineError('badSignature')],
    [BootError, new BootError('config', 'm')],
    [PowerLossError, new PowerLossError()],
  ];

  it('each error is a TaplineError whose name is its class name, even through a subclass', () => {
    for (const [cls, e] of made) {
      expect(e).to.be.instanceOf(TaplineError);
      expect(e.name, cls.name).to.equal(cls.name);
      expect(String(e)).to.match(new RegExp(`^${cls.name}: `));
      expect(isProgrammerError(e), cls.name).to.equal(false);
    }
    expect(new PN532TimeoutError('m', 'ack')).to.be.instanceOf(PN532Error);
  });

  it('assertions, TypeError and RangeError are programmer errors', () => {
    expect(() => assert(1 + 1 === 3, 'arithmetic holds')).to.throw(AssertionError, 'arithmetic holds');
    expect(() => present(new Map<string, number>().get('x'), 'the entry')).to.throw(AssertionError, 'the entry is missing');
    expect(present(0, 'zero')).to.equal(0);
    expect(new JournalBug('x')).to.be.instanceOf(AssertionError);
    for (const e of [new AssertionError('x'), new JournalBug('x'), new TypeError('x'), new RangeError('x'), new ReferenceError('x')]) expect(isProgrammerError(e)).to.equal(true);
    expect(isProgrammerError(new Error('plain'))).to.equal(false);
    expect(isProgrammerError('a string')).to.equal(false);
  });
});
