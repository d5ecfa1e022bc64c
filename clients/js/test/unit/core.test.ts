import { describe, expect, it } from "vitest";
import { fullJitter, ReconnectSchedule } from "../../src/core/backoff.js";
import { encodeFrame, MAX_FRAME_BYTES } from "../../src/core/frames.js";
import { DEFAULT_RESEND_POLICY, nextSendDelay, sendFrame } from "../../src/core/resend.js";
import { jwtClaims, renewDelay, tokenExpiresWithin } from "../../src/core/tokens.js";
import {
  ConflictError,
  ErrorCode,
  ERROR_CODES,
  MessageSendFailedError,
  NotFoundError,
  ParleyClosedError,
  ParleyConnectionError,
  ParleyError,
  ParleyTimeoutError,
  PayloadTooLargeError,
  RateLimitedError,
  codeName,
} from "../../src/errors.js";
import { fakeJwt } from "../support/fakeSocket.js";

describe("fullJitter", () => {
  it("stays within [0, min(cap, base * 2**attempt)]", () => {
    // GIVEN the extremes of the random source THEN the bounds are met exactly
    expect(fullJitter(0, 500, 30_000, () => 0)).toBe(0);
    expect(fullJitter(0, 500, 30_000, () => 1)).toBe(500);
    expect(fullJitter(3, 500, 30_000, () => 1)).toBe(4000);
    expect(fullJitter(20, 500, 30_000, () => 1)).toBe(30_000);
    expect(() => fullJitter(-1, 1, 1)).toThrow(RangeError);
  });

  it("resets the schedule after a stable connection", () => {
    // GIVEN two failed attempts
    const s = new ReconnectSchedule(100, 10_000, 1000, () => 1);
    expect([s.nextDelay(), s.nextDelay()]).toEqual([100, 200]);
    // WHEN a connection then stays up long enough and drops
    s.connected(0);
    s.disconnected(5000);
    // THEN the next delay starts over at base
    expect(s.nextDelay()).toBe(100);
    // WHEN a connection drops quickly THEN it keeps growing
    s.connected(6000);
    s.disconnected(6100);
    expect(s.nextDelay()).toBe(200);
  });
});

