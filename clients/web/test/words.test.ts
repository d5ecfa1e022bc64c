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
    for (const code of [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 2001, 2002, 2003, 3001]) {
      for (const doing of ["send", "edit", "delete", "react", "upload", "download"] as const) {
        expect(describeError({ code }, doing)).not.toMatch(/\d{4}/);
      }
    }
  });

  it("explains refused edits, deletes, reactions and files", () => {
    // GIVEN the codes a rich-message action can get WHEN described THEN each says why in words
    expect(describeError({ code: 1001 }, "edit")).toContain("only your own text messages");
    expect(describeError({ code: 1004 }, "delete")).toContain("owner and admins");
    expect(describeError({ code: 1004 }, "edit")).toBe("You can only edit your own messages.");
    expect(describeError({ code: 1001 }, "react")).toContain("too many different reactions");
    expect(describeError({ code: 2003 }, "send")).toBe("That message no longer exists, or you cannot see it.");
    expect(describeError({ code: 2003 }, "download")).toContain("no longer available");
    expect(describeError({ code: 1006 }, "upload")).toBe("That file is too large to send.");
    expect(describeError({ name: "ParleyUploadError", status: 403 }, "upload")).toBe("The file could not be uploaded. Try again.");
  });

  it("explains a refused mute and notifications that cannot be turned on", () => {
    // GIVEN the failures of the mute and notifications controls WHEN described THEN in words
    expect(describeError({ code: 1004 }, "mute")).toBe("You can only mute conversations you are a member of.");
    expect(describeError({ code: 1001 }, "notify")).toContain("push service");
    expect(describeError({ name: "NotAllowedError" }, "notify")).toBe("The browser did not allow notifications for this site.");
    expect(describeError({ name: "AbortError" }, "notify")).toContain("could not subscribe");
    // AND a lost connection still reads as one
    expect(describeError(new TypeError("Failed to fetch"), "notify")).toContain("Cannot reach the server");
  });

  it("words the account rules: a revoked login, password changes, too many sign-ins (issue 15)", async () => {
    // GIVEN the SDK's errors of the account actions WHEN described THEN each is a sentence
    const { LoginRevokedError, ParleyClientError, RateLimitedError } = await import("/parley.js");
    expect(describeError(new LoginRevokedError(1003, "login revoked"))).toMatch(/^You were signed out: .*Please sign in again\.$/);
    expect(describeError({ code: 1003 }, "password")).toBe("The current password is wrong.");
    expect(describeError({ code: 1001 }, "password")).toBe("Choose a new password of 8 to 128 characters.");
    expect(describeError(new RateLimitedError(1005, "too many", { retryAfterMs: 42_000 }), "login")).toBe("Too many attempts. Try again in 42 seconds.");
    expect(describeError(new RateLimitedError(1005, "too many", { retryAfterMs: 1500 }), "password")).toBe("Too many attempts. Try again in 2 seconds.");
    expect(describeError(new ParleyClientError("not solving the registration challenge"), "register")).toContain("too much work");
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
