import { createHash } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { HttpClient } from "../../src/http.js";
import { leadingZeroBits, solveChallengeSync, verifySolution } from "../../src/core/pow.js";
import {
  ConflictError,
  InvalidParamError,
  ParleyClientError,
  ParleyConnectionError,
  ParleyTimeoutError,
  ParleyUploadError,
  RateLimitedError,
  UnauthenticatedError,
  UserNotFoundError,
} from "../../src/errors.js";
import { fakeJwt } from "../support/fakeSocket.js";

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

type Handler = (call: Call) => Response | Promise<Response>;

const json = (status: number, body?: unknown, headers: Record<string, string> = {}) =>
  new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });

/** A fetch that records calls and answers with `handler`. */
function fakeFetch(handler: Handler): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const call: Call = {
      url: String(input),
      method: init?.method ?? "GET",
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: typeof init?.body === "string" ? JSON.parse(init.body) : init?.body,
    };
    calls.push(call);
    return handler(call);
  }) as typeof fetch;
  return { fetch: fetchImpl, calls };
}

const later = (s: number) => Math.floor(Date.now() / 1000) + s;

/** Node's SHA-256: the server's check, independent of the SDK's implementation. */
const reference = (text: string) => new Uint8Array(createHash("sha256").update(text).digest());

