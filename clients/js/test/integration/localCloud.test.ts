/**
 * The SDK against the real local cloud (`python -m parley_local`, the project's SAM template
 * on moto): two users exchange messages both ways; sends survive a lost socket without
 * duplicates; a client catches up in order after being offline or dropped.
 */

import { createECDH, randomBytes } from "node:crypto";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ForbiddenError,
  HttpClient,
  InvalidParamError,
  NotFoundError,
  ParleyClient,
  PayloadTooLargeError,
  UnauthenticatedError,
  UserNotFoundError,
  type MessageEvent,
  type ParleyClientOptions,
  type ServerEvent,
  type WebSocketConstructor,
} from "../../src/index.js";
import { skipReason, startLocalCloud, type LocalCloud } from "../support/localCloud.js";

if (skipReason) console.warn(skipReason);

const PASSWORD = "correct horse battery";
const suffix = Math.random().toString(36).slice(2, 8);

/** `ws` (Node 20 has no global WebSocket), recording each socket so tests can cut it. */
function trackedWebSocket(): { WebSocket: WebSocketConstructor; sockets: WebSocket[] } {
  const sockets: WebSocket[] = [];
  class Tracked extends WebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return { WebSocket: Tracked, sockets };
}

describe.skipIf(skipReason !== undefined)("against the local cloud", { timeout: 120_000 }, () => {
  let cloud: LocalCloud;
  const open: ParleyClient[] = [];

  async function user(name: string): Promise<HttpClient> {
    const http = new HttpClient(cloud.httpUrl);
    const userId = `${name}${suffix}`;
    await http.register(userId, PASSWORD);
    await http.login(userId, PASSWORD);
    return http;
  }

  function live(http: HttpClient, options: ParleyClientOptions = {}) {
    const tracked = trackedWebSocket();
    const client = new ParleyClient(cloud.wsUrl, http.tokenProvider, {
      WebSocket: tracked.WebSocket,
      backoffBaseMs: 50,
      backoffCapMs: 500,
      // A first connection cold-starts the authorizer and connect functions on a busy machine.
      openTimeoutMs: 30_000,
      requestTimeoutMs: 20_000,
      ...(process.env.PARLEY_JS_DEBUG ? { logger: console } : {}),
      ...options,
    });
    open.push(client);
    return { client, sockets: tracked.sockets };
  }

  const texts = (events: readonly ServerEvent[]) =>
    events.filter((e): e is MessageEvent => e.type === "message").map((e) => (e.body as { text?: string }).text);

  beforeAll(async () => {
    cloud = await startLocalCloud();
  });

  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()));
    await cloud?.stop();
  });

  it("registers without a challenge where the server asks none (RegistrationChallenge=off, 404)", async () => {
    // GIVEN the local cloud's default, as under `make dev`
    const http = new HttpClient(cloud.httpUrl);
    // THEN no challenge is offered, and register works as before
    expect(await http.registrationChallenge()).toBeNull();
    await expect(http.register(`nochallenge${suffix}`, PASSWORD)).resolves.toEqual({ userId: `nochallenge${suffix}` });
  });

  it("two users exchange messages both ways, with receipts", async () => {
    // GIVEN alice and bob, both connected
    const alice = await user("alice");
    const bob = await user("bob");
    const a = live(alice).client;
    const b = live(bob).client;
    await Promise.all([a.connect(), b.connect()]);
    // WHEN alice writes to bob, bob reads it and answers in the same conversation
    const first = await a.send("hi bob", { to: bob.userId as string });
    const pushed = (await b.nextEvent({ type: "message", conversationId: first.conversationId }, 45_000)) as MessageEvent;
    await b.read(first.conversationId, pushed.seq);
    const receipt = await a.nextEvent({ type: "receipt", conversationId: first.conversationId }, 45_000);
    const second = await b.send("hi alice", { conversationId: first.conversationId });
    const answer = (await a.nextEvent({ type: "message", seq: second.seq }, 45_000)) as MessageEvent;
    // THEN each side got the other's message, in one conversation with seq 1 and 2
    expect(first.conversationId).toBe(`dm:${[alice.userId, bob.userId].sort().join(":")}`);
    expect([first.seq, second.seq]).toEqual([1, 2]);
    expect(pushed).toMatchObject({ seq: 1, senderId: alice.userId, body: { type: "text", text: "hi bob" } });
    expect(answer).toMatchObject({ seq: 2, senderId: bob.userId, body: { type: "text", text: "hi alice" } });
    // AND bob's read reached alice as a receipt
    expect(receipt).toMatchObject({ userId: bob.userId, readSeq: 1 });
    // AND the HTTP API agrees
    const history = await alice.history(first.conversationId);
    expect(history.messages.map((m) => m.seq)).toEqual([1, 2]);
    const [summary] = (await bob.conversations()).filter((c) => c.conversationId === first.conversationId);
    expect(summary).toMatchObject({ lastSeq: 2, readSeq: 2, unread: 0 });
  });

  it("resends with the same clientMsgId across a lost socket: every message stored once", async () => {
    // GIVEN carol and dave, carol connected
    const carol = await user("carol");
    const dave = await user("dave");
    const { client: c, sockets } = live(carol);
    await c.connect();
    // WHEN carol sends five messages and her socket is cut while they are in flight
    const sends = [1, 2, 3, 4, 5].map((n) => c.send(`n${n}`, { to: dave.userId as string, clientMsgId: `cut-${suffix}-${n}` }));
    sockets[0]?.terminate();
    const acks = await Promise.all(sends);
    // THEN all five are acked with distinct seqs 1-5, and history holds each once
    expect(acks.map((a) => a.seq).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(acks.map((a) => a.clientMsgId)).toEqual([1, 2, 3, 4, 5].map((n) => `cut-${suffix}-${n}`));
    const history = await dave.history(acks[0]?.conversationId as string);
    expect(history.messages.map((m) => m.clientMsgId).sort()).toEqual(acks.map((a) => a.clientMsgId).sort());
    expect(c.connectionCount).toBeGreaterThanOrEqual(2);
    // AND a repeated clientMsgId gets the first ack back, not a new message
    const again = await c.send("n1 again", { to: dave.userId as string, clientMsgId: `cut-${suffix}-1` });
    expect(again).toMatchObject({ seq: acks[0]?.seq, messageId: acks[0]?.messageId });
  });

  it("catches up in order after being offline and after an unexpected drop", async () => {
    // GIVEN erin and frank in a group, frank connected
    const erin = await user("erin");
    const frank = await user("frank");
    const group = await erin.createGroup("crew", [frank.userId as string]);
    const e = live(erin).client;
    const first = live(frank).client;
    await Promise.all([e.connect(), first.connect()]);
    await e.send("before", { conversationId: group.conversationId });
    await first.nextEvent({ type: "message", conversationId: group.conversationId, predicate: (ev) => texts([ev])[0] === "before" }, 45_000);
    const cursors = first.exportCursors();
    await first.close();
    // WHEN erin writes while frank is offline, and frank comes back from his cursors
    for (const n of [1, 2, 3]) await e.send(`offline ${n}`, { conversationId: group.conversationId });
    const { client: f, sockets } = live(frank, { cursors });
    const seen: ServerEvent[] = [];
    f.addListener((ev) => seen.push(ev));
    const synced = await f.connect().then(() => seen.slice());
    // THEN the initial sync delivers exactly the three, in order
    expect(texts(synced)).toEqual(["offline 1", "offline 2", "offline 3"]);
    // WHEN his socket drops and erin writes meanwhile
    sockets[0]?.terminate();
    for (const n of [4, 5]) await e.send(`dropped ${n}`, { conversationId: group.conversationId });
    // THEN after reconnecting he has every message once, in seq order
    await new Promise<void>((resolve) => {
      const check = () => texts(seen).length >= 5 && resolve();
      f.addListener(check);
      check();
    });
    expect(texts(seen)).toEqual(["offline 1", "offline 2", "offline 3", "dropped 4", "dropped 5"]);
    const seqs = seen.filter((ev): ev is MessageEvent => ev.type === "message").map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(f.connectionCount).toBe(2);
  });

  it("renews the socket's token with auth, and surfaces typed errors", async () => {
    const gina = await user("gina");
    const { client: g } = live(gina);
    await g.connect();
    // WHEN the token is renewed on the open socket THEN the server takes it and requests go on
    const before = gina.accessToken;
    const token = await g.renewToken();
    expect(token).not.toBe(before);
    expect(await g.ping()).toBeGreaterThanOrEqual(0);
    // AND errors come back as their classes
    await expect(g.send("hello?", { to: `nobody${suffix}` })).rejects.toBeInstanceOf(UserNotFoundError);
    await expect(g.send("x".repeat(40_000), { to: `nobody${suffix}` })).rejects.toBeInstanceOf(PayloadTooLargeError);
    await expect(new HttpClient(cloud.httpUrl).login(gina.userId as string, "wrong password")).rejects.toBeInstanceOf(
      UnauthenticatedError,
    );
    // AND the socket is still open after the refused frames
    expect(g.connected).toBe(true);
  });

  it("registers a Web Push subscription once, lists and removes it (protocol 10)", async () => {
    // GIVEN hana, and a subscription as a browser's PushSubscription.toJSON() gives it (make dev
    // admits loopback endpoints; nothing is sent to it while no message arrives offline)
    const hana = await user("hana");
    const config = await hana.pushConfig();
    expect(Buffer.from(config.webpush.vapidPublicKey, "base64url")).toHaveLength(65);
    const ecdh = createECDH("prime256v1");
    const subscription = {
      endpoint: `http://127.0.0.1:9/push/${suffix}`,
      keys: { p256dh: ecdh.generateKeys().toString("base64url"), auth: randomBytes(16).toString("base64url") },
    };
    // WHEN it is registered twice
    const first = await hana.registerDevice({ platform: "webpush", subscription });
    const again = await hana.registerDevice({ platform: "webpush", subscription });
    // THEN it is one device, listed
    expect(again.deviceId).toBe(first.deviceId);
    expect((await hana.devices()).map((d) => [d.deviceId, d.platform])).toEqual([[first.deviceId, "webpush"]]);
    // AND an IP-literal https endpoint is refused with 1001
    const literal = { ...subscription, endpoint: "https://10.1.2.3/push" };
    await expect(hana.registerDevice({ platform: "webpush", subscription: literal })).rejects.toBeInstanceOf(
      InvalidParamError,
    );
    // WHEN it is removed THEN the list is empty, and removing it again is 2003
    await hana.removeDevice(first.deviceId);
    expect(await hana.devices()).toEqual([]);
    await expect(hana.removeDevice(first.deviceId)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("mutes a conversation, and follows the list's pages (protocol 11)", async () => {
    // GIVEN ines in three DMs
    const ines = await user("ines");
    const peers = await Promise.all(["jo", "kim", "lou"].map((name) => user(name)));
    const { client: i } = live(ines);
    await i.connect();
    const acks = [];
    for (const peer of peers) acks.push(await i.send("hello", { to: peer.userId as string }));
    const ids = acks.map((a) => a.conversationId).sort();
    // WHEN she mutes the second one
    expect(await ines.setMuted(ids[1] as string, true)).toEqual({ conversationId: ids[1], muted: true });
    // THEN pages of one follow nextCursor to the end, null on the last page, muted shown
    const first = await ines.conversationsPage(1);
    expect(first.conversations).toHaveLength(1);
    expect(typeof first.nextCursor).toBe("string");
    const all = await ines.conversations(1);
    expect(all.map((c) => [c.conversationId, c.muted])).toEqual(ids.map((id, n) => [id, n === 1]));
    const last = await ines.conversationsPage(2, (await ines.conversationsPage(1)).nextCursor);
    expect(last.nextCursor).toBeNull();
    // AND unmuting shows in the list; a stranger may not mute it (1004)
    await ines.setMuted(ids[1] as string, false);
    expect((await ines.conversations()).every((c) => !c.muted)).toBe(true);
    await expect((peers[0] as HttpClient).setMuted(ids[1] as string, true)).rejects.toBeInstanceOf(ForbiddenError);
  });
});