describe("frames", () => {
  it("refuses a frame over 32 KB locally with a typed 1006", () => {
    // GIVEN a text whose frame is just over the limit
    const frame = { action: "send", body: { type: "text", text: "é".repeat(MAX_FRAME_BYTES / 2) } };
    // WHEN encoded THEN PayloadTooLargeError, local, code 1006
    let error: unknown;
    try {
      encodeFrame(frame);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect((error as ParleyError).code).toBe(1006);
    expect((error as ParleyError).local).toBe(true);
    // AND a frame under the limit encodes compactly
    expect(encodeFrame({ action: "ping" })).toBe('{"action":"ping"}');
  });
});

describe("resend rule", () => {
  const policy = DEFAULT_RESEND_POLICY;

  it("retries timeouts, lost sockets and 2001, never other codes or local refusals", () => {
    expect(nextSendDelay(new ParleyTimeoutError("t"), 1, policy, () => 0.5)).toBeGreaterThanOrEqual(0);
    expect(nextSendDelay(new ParleyConnectionError("lost"), 1, policy)).toBeDefined();
    expect(nextSendDelay(ParleyError.from({ code: 2001, message: "x" }), 1, policy)).toBeDefined();
    expect(nextSendDelay(ParleyError.from({ code: 1004, message: "x" }), 1, policy)).toBeUndefined();
    expect(nextSendDelay(new PayloadTooLargeError(1006, "big", { local: true }), 1, policy)).toBeUndefined();
    expect(nextSendDelay(new ParleyClosedError("closed"), 1, policy)).toBeUndefined();
    expect(nextSendDelay(new Error("bug"), 1, policy)).toBeUndefined();
  });

  it("stops after the last attempt and honours retryAfterMs", () => {
    expect(nextSendDelay(new ParleyTimeoutError("t"), policy.attempts, policy)).toBeUndefined();
    const limited = ParleyError.from({ code: 2001, message: "x", retryAfterMs: 1500 });
    expect(nextSendDelay(limited, 1, policy, () => 0)).toBe(1500);
  });

  it("builds one send frame with exactly one target", () => {
    expect(sendFrame({ type: "text", text: "hi" }, { to: "bob" }, "m1")).toEqual({
      action: "send",
      to: "bob",
      clientMsgId: "m1",
      body: { type: "text", text: "hi" },
    });
    expect(() => sendFrame({}, {} as never, "m1")).toThrow(TypeError);
  });
});

describe("tokens", () => {
  it("reads claims without verifying and schedules renewal before expiry", () => {
    // GIVEN a token expiring in 15 minutes
    const now = 1_700_000_000_000;
    const token = fakeJwt("alice", now / 1000 + 900);
    // THEN its claims read, and renewal is due a minute before expiry
    expect(jwtClaims(token).sub).toBe("alice");
    expect(jwtClaims("not-a-jwt")).toEqual({});
    expect(renewDelay(token, now, 60_000)).toBe(840_000);
    expect(renewDelay("opaque", now, 60_000)).toBeUndefined();
    expect(tokenExpiresWithin(token, 1_000_000, now)).toBe(true);
    expect(tokenExpiresWithin(token, 1000, now)).toBe(false);
  });

  it("renews a token cut short near its login's end at half its life, not at once", () => {
    // GIVEN tokens issued now (iat) for 20 s and for 15 minutes
    const now = 1_700_000_000_000;
    const jwt = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.s`;
    const short = jwt({ sub: "alice", iat: now / 1000, exp: now / 1000 + 20 });
    const full = jwt({ sub: "alice", iat: now / 1000, exp: now / 1000 + 900 });
    // THEN the short one is renewed after 10 s (not within the 60 s margin, i.e. at once)
    expect(renewDelay(short, now, 60_000)).toBe(10_000);
    // AND the full one a minute before its expiry, as before
    expect(renewDelay(full, now, 60_000)).toBe(840_000);
  });
});

describe("errors", () => {
  it("maps every protocol code to its own typed class", () => {
    // GIVEN every code of the protocol
    for (const [name, code] of Object.entries(ErrorCode)) {
      // WHEN an error body with it is read
      const error = ParleyError.from({ code, message: "m" }, { status: 400 });
      // THEN it is a ParleyError subclass named after the code
      expect(error).toBeInstanceOf(ParleyError);
      expect(error.constructor).not.toBe(ParleyError);
      expect(error.code).toBe(code);
      expect(error.codeName).toBe(name);
      expect(ERROR_CODES[code]).toBe(name);
    }
    expect(ParleyError.from({ code: 1005, message: "slow", retryAfterMs: 250 })).toBeInstanceOf(RateLimitedError);
    expect(ParleyError.from({ code: 2003, message: "gone" })).toBeInstanceOf(NotFoundError);
    expect(ParleyError.from({ code: 2001, message: "x" })).toBeInstanceOf(MessageSendFailedError);
  });

  it("falls back on the HTTP status, and keeps unknown codes as ParleyError", () => {
    expect(ParleyError.from("<html>", { status: 409 })).toBeInstanceOf(ConflictError);
    expect(ParleyError.from(undefined).code).toBe(3001);
    const unknown = ParleyError.from({ code: 4242, message: "new" });
    expect(unknown.constructor).toBe(ParleyError);
    expect(codeName(4242)).toBe("UNKNOWN");
    expect(String(ParleyError.from({ code: 1005, message: "slow", retryAfterMs: 5 }, { status: 429 }))).toBe(
      "RateLimitedError: 1005 RATE_LIMITED: slow (HTTP 429) (retry after 5 ms)",
    );
  });
});
