/**
 * Issue 15's account rules against the real local cloud, started with the deployed default
 * `RegistrationChallenge=pow` (the local cloud's own default is `off`, as `make dev`): the
 * SDK solves the registration challenge; a wrong or reused solution is refused with 1001;
 * logging out everywhere and changing the password end the other logins and their sockets.
 */

import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HttpClient,
  InvalidParamError,
  ParleyClient,
  UnauthenticatedError,
  verifySolution,
  type WebSocketConstructor,
} from "../../src/index.js";
import { skipReason, startLocalCloud, type LocalCloud } from "../support/localCloud.js";

if (skipReason) console.warn(skipReason);

const PASSWORD = "correct horse battery";
const suffix = Math.random().toString(36).slice(2, 8);
/** Low enough to keep the suite fast on a busy machine, high enough that a guess fails. */
const DIFFICULTY = 14;

describe.skipIf(skipReason !== undefined)("accounts against the local cloud (RegistrationChallenge=pow)", { timeout: 120_000 }, () => {
  let cloud: LocalCloud;
  const open: ParleyClient[] = [];

  beforeAll(async () => {
    cloud = await startLocalCloud(90_000, { RegistrationChallenge: "pow", ChallengeDifficulty: String(DIFFICULTY) });
  });

  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()));
    await cloud?.stop();
  });

  async function user(name: string): Promise<HttpClient> {
    const http = new HttpClient(cloud.httpUrl);
    await http.register(`${name}${suffix}`, PASSWORD);
    await http.login(`${name}${suffix}`, PASSWORD);
    return http;
  }

  /** A live client that records why it stopped. */
  function live(http: HttpClient): { client: ParleyClient; stopped: Error[] } {
    const stopped: Error[] = [];
    const client = new ParleyClient(cloud.wsUrl, http.tokenProvider, {
      WebSocket: WebSocket as WebSocketConstructor,
      backoffBaseMs: 50,
      backoffCapMs: 500,
      openTimeoutMs: 30_000,
      requestTimeoutMs: 20_000,
      onStopped: (e) => stopped.push(e),
    });
    open.push(client);
    return { client, stopped };
  }

  async function until(condition: () => boolean, ms = 45_000): Promise<void> {
    const started = Date.now();
    while (!condition()) {
      if (Date.now() - started > ms) throw new Error("condition not met in time");
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it("solves the server's challenge to register; a wrong or reused solution is refused with 1001", async () => {
    // GIVEN the server asks a challenge
    const http = new HttpClient(cloud.httpUrl);
    const challenge = await http.registrationChallenge();
    expect(challenge).toMatchObject({ difficulty: DIFFICULTY });
    expect(challenge?.expiresIn).toBeGreaterThan(0);
    // WHEN the SDK registers (challenge, solve, register) THEN the account exists
    await expect(http.register(`solver${suffix}`, PASSWORD)).resolves.toEqual({ userId: `solver${suffix}` });
    await http.login(`solver${suffix}`, PASSWORD);
    expect((await http.me()).userId).toBe(`solver${suffix}`);
    // AND a registration without a solution, or with a wrong one, is refused with 1001
    const raw = (body: object) => http.request("POST", "/auth/register", body, { auth: false });
    const fresh = (await http.registrationChallenge())!;
    await expect(raw({ userId: `nosol${suffix}`, password: PASSWORD })).rejects.toBeInstanceOf(InvalidParamError);
    let wrong = 0;
    while (verifySolution(fresh.challenge, fresh.difficulty, String(wrong))) wrong += 1;
    await expect(
      raw({ userId: `wrong${suffix}`, password: PASSWORD, challenge: fresh.challenge, solution: String(wrong) }),
    ).rejects.toBeInstanceOf(InvalidParamError);
    // AND a solved challenge registers once: used again it is refused
    let right = 0;
    while (!verifySolution(fresh.challenge, fresh.difficulty, String(right))) right += 1;
    await raw({ userId: `first${suffix}`, password: PASSWORD, challenge: fresh.challenge, solution: String(right) });
    await expect(
      raw({ userId: `second${suffix}`, password: PASSWORD, challenge: fresh.challenge, solution: String(right) }),
    ).rejects.toBeInstanceOf(InvalidParamError);
  });

  it("logs out everywhere: both logins end, their sockets stop without a reconnect loop", async () => {
    // GIVEN alice logged in twice, each login with a live client
    const first = await user("everywhere");
    const second = new HttpClient(cloud.httpUrl);
    await second.login(first.userId as string, PASSWORD);
    const a = live(first);
    const b = live(second);
    await Promise.all([a.client.connect(), b.client.connect()]);
    // WHEN the first logs out everywhere
    await first.logoutAll();
    // THEN its pair is forgotten, and both clients stop on their own with 1003
    expect(first.refreshToken).toBeUndefined();
    await until(() => a.stopped.length === 1 && b.stopped.length === 1);
    expect(a.stopped[0]).toBeInstanceOf(UnauthenticatedError);
    expect(b.stopped[0]).toBeInstanceOf(UnauthenticatedError);
    // AND the second login's tokens are refused too
    await expect(second.refresh()).rejects.toBeInstanceOf(UnauthenticatedError);
  });

  it("changes the password: other logins end, this one stays; a wrong old password is 1003", async () => {
    // GIVEN bob logged in twice, the other login with a live client
    const bob = await user("password");
    const other = new HttpClient(cloud.httpUrl);
    await other.login(bob.userId as string, PASSWORD);
    const elsewhere = live(other);
    await elsewhere.client.connect();
    // WHEN he gives a wrong old password THEN it is refused with 1003 and nothing changes
    await expect(bob.changePassword("not the password", "brand new password")).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(elsewhere.client.closed).toBe(false);
    // WHEN he changes it with the right one
    await bob.changePassword(PASSWORD, "brand new password");
    // THEN this login still works, the other one stops, and only the new password logs in
    expect((await bob.me()).userId).toBe(bob.userId);
    await bob.refresh();
    await until(() => elsewhere.stopped.length === 1);
    expect(elsewhere.stopped[0]).toBeInstanceOf(UnauthenticatedError);
    const fresh = new HttpClient(cloud.httpUrl);
    await expect(fresh.login(bob.userId as string, PASSWORD)).rejects.toBeInstanceOf(UnauthenticatedError);
    await fresh.login(bob.userId as string, "brand new password");
  });
});
