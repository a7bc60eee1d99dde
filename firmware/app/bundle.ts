// The entry of the device bundle (build/device/tapline.js, made by host/build/device.ts): everything
// platform-free the Moddable app needs, with noble and the pin map inlined. firmware/app/main.ts imports
// it as "./bundle"; the manifests map that module to the built file.
import pinMap from '../../hardware/pins.json';
import type { PinMap } from './pins';

export const PIN_MAP = pinMap as PinMap;
export { selectBoard, pinMask, PinMapError } from './pins';
export { boot, BootError, RECORD_RISK_STATE, type Booted } from './boot';
export { ALG_P256, ALG_ED25519, verifySignature, type VerifyFn } from '../core/crypto/verify';
export { nativeVerify, nativeHashes, referenceHashes, type NativePrimitives, type HashPort } from './native';
export { toHex, fromHex, utf8Encode } from '../base/bytes';
export { Crc32 } from '../core/journal/crc32';
export { Runner, type EffectSink } from './runner';
export { Online } from './online';
export { RECORD_DENY_LIST } from '../core/uplink/store';
export { countBoot, bootFinished, restartOnBug } from './restart';
export { errorText, isProgrammerError } from '../base/errors';
export { PreferenceBootRecords } from './device-boot-record';
export { openReader, openKeypad, openFeedback, Display, DeviceSink } from './hardware';
export { TicksClock } from './device-clock';
export { randomBytesFrom31Bits } from './device-random';
export { ModdableHttpTransport } from './device-http';
export { WifiLink } from './device-wifi';
export { PartitionAdapter, checkJournalPartition, readProvisioningText, JOURNAL_PARTITION, PROVISION_PARTITION, PartitionError } from './device-storage';
