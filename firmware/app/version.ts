// The firmware's version, reported in every upload batch so operators see what each terminal runs.
// Kept equal to package.json's version (test/office.test.ts checks it).
export const FIRMWARE_VERSION = '0.1.0';
