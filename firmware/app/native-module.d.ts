// Types of firmware/app/native-module.js (the module "tapline-native" on the device), for the SDK's tsc.
import type { NativePrimitives } from './native';

export declare const p256Verify: NativePrimitives['p256Verify'];
export declare const ed25519Verify: NativePrimitives['ed25519Verify'];
export declare const sha256: NativePrimitives['sha256'];
export declare const crc32: NativePrimitives['crc32'];
export declare const blockHeader: NativePrimitives['blockHeader'];
/** Restarts the chip (esp_restart); the device app calls it after a bug (firmware/app/restart.ts). */
export declare function restart(): void;
