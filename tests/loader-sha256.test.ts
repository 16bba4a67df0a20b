// The incremental SHA-256 the browser cache uses to check whole downloaded files, against node:crypto,
// fed in uneven pieces across block boundaries.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sha256 } from '../src/model/sha256.ts';
import { mulberry32 } from '../src/model/random-model.ts';

describe('incremental sha256', () => {
  it('matches node:crypto for lengths around the 64-byte block and the 56-byte padding edge', () => {
    const rand = mulberry32(1);
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 121, 128, 1000, 70_001]) {
      const data = Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
      const h = new Sha256();
      for (let i = 0; i < n; ) {
        const step = 1 + Math.floor(rand() * 100);
        h.update(data.subarray(i, i + step));
        i += step;
      }
      expect(h.hex()).toBe(createHash('sha256').update(data).digest('hex'));
    }
    expect(new Sha256().update(new TextEncoder().encode('abc')).hex()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