describe("HttpClient", () => {
  it("logs in, keeps the pair and sends the access token", async () => {
    // GIVEN a server that logs alice in
    const access = fakeJwt("alice", later(900));
    const { fetch, calls } = fakeFetch((call) =>
      call.url.endsWith("/auth/login")
        ? json(200, { accessToken: access, refreshToken: "r1", tokenType: "Bearer", expiresIn: 900 })
        : json(200, { userId: "alice", displayName: "Alice" }),
    );
    const seen: unknown[] = [];
    const http = new HttpClient("http://api.test/prod/", { fetch, onTokens: (t) => seen.push(t) });
    // WHEN she logs in and asks who she is
    await http.login("alice", "pw-12345678");
    const me = await http.me();
    // THEN the token is kept and sent, and the base path is kept
    expect(me.userId).toBe("alice");
    expect(http.userId).toBe("alice");
    expect(calls[1]?.url).toBe("http://api.test/prod/me");
    expect(calls[1]?.headers.Authorization).toBe(`Bearer ${access}`);
    expect(calls[0]?.headers.Authorization).toBeUndefined();
    expect(seen).toHaveLength(1);
  });

  it("retries a 401 once after one refresh, shared by concurrent callers", async () => {
    // GIVEN a stale access token the server refuses, and a refresh that takes a while
    const fresh = fakeJwt("alice", later(900));
    let refreshes = 0;
    const { fetch, calls } = fakeFetch(async (call) => {
      if (call.url.endsWith("/auth/refresh")) {
        refreshes += 1;
        expect(call.body).toEqual({ refreshToken: "r1" });
        await new Promise((r) => setTimeout(r, 20));
        return json(200, { accessToken: fresh, refreshToken: "r2", tokenType: "Bearer", expiresIn: 900 });
      }
      return call.headers.Authorization === `Bearer ${fresh}`
        ? json(200, { conversations: [] })
        : json(401, { code: 1003, message: "expired" });
    });
    const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("alice", later(900)), refreshToken: "r1" });
    // WHEN three calls run at once
    const results = await Promise.all([http.conversations(), http.conversations(), http.tokenProvider(true)]);
    // THEN the refresh token was presented exactly once and every call succeeded
    expect(refreshes).toBe(1);
    expect(results[0]).toEqual([]);
    expect(results[2]).toBe(fresh);
    expect(http.refreshToken).toBe("r2");
    expect(calls.filter((c) => c.url.endsWith("/auth/refresh"))).toHaveLength(1);
  });

  it("does not retry a second 401 and surfaces typed errors", async () => {
    const { fetch, calls } = fakeFetch((call) => {
      if (call.url.endsWith("/auth/refresh")) {
        return json(200, { accessToken: fakeJwt("a", later(900)), refreshToken: "r2", tokenType: "Bearer", expiresIn: 900 });
      }
      if (call.url.endsWith("/auth/challenge")) return json(404, { code: 1002, message: "no challenge asked" });
      if (call.url.endsWith("/auth/register")) return json(409, { code: 1008, message: "taken" });
      if (call.url.endsWith("/auth/login")) return json(429, { code: 1005, message: "slow down" }, { "Retry-After": "3" });
      return json(401, { code: 1003, message: "revoked" });
    });
    const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("a", later(900)), refreshToken: "r1" });
    await expect(http.me()).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(calls.map((c) => c.url.replace("http://api.test", ""))).toEqual(["/me", "/auth/refresh", "/me"]);
    await expect(http.register("alice", "pw-12345678")).rejects.toBeInstanceOf(ConflictError);
    const limited = await http.login("alice", "x").catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBe(3000);
    expect((limited as RateLimitedError).status).toBe(429);
  });

  it("presents a revoked refresh token once, failing every waiting caller with 1003", async () => {
    // GIVEN a login whose refresh token the server refuses
    let refreshes = 0;
    const { fetch } = fakeFetch(async (call) => {
      if (call.url.endsWith("/auth/refresh")) {
        refreshes += 1;
        await new Promise((r) => setTimeout(r, 10));
        return json(401, { code: 1003, message: "refresh token reused" });
      }
      return json(401, { code: 1003, message: "expired" });
    });
    const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("a", later(900)), refreshToken: "r1" });
    // WHEN three callers need a fresh token at once
    const results = await Promise.allSettled([http.tokenProvider(true), http.tokenProvider(true), http.me()]);
    // THEN the refresh token went out once and every caller got UnauthenticatedError
    expect(refreshes).toBe(1);
    for (const result of results) {
      expect(result.status).toBe("rejected");
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(UnauthenticatedError);
    }
  });

  it("refreshes a token about to expire before using it", async () => {
    const { fetch, calls } = fakeFetch((call) =>
      call.url.endsWith("/auth/refresh")
        ? json(200, { accessToken: fakeJwt("a", later(900)), refreshToken: "r2", tokenType: "Bearer", expiresIn: 900 })
        : json(200, { iceServers: [], ttl: 60 }),
    );
    const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("a", later(5)), refreshToken: "r1" });
    await http.iceServers();
    expect(calls.map((c) => c.url.split("/").pop())).toEqual(["refresh", "ice-servers"]);
  });

  it("encodes path segments and queries, follows conversation pages, and logs out", async () => {
    const { fetch, calls } = fakeFetch((call) => {
      if (call.url.endsWith("/conversations?limit=100&cursor=p2")) return json(200, { conversations: [{ conversationId: "b" }], nextCursor: null });
      if (call.url.endsWith("/conversations?limit=100")) return json(200, { conversations: [{ conversationId: "a" }], nextCursor: "p2" });
      if (call.url.endsWith("/auth/logout")) return new Response(null, { status: 204 });
      return json(200, { messages: [], nextBeforeSeq: null });
    });
    const tokens: unknown[] = [];
    const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("a", later(900)), refreshToken: "r1", onTokens: (t) => tokens.push(t) });
    await http.history("dm:alice:bob", { beforeSeq: 21, limit: 20 });
    expect(calls[0]?.url).toBe("http://api.test/conversations/dm%3Aalice%3Abob/messages?beforeSeq=21&limit=20");
    expect((await http.conversations()).map((c) => c.conversationId)).toEqual(["a", "b"]);
    await http.logout();
    expect(calls.at(-1)?.body).toEqual({ refreshToken: "r1" });
    expect(http.accessToken).toBeUndefined();
    expect(tokens).toEqual([null]);
    await expect(http.tokenProvider(false)).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it("pages the conversation list with limit and cursor, and stops on a cursor answered twice", async () => {
    // GIVEN a server whose second page names its own cursor again
    const { fetch, calls } = fakeFetch((call) => {
      const cursor = new URL(call.url).searchParams.get("cursor");
      if (cursor === null) return json(200, { conversations: [{ conversationId: "a", muted: true }], nextCursor: "c/1" });
      return json(200, { conversations: [{ conversationId: "b", muted: false }], nextCursor: "c/1" });
    });
    const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("a", later(900)) });
    // WHEN one page is asked for with a limit and a cursor
    const page = await http.conversationsPage(2, "c/1");
    // THEN both go in the query, encoded
    expect(calls[0]?.url).toBe("http://api.test/conversations?limit=2&cursor=c%2F1");
    expect(page).toEqual({ conversations: [{ conversationId: "b", muted: false }], nextCursor: "c/1" });
    // WHEN every page is asked for THEN the cursor is followed once, not for ever
    const all = await http.conversations(5);
    expect(all.map((c) => [c.conversationId, c.muted])).toEqual([["a", true], ["b", false]]);
    expect(calls.slice(1).map((c) => c.url.split("?")[1])).toEqual(["limit=5", "limit=5&cursor=c%2F1"]);
  });

  it("reads an empty last page's missing nextCursor as null, and refuses a reply without a list", async () => {
    // GIVEN a server answering one page without nextCursor, then something else
    let reply: unknown = { conversations: [] };
    const { fetch } = fakeFetch(() => json(200, reply));
    const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("a", later(900)) });
    // THEN the page ends the list
    expect(await http.conversationsPage()).toEqual({ conversations: [], nextCursor: null });
    // AND a body without `conversations` is an internal error, not an empty list
    reply = { items: [] };
    await expect(http.conversations()).rejects.toMatchObject({ code: 3001 });
  });

  it("mutes a conversation with PATCH {muted}", async () => {
    // GIVEN a server that echoes the setting
    const { fetch, calls } = fakeFetch((call) => json(200, { conversationId: "grp:01", ...(call.body as object) }));
    const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("a", later(900)) });
    // WHEN alice mutes, then unmutes, a group
    const muted = await http.setMuted("grp:01", true);
    await http.setMuted("grp:01", false);
    // THEN each is one PATCH of the conversation with the flag
    expect(muted).toEqual({ conversationId: "grp:01", muted: true });
    expect(calls.map((c) => [c.method, c.url, c.body])).toEqual([
      ["PATCH", "http://api.test/conversations/grp%3A01", { muted: true }],
      ["PATCH", "http://api.test/conversations/grp%3A01", { muted: false }],
    ]);
  });

  it("reads the push config, and registers, lists and removes devices", async () => {
    // GIVEN a server with one device
    const subscription = { endpoint: "https://push.example/send/1", keys: { p256dh: "BPk", auth: "c2Vj" } };
    const { fetch, calls } = fakeFetch((call) => {
      if (call.url.endsWith("/push/config")) return json(200, { webpush: { vapidPublicKey: "BKey" }, fcm: false, apns: true });
      if (call.method === "POST") return json(201, { deviceId: "01DEV" });
      if (call.method === "DELETE") return new Response(null, { status: 204 });
      return json(200, { devices: [{ deviceId: "01DEV", platform: "webpush", createdAt: 1 }] });
    });
    const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("a", later(900)) });
    // WHEN the app reads the config, registers a subscription and a token, lists and removes
    const config = await http.pushConfig();
    const web = await http.registerDevice({ platform: "webpush", subscription });
    await http.registerDevice({ platform: "apns", token: "t0k" });
    const devices = await http.devices();
    await http.removeDevice("01/DEV");
    // THEN each is the route of section 10, with the body as given
    expect(config.webpush.vapidPublicKey).toBe("BKey");
    expect(web).toEqual({ deviceId: "01DEV" });
    expect(devices).toEqual([{ deviceId: "01DEV", platform: "webpush", createdAt: 1 }]);
    expect(calls.map((c) => [c.method, c.url.replace("http://api.test", ""), c.body])).toEqual([
      ["GET", "/push/config", undefined],
      ["POST", "/devices", { platform: "webpush", subscription }],
      ["POST", "/devices", { platform: "apns", token: "t0k" }],
      ["GET", "/devices", undefined],
      ["DELETE", "/devices/01%2FDEV", undefined],
    ]);
  });

  it("surfaces a refused device as InvalidParamError and a missing deviceId as 3001", async () => {
    // GIVEN a server refusing an IP-literal endpoint, then answering without an id
    let answer = json(400, { code: 1001, message: "endpoint refused" });
    const { fetch } = fakeFetch(() => answer);
    const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("a", later(900)) });
    const device = { platform: "webpush" as const, subscription: { endpoint: "https://10.0.0.1/x", keys: { p256dh: "p", auth: "a" } } };
    // THEN the code's class, then an internal error
    await expect(http.registerDevice(device)).rejects.toBeInstanceOf(InvalidParamError);
    answer = json(201, {});
    await expect(http.registerDevice(device)).rejects.toMatchObject({ code: 3001 });
  });

  it("uploads a Blob with the presigned POST: every field, then the file", async () => {
    // GIVEN a server that hands out a presigned POST, and storage that accepts it
    const { fetch, calls } = fakeFetch((call) => {
      if (call.url.endsWith("/attachments")) {
        return json(201, { attachmentId: "A1", upload: { url: "https://bucket.test/", fields: { key: "k/A1", policy: "p" } }, expiresIn: 300 });
      }
      return new Response(null, { status: 204 });
    });
    const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("a", later(900)) });
    // WHEN a 5-byte text blob is uploaded
    const created = await http.uploadAttachment("dm:a:b", new Blob(["hello"], { type: "text/plain" }), { name: "hi.txt" });
    // THEN the announcement names it, and the form carries the fields then the file
    expect(created.attachmentId).toBe("A1");
    expect(calls[0]?.body).toEqual({ conversationId: "dm:a:b", name: "hi.txt", size: 5, contentType: "text/plain" });
    const form = calls[1]?.body as FormData;
    expect([...form.keys()]).toEqual(["key", "policy", "file"]);
    expect(calls[1]?.headers.Authorization).toBeUndefined();
    const file = form.get("file") as File;
    expect(await file.text()).toBe("hello");
    expect(file.name).toBe("hi.txt");
  });

  it("reports a refused upload, an unreachable server and a timeout as typed errors", async () => {
    const refused = fakeFetch((call) =>
      call.url.endsWith("/attachments")
        ? json(201, { attachmentId: "A1", upload: { url: "https://bucket.test/", fields: {} }, expiresIn: 300 })
        : new Response("<Error>EntityTooLarge</Error>", { status: 400 }),
    );
    const http = new HttpClient("http://api.test", { fetch: refused.fetch, accessToken: "t" });
    await expect(http.uploadAttachment("c", new Blob(["x"]), { name: "x" })).rejects.toBeInstanceOf(ParleyUploadError);
    await expect(http.uploadAttachment("c", new Blob(["x"]))).rejects.toBeInstanceOf(TypeError);

    const down = new HttpClient("http://api.test", { fetch: (async () => { throw new TypeError("fetch failed"); }) as typeof fetch });
    await expect(down.health()).rejects.toBeInstanceOf(ParleyConnectionError);

    const slow = new HttpClient("http://api.test", {
      timeoutMs: 20,
      fetch: ((_: unknown, init?: RequestInit) =>
        new Promise((_resolve, reject) => init?.signal?.addEventListener("abort", () => reject(new Error("aborted"))))) as typeof fetch,
    });
    await expect(slow.health()).rejects.toBeInstanceOf(ParleyTimeoutError);
  });

  describe("accounts (issue 15)", () => {
    const pair = (exp: number, expiresIn: number, refreshToken = "r2") => ({
      accessToken: fakeJwt("alice", exp),
      refreshToken,
      tokenType: "Bearer",
      expiresIn,
    });

    /** A fake server asking challenges at `difficulty`, checking solutions as the real one does. */
    function challengeServer(difficulty: number, refuse: (attempt: number) => boolean = () => false) {
      let issued = 0;
      let registers = 0;
      const fake = fakeFetch((call) => {
        if (call.url.endsWith("/auth/challenge")) {
          issued += 1;
          return json(200, { challenge: `${difficulty}.1764770000.nonce${issued}.mac`, difficulty, expiresIn: 300 });
        }
        if (call.url.endsWith("/auth/register")) {
          registers += 1;
          const body = call.body as { userId: string; challenge?: string; solution?: string };
          const solved =
            typeof body.challenge === "string" &&
            typeof body.solution === "string" &&
            body.solution.length <= 64 &&
            leadingZeroBits(reference(body.challenge + body.solution)) >= difficulty;
          if (!solved || refuse(registers)) return json(400, { code: 1001, message: "challenge expired; get a new one" });
          return json(201, { userId: body.userId });
        }
        return json(404, { code: 1002, message: "no route" });
      });
      return { ...fake, issued: () => issued };
    }

    it("registers as before when the server asks no challenge (404, code 1002)", async () => {
      // GIVEN a server under `make dev` (RegistrationChallenge=off)
      const { fetch, calls } = fakeFetch((call) =>
        call.url.endsWith("/auth/challenge")
          ? json(404, { code: 1002, message: "this server asks no registration challenge" })
          : json(201, { userId: "alice" }),
      );
      const http = new HttpClient("http://api.test", { fetch });
      // WHEN alice registers
      const registered = await http.register("alice", "pw-12345678", "Alice");
      // THEN it asked for a challenge, then registered without one
      expect(registered).toEqual({ userId: "alice" });
      expect(calls.map((c) => `${c.method} ${c.url.replace("http://api.test", "")}`)).toEqual([
        "GET /auth/challenge",
        "POST /auth/register",
      ]);
      expect(calls[1]?.body).toEqual({ userId: "alice", password: "pw-12345678", displayName: "Alice" });
      expect(await http.registrationChallenge()).toBeNull();
    });

    it("solves the server's challenge and sends it with the registration", async () => {
      // GIVEN a server asking difficulty 10, and the default solver
      const server = challengeServer(10);
      const http = new HttpClient("http://api.test", { fetch: server.fetch });
      // WHEN alice registers
      const registered = await http.register("alice", "pw-12345678");
      // THEN the registration carried the challenge and a solution that verifies
      expect(registered).toEqual({ userId: "alice" });
      const body = server.calls[1]?.body as { challenge: string; solution: string; userId: string };
      expect(body.challenge).toBe("10.1764770000.nonce1.mac");
      expect(body.solution).toMatch(/^\d+$/);
      expect(verifySolution(body.challenge, 10, body.solution)).toBe(true);
      expect(body.userId).toBe("alice");
    });

    it("retries once with a fresh challenge when the registration answers 1001, and no more", async () => {
      // GIVEN a server that refuses the first solved registration (the challenge expired meanwhile)
      const once = challengeServer(6, (n) => n === 1);
      const solver = vi.fn(async (challenge: string, difficulty: number) => solveChallengeSync(challenge, difficulty));
      const http = new HttpClient("http://api.test", { fetch: once.fetch, solveChallenge: solver });
      // WHEN alice registers
      await http.register("alice", "pw-12345678");
      // THEN a second challenge was fetched, solved with the app's solver, and accepted
      expect(once.issued()).toBe(2);
      expect(solver.mock.calls.map((c) => c[0])).toEqual(["6.1764770000.nonce1.mac", "6.1764770000.nonce2.mac"]);
      expect((once.calls[3]?.body as { challenge: string }).challenge).toBe("6.1764770000.nonce2.mac");

      // GIVEN a server that refuses every registration with 1001
      const always = challengeServer(6, () => true);
      const stubborn = new HttpClient("http://api.test", { fetch: always.fetch });
      // WHEN bob registers THEN the second refusal is his error, after two challenges
      await expect(stubborn.register("bob", "pw-12345678")).rejects.toBeInstanceOf(InvalidParamError);
      expect(always.issued()).toBe(2);
    });

    it("refuses a difficulty above 32 without solving or registering", async () => {
      // GIVEN a server asking 33 zero bits
      const server = challengeServer(33);
      const solver = vi.fn(async () => "0");
      const http = new HttpClient("http://api.test", { fetch: server.fetch, solveChallenge: solver });
      // WHEN alice registers THEN it fails locally: nothing solved, nothing sent
      const error = await http.register("alice", "pw-12345678").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ParleyClientError);
      expect(String((error as Error).message)).toMatch(/0-32/);
      expect(solver).not.toHaveBeenCalled();
      expect(server.calls.map((c) => c.method)).toEqual(["GET"]);
    });

    it("logs out everywhere, then forgets the pair", async () => {
      // GIVEN a logged-in client
      const { fetch, calls } = fakeFetch(() => new Response(null, { status: 204 }));
      const seen: unknown[] = [];
      const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("alice", later(900)), refreshToken: "r1", onTokens: (t) => seen.push(t) });
      // WHEN it logs out everywhere
      await http.logoutAll();
      // THEN the route got the access token, and the pair is gone (onTokens told)
      expect(calls[0]?.url).toBe("http://api.test/auth/logout-all");
      expect(calls[0]?.method).toBe("POST");
      expect(calls[0]?.headers.Authorization).toMatch(/^Bearer /);
      expect(http.accessToken).toBeUndefined();
      expect(http.refreshToken).toBeUndefined();
      expect(seen).toEqual([null]);
      await expect(http.tokenProvider()).rejects.toBeInstanceOf(UnauthenticatedError);
    });

    it("forgets the pair when logout-all finds the login already over", async () => {
      const { fetch } = fakeFetch(() => json(401, { code: 1003, message: "login revoked" }));
      const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("alice", later(900)), refreshToken: "r1" });
      await expect(http.logoutAll()).rejects.toBeInstanceOf(UnauthenticatedError);
      expect(http.refreshToken).toBeUndefined();
    });

    it("changes the password, and never sends a wrong old password twice", async () => {
      // GIVEN a server that takes "old-password" only
      let refreshes = 0;
      const { fetch, calls } = fakeFetch((call) => {
        if (call.url.endsWith("/auth/refresh")) {
          refreshes += 1;
          return json(200, pair(later(900), 900, `r${refreshes + 1}`));
        }
        const body = call.body as { oldPassword: string; newPassword: string };
        return body.oldPassword === "old-password"
          ? new Response(null, { status: 204 })
          : json(401, { code: 1003, message: "invalid user id or password" });
      });
      const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("alice", later(900)), refreshToken: "r1" });
      // WHEN the right old password is given
      await http.changePassword("old-password", "new-password");
      // THEN both went to POST /me/password and the login stays
      expect(calls[0]?.body).toEqual({ oldPassword: "old-password", newPassword: "new-password" });
      expect(http.refreshToken).toBe("r1");
      // WHEN a wrong one is given
      await expect(http.changePassword("wrong", "new-password")).rejects.toBeInstanceOf(UnauthenticatedError);
      // THEN it was sent once: no refresh-and-retry (each try counts as a failed login)
      expect(calls.filter((c) => c.url.endsWith("/me/password"))).toHaveLength(2);
      expect(refreshes).toBe(0);
    });

    it("deletes the account once with the password, then forgets the pair", async () => {
      // GIVEN a server that takes "the-password" only
      const { fetch, calls } = fakeFetch((call) => {
        const body = call.body as { password: string };
        return body.password === "the-password"
          ? new Response(null, { status: 204 })
          : json(401, { code: 1003, message: "invalid user id or password" });
      });
      const seen: unknown[] = [];
      const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("alice", later(900)), refreshToken: "r1", onTokens: (t) => seen.push(t) });
      // WHEN a wrong password is given THEN it rejects with 1003, sent once, the login kept
      await expect(http.deleteAccount("wrong")).rejects.toBeInstanceOf(UnauthenticatedError);
      expect(calls).toHaveLength(1);
      expect(http.refreshToken).toBe("r1");
      // WHEN the right one is given THEN DELETE /me carried it and the pair is gone
      await http.deleteAccount("the-password");
      expect(calls[1]?.method).toBe("DELETE");
      expect(calls[1]?.url).toBe("http://api.test/me");
      expect(calls[1]?.body).toEqual({ password: "the-password" });
      expect(http.refreshToken).toBeUndefined();
      expect(seen).toEqual([null]);
    });

    it("asks for an export and reads its state", async () => {
      // GIVEN a server with one export, pending on the first read and ready on the second
      let reads = 0;
      const { fetch, calls } = fakeFetch((call) => {
        if (call.method === "POST") return json(202, { exportId: "01ARZ3NDEKTSV4RRFFQ69G5FAV" });
        if (!call.url.endsWith("/01ARZ3NDEKTSV4RRFFQ69G5FAV")) return json(404, { code: 1002, message: "no such export" });
        reads += 1;
        return reads === 1 ? json(200, { status: "pending" }) : json(200, { status: "ready", url: "https://s3.test/x", expiresIn: 300 });
      });
      const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("alice", later(900)), refreshToken: "r1" });
      // WHEN an export is asked for THEN its id is answered
      const exportId = await http.requestExport();
      expect(exportId).toBe("01ARZ3NDEKTSV4RRFFQ69G5FAV");
      expect(calls[0]?.url).toBe("http://api.test/me/export");
      // AND it is pending, then ready with its link
      expect(await http.getExport(exportId)).toEqual({ status: "pending" });
      expect(await http.getExport(exportId)).toEqual({ status: "ready", url: "https://s3.test/x", expiresIn: 300 });
      // AND an unknown id rejects with 1002
      await expect(http.getExport("nope/../x")).rejects.toBeInstanceOf(UserNotFoundError);
      expect(calls.at(-1)?.url).toBe("http://api.test/me/exports/nope%2F..%2Fx");
    });

    it("refuses an export reply without an exportId", async () => {
      const { fetch } = fakeFetch(() => json(202, {}));
      const http = new HttpClient("http://api.test", { fetch, accessToken: fakeJwt("alice", later(900)), refreshToken: "r1" });
      await expect(http.requestExport()).rejects.toThrow(/exportId/);
    });

    it("reads expiresIn from each token reply: a token cut short is refreshed at half its life, not at once", async () => {
      // GIVEN a login near its absolute end: the server answers a token of 20 s (exp agrees)
      const { fetch, calls } = fakeFetch((call) => {
        if (call.url.endsWith("/auth/login")) return json(200, pair(later(20), 20, "r1"));
        if (call.url.endsWith("/auth/refresh")) return json(200, pair(later(20), 20, "r2"));
        return json(200, { userId: "alice", displayName: "Alice" });
      });
      const http = new HttpClient("http://api.test", { fetch, refreshMarginMs: 30_000 });
      const before = Date.now();
      await http.login("alice", "pw-12345678");
      // WHEN it is used at once, twice
      await http.me();
      await http.tokenProvider();
      // THEN no refresh ran (20 s is inside the 30 s margin, but half its life is left)
      expect(calls.filter((c) => c.url.endsWith("/auth/refresh"))).toHaveLength(0);
      const expiresAt = http.accessTokenExpiresAt ?? 0;
      expect(expiresAt).toBeGreaterThanOrEqual(before + 20_000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + 20_000);

      // GIVEN a token whose reply says 1 s although its exp says 15 minutes
      const short = fakeFetch((call) =>
        call.url.endsWith("/auth/login") ? json(200, pair(later(900), 1, "r1")) : call.url.endsWith("/auth/refresh") ? json(200, pair(later(900), 900, "r2")) : json(200, {}),
      );
      const trusting = new HttpClient("http://api.test", { fetch: short.fetch });
      await trusting.login("alice", "pw-12345678");
      // WHEN half of that second has passed
      await new Promise((r) => setTimeout(r, 600));
      await trusting.me();
      // THEN the reply's expiresIn ruled: the token was refreshed before use
      expect(short.calls.map((c) => c.url.replace("http://api.test", ""))).toEqual(["/auth/login", "/auth/refresh", "/me"]);
      expect(trusting.refreshToken).toBe("r2");
    });
  });
});

