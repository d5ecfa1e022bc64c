/**
 * The registration challenge (protocol section 13): find a decimal counter such that
 * SHA-256(challenge + counter) starts with `difficulty` zero bits. About 2^difficulty hashes
 * (a million at the default 20), so the search runs off the main thread where it can: in a
 * Web Worker in browsers, in a loop that yields to the event loop elsewhere.
 */

/** The largest difficulty the SDK agrees to solve (2^32 hashes is already minutes). */
export const MAX_DIFFICULTY = 32;

/** The longest solution the server accepts. */
export const MAX_SOLUTION_CHARS = 64;

/**
 * Finds a solution: `(challenge, difficulty) => counter`. Apps may pass their own (e.g. a
 * worker served from their origin where a Content-Security-Policy refuses `blob:` workers).
 */
export type ChallengeSolver = (challenge: string, difficulty: number) => Promise<string>;

/** What {@link createPowKit} returns: SHA-256 and a search over a range of counters. */
export interface PowKit {
  /** SHA-256 of `data`. */
  sha256(data: Uint8Array): Uint8Array;
  /**
   * The first counter in `[start, start + count)` whose SHA-256(challenge + counter) starts
   * with `difficulty` (0-32) zero bits, or -1 when none does.
   */
  search(challenge: string, difficulty: number, start: number, count: number): number;
}

/**
 * SHA-256 and the counter search, in ONE self-contained function: it refers to nothing
 * outside itself (only the `TextEncoder` global), so its source text is also the body of
 * the Blob URL worker ({@link workerSource}). Keep it that way.
 */
export function createPowKit(): PowKit {
  const K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
  const w = new Int32Array(64);

  /** One compression of the 64-byte block at `offset` of `bytes` into `h`. */
  function compress(h: Int32Array, bytes: Uint8Array, offset: number): void {
    for (let i = 0; i < 16; i++) {
      const j = offset + i * 4;
      w[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!;
    }
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15]!;
      const b = w[i - 2]!;
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
    }
    let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!, f = h[5]!, g = h[6]!, k = h[7]!;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (k + S1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (h[0]! + a) | 0;
    h[1] = (h[1]! + b) | 0;
    h[2] = (h[2]! + c) | 0;
    h[3] = (h[3]! + d) | 0;
    h[4] = (h[4]! + e) | 0;
    h[5] = (h[5]! + f) | 0;
    h[6] = (h[6]! + g) | 0;
    h[7] = (h[7]! + k) | 0;
  }

  /** Pad the `used` message bytes at the start of `block` (a whole message of `total` bytes); how many blocks. */
  function pad(block: Uint8Array, used: number, total: number): number {
    const blocks = used + 9 <= 64 ? 1 : 2;
    block.fill(0, used, blocks * 64);
    block[used] = 0x80;
    const bits = total * 8;
    const end = blocks * 64;
    // A message under 512 MiB: the high word of the 64-bit length is the part above 2^32.
    const high = Math.floor(bits / 0x100000000);
    block[end - 8] = high >>> 24;
    block[end - 7] = high >>> 16;
    block[end - 6] = high >>> 8;
    block[end - 5] = high;
    block[end - 4] = bits >>> 24;
    block[end - 3] = bits >>> 16;
    block[end - 2] = bits >>> 8;
    block[end - 1] = bits;
    return blocks;
  }

  function sha256(data: Uint8Array): Uint8Array {
    const h = new Int32Array(INITIAL);
    const whole = data.length - (data.length % 64);
    for (let offset = 0; offset < whole; offset += 64) compress(h, data, offset);
    const block = new Uint8Array(128);
    block.set(data.subarray(whole));
    const blocks = pad(block, data.length - whole, data.length);
    for (let i = 0; i < blocks; i++) compress(h, block, i * 64);
    const out = new Uint8Array(32);
    for (let i = 0; i < 8; i++) {
      out[i * 4] = h[i]! >>> 24;
      out[i * 4 + 1] = h[i]! >>> 16;
      out[i * 4 + 2] = h[i]! >>> 8;
      out[i * 4 + 3] = h[i]!;
    }
    return out;
  }

  function search(challenge: string, difficulty: number, start: number, count: number): number {
    const prefix = new TextEncoder().encode(challenge);
    // The challenge's whole blocks hash the same for every counter: do them once.
    const mid = new Int32Array(INITIAL);
    const whole = prefix.length - (prefix.length % 64);
    for (let offset = 0; offset < whole; offset += 64) compress(mid, prefix, offset);
    const tail = prefix.subarray(whole);
    const block = new Uint8Array(128);
    const h = new Int32Array(8);
    // Difficulty d over the first two words: the top d bits of h0 (d <= 32) must be zero.
    const mask = difficulty >= 32 ? -1 : difficulty <= 0 ? 0 : ~(-1 >>> difficulty);
    for (let counter = start; counter < start + count; counter++) {
      const digits = String(counter);
      block.set(tail);
      for (let i = 0; i < digits.length; i++) block[tail.length + i] = digits.charCodeAt(i);
      const used = tail.length + digits.length;
      const blocks = pad(block, used, prefix.length + digits.length);
      h.set(mid);
      compress(h, block, 0);
      if (blocks === 2) compress(h, block, 64);
      if ((h[0]! & mask) === 0) return counter;
    }
    return -1;
  }

  return { sha256, search };
}

