import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  MAX_DIFFICULTY,
  checkDifficulty,
  createPowKit,
  leadingZeroBits,
  sha256,
  solveChallenge,
  solveChallengeInSteps,
  solveChallengeSync,
  verifySolution,
  workerSource,
} from "../../src/core/pow.js";

/** Node's own SHA-256, the reference the SDK's implementation must match. */
const reference = (data: string | Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());

/** A challenge of the server's shape: `<difficulty>.<expiresAt>.<nonce>.<mac>` (80 characters). */
const CHALLENGE = "12.1764770000.q1w2e3r4t5y6u7i8o9p0aA.Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXhxdXU";

describe("registration challenge solver", () => {
  it("hashes like Node's SHA-256 at every length around the block boundaries", () => {
    // GIVEN messages of 0 to 200 bytes, ASCII and multi-byte UTF-8
    for (let length = 0; length <= 200; length++) {
      const text = "a".repeat(length);
      // WHEN hashed by the SDK
      // THEN the digest is the reference one
      expect(sha256(text)).toEqual(reference(text));
    }
    expect(sha256("héllo ✓ 🚀")).toEqual(reference("héllo ✓ 🚀"));
    const bytes = new Uint8Array(1000).map((_, i) => (i * 7) & 0xff);
    expect(sha256(bytes)).toEqual(reference(bytes));
  });

  it("counts leading zero bits", () => {
    expect(leadingZeroBits(new Uint8Array([0, 0, 0x80]))).toBe(16);
    expect(leadingZeroBits(new Uint8Array([0, 0x01]))).toBe(15);
    expect(leadingZeroBits(new Uint8Array([0xff]))).toBe(0);
    expect(leadingZeroBits(new Uint8Array([0, 0]))).toBe(16);
  });

  it("finds the first counter whose hash has the difficulty's zero bits", () => {
    // GIVEN a challenge at difficulty 12
    // WHEN solved
    const solution = solveChallengeSync(CHALLENGE, 12);
    // THEN the server's check passes (Node's hash), the answer is a decimal counter, and no
    // smaller counter solves it (the search did not skip any)
    expect(solution).toMatch(/^\d{1,64}$/);
    expect(leadingZeroBits(reference(CHALLENGE + solution))).toBeGreaterThanOrEqual(12);
    expect(verifySolution(CHALLENGE, 12, solution)).toBe(true);
    for (let counter = 0; counter < Number(solution); counter++) {
      expect(leadingZeroBits(reference(CHALLENGE + String(counter)))).toBeLessThan(12);
    }
  });

  it("solves challenges of every length, short and multi-block, and multi-byte ones", () => {
    for (const challenge of ["x", "a".repeat(55), "b".repeat(63), "c".repeat(64), "d".repeat(130), "é✓".repeat(20)]) {
      const solution = solveChallengeSync(challenge, 8);
      expect(leadingZeroBits(reference(challenge + solution))).toBeGreaterThanOrEqual(8);
    }
  });

  it("searches only the counters it is given, and answers -1 past them", () => {
    const kit = createPowKit();
    const first = Number(solveChallengeSync(CHALLENGE, 10));
    expect(kit.search(CHALLENGE, 10, 0, first + 1)).toBe(first);
    expect(kit.search(CHALLENGE, 10, 0, first)).toBe(-1);
    expect(kit.search(CHALLENGE, 0, 5, 1)).toBe(5);
  });

  it("refuses a difficulty above 32, below 0 or not an integer, without searching", async () => {
    expect(MAX_DIFFICULTY).toBe(32);
    expect(checkDifficulty(0)).toBe(0);
    expect(checkDifficulty(32)).toBe(32);
    for (const bad of [33, -1, 1.5, Number.NaN, "20"]) expect(() => checkDifficulty(bad)).toThrow(RangeError);
    expect(() => solveChallengeSync(CHALLENGE, 33)).toThrow(RangeError);
    await expect(solveChallenge(CHALLENGE, 40)).rejects.toThrow(RangeError);
  });

  it("rejects solutions that are wrong, empty or longer than 64 characters", () => {
    const solution = solveChallengeSync(CHALLENGE, 12);
    expect(verifySolution(CHALLENGE, 12, "")).toBe(false);
    expect(verifySolution(CHALLENGE, 12, "0".repeat(65))).toBe(false);
    expect(verifySolution(CHALLENGE + "x", 24, solution)).toBe(false);
  });

  it("solves in steps off a blocking loop, to the same answer (what Node and CSP-bound pages run)", async () => {
    // GIVEN a timer that must keep firing while the solver works
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 1);
    // WHEN solved in steps at difficulty 16 (some 65,000 hashes, several steps)
    const solution = await solveChallengeInSteps(CHALLENGE, 16);
    clearInterval(ticker);
    // THEN it verifies, equals the synchronous answer, and the event loop ran meanwhile
    expect(solution).toBe(solveChallengeSync(CHALLENGE, 16));
    expect(leadingZeroBits(reference(CHALLENGE + solution))).toBeGreaterThanOrEqual(16);
    expect(await solveChallenge(CHALLENGE, 16)).toBe(solution);
    if (Number(solution) >= 1 << 15) expect(ticks).toBeGreaterThan(0);
  });

  it("builds a self-contained worker script that answers the same solution", async () => {
    // GIVEN the Blob URL worker's source, run with a stand-in `self` (no closure over the module)
    const posted: unknown[] = [];
    const self: { onmessage?: (event: { data: unknown }) => void; postMessage: (m: unknown) => void } = {
      postMessage: (m) => posted.push(m),
    };
    new Function("self", workerSource())(self);
    // WHEN it is asked to solve
    self.onmessage?.({ data: [CHALLENGE, 12] });
    // THEN it posts the first solution
    expect(posted).toEqual([solveChallengeSync(CHALLENGE, 12)]);
  });
});
