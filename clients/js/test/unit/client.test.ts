import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import WebSocket from "ws";
import {
  newClientMsgId,
  ParleyClient,
  type ParleyClientOptions,
  type ReplyOf,
  type WebSocketConstructor,
} from "../../src/client.js";
import {
  ForbiddenError,
  LoginRevokedError,
  ParleyClosedError,
  ParleyTimeoutError,
  PayloadTooLargeError,
  UnauthenticatedError,
} from "../../src/errors.js";
import type { ServerEvent } from "../../src/types.js";
import { FakeServer, fakeJwt, until, type FakeSocket } from "../support/fakeSocket.js";

const C = "dm:alice:bob";
const later = (s: number) => Math.floor(Date.now() / 1000) + s;
const message = (seq: number, text = `m${seq}`) => ({
  type: "message",
  conversationId: C,
  seq,
  messageId: `M${seq}`,
  senderId: "bob",
  clientMsgId: `b${seq}`,
  body: { type: "text", text },
  ts: seq,
});
const ack = (frame: Record<string, unknown>, seq: number) => ({
  type: "ack",
  id: frame.id,
  conversationId: C,
  seq,
  messageId: `M${seq}`,
  clientMsgId: frame.clientMsgId,
  ts: seq,
});

const clients: ParleyClient[] = [];

