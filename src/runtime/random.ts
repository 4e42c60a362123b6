import { randomBytes, randomFillSync } from 'node:crypto';

/** Randomness seam: seedable in tests and simulations, crypto-backed in a real node. */
export interface Random {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** `n` random bytes. */
  bytes(n: number): Buffer;
}

/** sfc32: small, fast, and good enough for simulation; never used for secrets. */
export class SeededRandom implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }

  next(): number {
    return this.u32() / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  private u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
}

/** Crypto-backed; numbers come from a pool refilled 4 KiB at a time (one randomBytes per probe cost 6-12% of a busy node's CPU). */
export class CryptoRandom implements Random {
  private readonly pool = new Uint32Array(1024);
  private left = 0;

  next(): number {
    if (this.left === 0) {
      randomFillSync(this.pool);
      this.left = this.pool.length;
    }
    return this.pool[--this.left]! / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  bytes(n: number): Buffer {
    return randomBytes(n);
  }
}