const kit = createPowKit();

/** SHA-256 of `data` (bytes, or a string as UTF-8). */
export function sha256(data: Uint8Array | string): Uint8Array {
  return kit.sha256(typeof data === "string" ? new TextEncoder().encode(data) : data);
}

/** How many zero bits `digest` starts with. */
export function leadingZeroBits(digest: Uint8Array): number {
  let bits = 0;
  for (const byte of digest) {
    if (byte) return bits + Math.clz32(byte) - 24;
    bits += 8;
  }
  return bits;
}

/** True when `solution` solves `challenge` at `difficulty` (what the server checks). */
export function verifySolution(challenge: string, difficulty: number, solution: string): boolean {
  if (!solution || solution.length > MAX_SOLUTION_CHARS) return false;
  return leadingZeroBits(sha256(challenge + solution)) >= difficulty;
}

/** Refuse a difficulty the SDK will not solve: not an integer, below 0 or above 32. */
export function checkDifficulty(difficulty: unknown): number {
  if (typeof difficulty !== "number" || !Number.isInteger(difficulty) || difficulty < 0 || difficulty > MAX_DIFFICULTY) {
    throw new RangeError(`registration challenge difficulty ${String(difficulty)} is not 0-${MAX_DIFFICULTY}`);
  }
  return difficulty;
}

/** Counters per step of the searches below (a few milliseconds each). */
const STEP = 1 << 15;

/**
 * Solve on the calling thread, synchronously: a plain loop (Node, workers, tests). Counters
 * start at 0, so the solution is the first one and at most 10 digits.
 */
export function solveChallengeSync(challenge: string, difficulty: number): string {
  checkDifficulty(difficulty);
  for (let start = 0; ; start += STEP) {
    const found = kit.search(challenge, difficulty, start, STEP);
    if (found >= 0) return String(found);
  }
}

/** Solve on this thread in steps, yielding to the event loop between them. */
export async function solveChallengeInSteps(challenge: string, difficulty: number): Promise<string> {
  checkDifficulty(difficulty);
  for (let start = 0; ; start += STEP) {
    const found = kit.search(challenge, difficulty, start, STEP);
    if (found >= 0) return String(found);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** The source of a classic worker that answers `[challenge, difficulty]` with the solution. */
export function workerSource(): string {
  return (
    `"use strict";\nconst kit = (${createPowKit.toString()})();\n` +
    `self.onmessage = (event) => {\n` +
    `  const [challenge, difficulty] = event.data;\n` +
    `  for (let start = 0; ; start += ${STEP}) {\n` +
    `    const found = kit.search(challenge, difficulty, start, ${STEP});\n` +
    `    if (found >= 0) { self.postMessage(String(found)); return; }\n` +
    `  }\n` +
    `};\n`
  );
}

interface WorkerLike {
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  postMessage(message: unknown): void;
  terminate(): void;
}

type WorkerConstructor = new (url: string) => WorkerLike;

/** Solve in a Web Worker made from a Blob URL; rejects when no such worker can run. */
export function solveChallengeInWorker(challenge: string, difficulty: number): Promise<string> {
  checkDifficulty(difficulty);
  const scope = globalThis as { Worker?: WorkerConstructor; Blob?: typeof Blob; URL: typeof URL };
  if (!scope.Worker || !scope.Blob || typeof scope.URL.createObjectURL !== "function") {
    return Promise.reject(new Error("no Web Worker here"));
  }
  const url = scope.URL.createObjectURL(new scope.Blob([workerSource()], { type: "text/javascript" }));
  return new Promise<string>((resolve, reject) => {
    let worker: WorkerLike;
    try {
      worker = new scope.Worker!(url);
    } catch (error) {
      scope.URL.revokeObjectURL(url);
      reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    const done = () => {
      worker.terminate();
      scope.URL.revokeObjectURL(url);
    };
    worker.onmessage = (event) => {
      done();
      if (typeof event.data === "string") resolve(event.data);
      else reject(new Error("the challenge worker answered no solution"));
    };
    // A Content-Security-Policy without `blob:` for workers fails the load here.
    worker.onerror = () => {
      done();
      reject(new Error("the challenge worker could not run"));
    };
    worker.postMessage([challenge, difficulty]);
  });
}

/**
 * The default solver: a Blob URL Web Worker where the runtime has workers (browsers), else,
 * or when that worker cannot run (a CSP refusing `blob:`), steps on this thread.
 */
export const solveChallenge: ChallengeSolver = async (challenge, difficulty) => {
  checkDifficulty(difficulty);
  if (typeof (globalThis as { Worker?: unknown }).Worker === "function" && typeof (globalThis as { window?: unknown }).window === "object") {
    try {
      return await solveChallengeInWorker(challenge, difficulty);
    } catch {
      // fall through: the same search on this thread, in steps
    }
  }
  return solveChallengeInSteps(challenge, difficulty);
};