function client(server: FakeServer, options: ParleyClientOptions = {}, provider?: (force: boolean) => string): ParleyClient {
  const token = fakeJwt("alice", later(900));
  const c = new ParleyClient("ws://ws.test/prod", provider ?? (() => token), {
    WebSocket: server.WebSocket,
    random: () => 0,
    gapGraceMs: 5,
    requestTimeoutMs: 500,
    ...options,
  });
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

describe("ParleyClient", () => {
  it("takes the WebSocket classes of browsers, Node 22 and the ws package", () => {
    expectTypeOf(WebSocket).toExtend<WebSocketConstructor>();
    expectTypeOf<typeof globalThis.WebSocket>().toExtend<WebSocketConstructor>();
    // Replies are typed from the schema's operations.
    expectTypeOf<ReplyOf<"read">["readSeq"]>().toEqualTypeOf<number>();
    expectTypeOf<ReplyOf<"signal">["delivered"]>().toEqualTypeOf<number>();
    expect(() => new ParleyClient("http://not-ws.test", "t", { WebSocket: WebSocket as WebSocketConstructor })).toThrow(TypeError);
  });

  it("connects with the token in the query, syncs, and returns the ack of a send", async () => {
    // GIVEN a server that acks sends at seq 1
    const server = new FakeServer();
    server.onFrame = (frame, socket) =>
      frame.action === "send" ? socket.push(ack(frame, 1)) : server.defaultReply(frame, socket);
    const c = client(server);
    // WHEN alice connects and sends
    await c.connect();
    const result = await c.send("hi bob", { to: "bob" });
    // THEN the socket carried her token, a sync ran first, and the ack moved the cursor
    expect(server.sockets[0]?.url).toMatch(/^ws:\/\/ws\.test\/prod\?token=/);
    expect(server.received.map((r) => r.frame.action)).toEqual(["sync", "send"]);
    expect(server.framesOf("send")[0]).toMatchObject({ to: "bob", body: { type: "text", text: "hi bob" } });
    expect(result).toMatchObject({ type: "ack", seq: 1, conversationId: C });
    expect(c.cursor(C)).toBe(1);
    expect(c.userId).toBe("alice");
    expect(c.connected).toBe(true);
  });

  it("resends the same clientMsgId after a lost socket and after 2001, never a new one", async () => {
    // GIVEN a server that drops the socket on the first send and answers 2001 to the second
    const server = new FakeServer();
    let sends = 0;
    server.onFrame = (frame, socket) => {
      if (frame.action !== "send") return server.defaultReply(frame, socket);
      sends += 1;
      if (sends === 1) socket.drop();
      else if (sends === 2) socket.push({ type: "error", id: frame.id, code: 2001, message: "not stored" });
      else socket.push(ack(frame, 1));
    };
    const c = client(server);
    await c.connect();
    // WHEN a message is sent
    const result = await c.send({ type: "custom", data: { n: 1 } }, { conversationId: C });
    // THEN three tries carried one clientMsgId, over two connections, with fresh request ids
    const tries = server.framesOf("send");
    expect(tries).toHaveLength(3);
    expect(new Set(tries.map((f) => f.clientMsgId)).size).toBe(1);
    expect(new Set(tries.map((f) => f.id)).size).toBe(3);
    expect(result.clientMsgId).toBe(tries[0]?.clientMsgId);
    expect(c.connectionCount).toBe(2);
  });

  it("makes clientMsgIds the protocol accepts, also without crypto.randomUUID (insecure pages)", () => {
    const pattern = /^[A-Za-z0-9_-]{1,64}$/;
    expect(newClientMsgId()).toMatch(pattern);
    const original = globalThis.crypto.randomUUID;
    Object.defineProperty(globalThis.crypto, "randomUUID", { value: undefined, configurable: true });
    try {
      const ids = new Set([newClientMsgId(), newClientMsgId()]);
      expect(ids.size).toBe(2);
      for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      Object.defineProperty(globalThis.crypto, "randomUUID", { value: original, configurable: true });
    }
  });

  it("resends after a timeout with the caller's clientMsgId", async () => {
    const server = new FakeServer();
    let sends = 0;
    server.onFrame = (frame, socket) => {
      if (frame.action !== "send") return server.defaultReply(frame, socket);
      if (++sends === 2) socket.push(ack(frame, 1));
    };
    const c = client(server);
    await c.connect();
    await c.send("hello", { to: "bob", clientMsgId: "mine-1", timeoutMs: 30 });
    expect(server.framesOf("send").map((f) => f.clientMsgId)).toEqual(["mine-1", "mine-1"]);
  });

  it("surfaces a non-retryable code at once as its typed error", async () => {
    const server = new FakeServer();
    server.onFrame = (frame, socket) =>
      frame.action === "send"
        ? socket.push({ type: "error", id: frame.id, code: 1004, message: "blocked" })
        : server.defaultReply(frame, socket);
    const c = client(server);
    await c.connect();
    const error = await c.send("hi", { to: "bob" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ForbiddenError);
    expect((error as ForbiddenError).code).toBe(1004);
    expect(server.framesOf("send")).toHaveLength(1);
    await expect(c.send("hi", {} as never)).rejects.toBeInstanceOf(TypeError);
  });

  it("refuses a frame over 32 KB locally, sending nothing", async () => {
    const server = new FakeServer();
    const c = client(server);
    await c.connect();
    const error = await c.send("x".repeat(33 * 1024), { to: "bob" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect((error as PayloadTooLargeError).local).toBe(true);
    expect(server.framesOf("send")).toHaveLength(0);
  });

  it("drops repeated pushes, holds a gap and fills it with sync, in order", async () => {
    // GIVEN a server whose sync returns message 2
    const server = new FakeServer();
    let syncs = 0;
    server.onFrame = (frame, socket) => {
      if (frame.action !== "sync") return server.defaultReply(frame, socket);
      syncs += 1;
      const messages = syncs > 1 ? [message(2)].map(({ type: _t, ...m }) => m) : [];
      socket.push({
        type: "sync",
        id: frame.id,
        complete: true,
        conversations: messages.length ? [{ conversationId: C, type: "dm", lastSeq: 3, readSeq: 0, hasMore: false, messages }] : [],
      });
    };
    const c = client(server);
    const seen: ServerEvent[] = [];
    c.addListener((e) => seen.push(e));
    await c.connect();
    // WHEN 1, 1 again and 3 are pushed
    const socket = server.open as FakeSocket;
    socket.push(message(1));
    socket.push(message(1));
    socket.push(message(3));
    // THEN 1, 2, 3 are delivered once each, in order
    await until(() => seen.length === 3);
    expect(seen.map((e) => (e as { seq: number }).seq)).toEqual([1, 2, 3]);
    expect(server.framesOf("sync")[1]).toMatchObject({ cursors: { [C]: 1 } });
    // AND the iterator yields the same events
    const iterated: ServerEvent[] = [];
    for await (const event of c) {
      iterated.push(event);
      if (iterated.length === 3) break;
    }
    expect(iterated.map((e) => (e as { seq: number }).seq)).toEqual([1, 2, 3]);
  });

  it("reconnects with backoff after a drop, then syncs from its cursors", async () => {
    const server = new FakeServer();
    const c = client(server);
    await c.connect();
    (server.open as FakeSocket).push(message(1));
    await c.nextEvent({ type: "message", seq: 1 }, 500);
    // WHEN the server drops the connection
    (server.open as FakeSocket).drop();
    // THEN the client reconnects and syncs from cursor 1
    await until(() => server.framesOf("sync").length === 2);
    expect(c.connectionCount).toBe(2);
    expect(server.framesOf("sync")[1]).toMatchObject({ cursors: { [C]: 1 } });
  });

  it("asks for a fresh token after a refused handshake and stops after a second 401", async () => {
    // GIVEN a server that refuses every handshake with 401
    const server = new FakeServer();
    server.handshake = () => ({ open: false, status: 401 });
    const forced: boolean[] = [];
    const c = client(server, {}, (force) => {
      forced.push(force);
      return fakeJwt("alice", later(900));
    });
    // WHEN connecting THEN the provider was forced once and the error is typed
    await expect(c.connect()).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(forced).toEqual([false, true]);
  });

  it("ends the client when the login is over during a reconnection", async () => {
    // GIVEN a connected client whose later handshakes are refused
    const server = new FakeServer();
    const c = client(server);
    await c.connect();
    server.handshake = () => ({ open: false, status: 401 });
    const iterating = (async () => {
      for await (const _ of c) {
        // no events expected
      }
    })();
    // WHEN the socket drops
    (server.open as FakeSocket).drop();
    // THEN the iterator and later calls reject with UnauthenticatedError
    await expect(iterating).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(c.read(C, 1)).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(c.closed).toBe(true);
  });

  it("stops at once, without reconnecting, when the server says the login was revoked", async () => {
    // GIVEN a connected client with a listener and an onStopped callback
    const server = new FakeServer();
    const stopped: Error[] = [];
    const c = client(server, { backoffBaseMs: 1, onStopped: (e) => stopped.push(e) });
    await c.connect();
    const seen: ServerEvent[] = [];
    c.addListener((e) => seen.push(e));
    const iterating = (async () => {
      for await (const _ of c) {
        // the error event, then the end
      }
    })();
    // WHEN the server tells the socket its login is over (section 3), then closes it
    const socket = server.open as FakeSocket;
    socket.push({ type: "error", code: 1003, message: "login revoked" });
    socket.drop(1000);
    // THEN the app hears it three ways, and no handshake is tried again
    await until(() => stopped.length === 1);
    expect(stopped[0]).toBeInstanceOf(LoginRevokedError);
    expect(stopped[0]).toBeInstanceOf(UnauthenticatedError);
    expect(c.stoppedBy).toBe(stopped[0]);
    expect(seen).toEqual([{ type: "error", code: 1003, message: "login revoked" }]);
    await expect(iterating).rejects.toBeInstanceOf(LoginRevokedError);
    await expect(c.read(C, 1)).rejects.toBeInstanceOf(LoginRevokedError);
    await new Promise((r) => setTimeout(r, 30));
    expect(server.sockets).toHaveLength(1);
    expect(c.closed).toBe(true);
  });

  it("reconnects after an unsolicited 'token expired' 1003, which is not the end of the login", async () => {
    // GIVEN a connected client
    const server = new FakeServer();
    const stopped: Error[] = [];
    const c = client(server, { backoffBaseMs: 1, onStopped: (e) => stopped.push(e) });
    await c.connect();
    // WHEN the server expels the socket for an expired token
    const socket = server.open as FakeSocket;
    socket.push({ type: "error", code: 1003, message: "token expired; renew it with the auth action" });
    socket.drop(1000);
    // THEN it connects again and goes on
    await until(() => c.connectionCount === 2);
    expect(stopped).toEqual([]);
    expect(c.closed).toBe(false);
    await c.close();
    expect(stopped).toEqual([]);
  });

  it("forces a refresh after two handshakes failed without a status, as browsers report them", async () => {
    // GIVEN a connected client whose next two handshakes fail without telling why
    const server = new FakeServer();
    const forced: boolean[] = [];
    const c = client(server, {}, (force) => {
      forced.push(force);
      return fakeJwt("alice", later(900));
    });
    await c.connect();
    let failures = 0;
    server.handshake = () => (++failures <= 2 ? { open: false } : { open: true });
    // WHEN the socket drops
    (server.open as FakeSocket).drop();
    // THEN the third attempt asks the provider for a fresh token, and connects
    await until(() => c.connectionCount === 2);
    expect(forced).toEqual([false, false, false, true]);
  });

  it("starts no timers when closed while connecting", async () => {
    const server = new FakeServer();
    const c = client(server);
    const connecting = c.connect();
    await c.close();
    await expect(connecting).rejects.toBeInstanceOf(ParleyClosedError);
    await until(() => server.sockets[0]?.readyState === 3);
  });

  it("renews its token with auth before it expires", async () => {
    // GIVEN a token that expires within the renewal margin, and a provider with a later one
    const server = new FakeServer();
    const soon = fakeJwt("alice", later(61));
    const fresh = fakeJwt("alice", later(900));
    const c = client(server, { renewMarginMs: 60_900 }, (force) => (force ? fresh : soon));
    await c.connect();
    // THEN an auth frame with the fresh token goes out on the open socket
    await until(() => server.framesOf("auth").length === 1);
    expect(server.framesOf("auth")[0]?.token).toBe(fresh);
    expect(c.connectionCount).toBe(1);
  });

  it("retries a request refused with 1003 once after auth", async () => {
    const server = new FakeServer();
    let reads = 0;
    server.onFrame = (frame, socket) => {
      if (frame.action === "read" && ++reads === 1) {
        socket.push({ type: "error", id: frame.id, code: 1003, message: "expired" });
      } else server.defaultReply(frame, socket);
    };
    const fresh = fakeJwt("alice", later(1800));
    const c = client(server, {}, (force) => (force ? fresh : fakeJwt("alice", later(900))));
    await c.connect();
    await expect(c.read(C, 4)).resolves.toMatchObject({ type: "ok", readSeq: 4 });
    expect(server.received.map((r) => r.frame.action)).toEqual(["sync", "read", "auth", "read"]);
  });

  it("speaks typing, presence, signal and ping, and times out without a reply", async () => {
    const server = new FakeServer();
    server.onFrame = (frame, socket) => {
      if (frame.action === "presence") socket.push({ type: "presence", id: frame.id, users: [{ userId: "bob", online: true, lastSeen: 5 }] });
      else if (frame.action === "signal") socket.push({ type: "ok", id: frame.id, delivered: 1 });
      else if (frame.action !== "typing") server.defaultReply(frame, socket);
    };
    const c = client(server, { requestTimeoutMs: 50 });
    await c.connect();
    await c.typing(C, true);
    expect(await c.presence(["bob"])).toEqual([{ userId: "bob", online: true, lastSeen: 5 }]);
    expect(await c.signal("bob", "call1", "offer", { payload: { sdp: "v=0" } })).toMatchObject({ delivered: 1 });
    expect(await c.ping()).toBeGreaterThanOrEqual(0);
    expect(server.framesOf("typing")[0]).toEqual({ action: "typing", conversationId: C, state: "start" });
    expect(server.framesOf("signal")[0]).toMatchObject({ to: "bob", callId: "call1", kind: "offer", payload: { sdp: "v=0" } });
    server.onFrame = () => undefined;
    await expect(c.read(C, 1)).rejects.toBeInstanceOf(ParleyTimeoutError);
  });

  it("applies edits, deletes and reactions to the messages it holds (section 9.2)", async () => {
    // GIVEN a client holding message 1 from history and receiving 2 live
    const server = new FakeServer();
    const c = client(server, { cursors: { [C]: 1 } });
    c.holdHistory([{ ...message(1, "from history"), type: undefined }]);
    await c.connect();
    const socket = server.open as FakeSocket;
    socket.push(message(2, "live"));
    // WHEN bob reacts to 1 and edits 2
    socket.push({ ...message(3), body: { type: "reaction", target: 1, key: "👍", on: true } });
    socket.push({ ...message(4), body: { type: "edit", target: 2, text: "live, edited" } });
    // THEN each event is followed by an update carrying the target's new state
    const first = await c.nextEvent({ type: "update", seq: 1 }, 500);
    const second = await c.nextEvent({ type: "update", seq: 2 }, 500);
    expect(first).toMatchObject({ message: { reactions: { "👍": ["bob"] } }, event: { seq: 3 } });
    expect(second).toMatchObject({ message: { body: { text: "live, edited" }, edited: { seq: 4, ts: 4 } } });
    expect(c.messages(C).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it("ends the iterator, rejects calls and stops listeners on close", async () => {
    const server = new FakeServer();
    const c = client(server);
    await c.connect();
    const seen: ServerEvent[] = [];
    const remove = c.addListener((e) => seen.push(e));
    remove();
    (server.open as FakeSocket).push({ type: "typing", conversationId: C, userId: "bob", state: "start" });
    await c.nextEvent({ type: "typing" }, 500);
    expect(seen).toEqual([]);
    const iterating = (async () => {
      const got: ServerEvent[] = [];
      for await (const e of c) got.push(e);
      return got;
    })();
    await c.close();
    await expect(iterating).resolves.toEqual([]);
    await expect(c.send("late", { to: "bob" })).rejects.toBeInstanceOf(ParleyClosedError);
    expect(server.sockets[0]?.readyState).toBe(3);
  });
});
