import { describe, expect, it } from "vitest";
import { describeError, waitInWords } from "../src/words.js";

describe("describeError", () => {
  it("gives the wait of a rate limit in words", () => {
    // GIVEN a 1005 with retryAfterMs WHEN described THEN the wait is in seconds, rounded up
    expect(describeError({ name: "RateLimitedError", code: 1005, retryAfterMs: 2300 })).toBe("Too many attempts. Try again in 3 seconds.");
    expect(describeError({ code: 1005, retryAfterMs: 600_000 }, "login")).toBe("Too many attempts. Try again in 10 minutes.");
    expect(describeError({ code: 1005 })).toBe("Too many attempts. Wait a moment and try again.");
  });

  it("says what each code means for what was being done, never the code", () => {
    expect(describeError({ code: 1006 }, "send")).toContain("4,000 characters");
    expect(describeError({ code: 1004 }, "send")).toContain("not allowed");
    expect(describeError({ code: 1004 }, "login")).toBe("This account is suspended.");
    expect(describeError({ code: 1003 }, "login")).toBe("Wrong user name or password.");
    expect(describeError({ code: 1003 }, "send")).toContain("sign in again");
    expect(describeError({ code: 1008 }, "register")).toBe("That user name is taken.");
    expect(describeError({ code: 1002 }, "dm")).toBe("There is no user with that name.");
    for (const code of [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 2001, 2002, 3001]) {
      expect(describeError({ code })).not.toMatch(/\d{4}/);
    }
  });

  it("names a lost connection and unknown failures plainly", () => {
    expect(describeError(new TypeError("Failed to fetch"))).toContain("Cannot reach the server");
    expect(describeError({ name: "ParleyTimeoutError" })).toContain("did not answer in time");
    expect(describeError("weird")).toBe("Something went wrong. Try again.");
  });

  it("rounds waits up to at least one second", () => {
    expect(waitInWords(1)).toBe("in 1 second");
    expect(waitInWords(89_000)).toBe("in 89 seconds");
  });
});
