/** An in-memory WebSocket and a scriptable server behind it, for the client's unit tests. */

import type { WebSocketLike } from "../../src/client.js";

type Listener = (event: unknown) => void;

/** What the fake server does with a handshake: open it, or fail it with an HTTP status. */
export type Handshake = { open: true } | { open: false; status?: number };

/** One client frame as the server saw it, and the socket it came on. */
export interface Received {
  frame: Record<string, unknown>;
  socket: FakeSocket;
}

export class FakeServer {
  sockets: FakeSocket[] = [];
  received: Received[] = [];
  /** Decides each handshake from the token; opens by default. */
  handshake: (token: string) => Handshake = () => ({ open: true });
  /** Answers a frame; the default answers pings, syncs (empty) and auth. */
  onFrame: (frame: Record<string, unknown>, socket: FakeSocket) => void = (frame, socket) =>
    this.defaultReply(frame, socket);

  readonly WebSocket = this.makeClass();

  get open(): FakeSocket | undefined {
    return this.sockets.find((s) => s.readyState === 1);
  }

  framesOf(action: string): Record<string, unknown>[] {
    return this.received.filter((r) => r.frame.action === action).map((r) => r.frame);
  }

  defaultReply(frame: Record<string, unknown>, socket: FakeSocket): void {
    const id = frame.id;
    if (frame.action === "ping") socket.push({ type: "pong", id });
    else if (frame.action === "sync") socket.push({ type: "sync", id, conversations: [], complete: true });
    else if (frame.action === "auth") socket.push({ type: "ok", id });
    else if (frame.action === "read") socket.push({ type: "ok", id, readSeq: frame.seq });
  }

  private makeClass(): new (url: string) => WebSocketLike {
    const server = this;
    return class extends FakeSocket {
      constructor(url: string) {
        super(server, url);
      }
    };
  }
}

export class FakeSocket implements WebSocketLike {
  readyState = 0;
  binaryType = "blob";
  readonly token: string;
  private readonly listeners = new Map<string, Listener[]>();

  constructor(
    private readonly server: FakeServer,
    readonly url: string,
  ) {
    this.token = new URL(url).searchParams.get("token") ?? "";
    server.sockets.push(this);
    const decision = server.handshake(this.token);
    queueMicrotask(() => {
      if (decision.open) {
        this.readyState = 1;
        this.fire("open", {});
      } else {
        this.readyState = 3;
        const message = decision.status ? `Unexpected server response: ${decision.status}` : "connection failed";
        this.fire("error", { message });
        this.fire("close", { code: 1006 });
      }
    });
  }

  addEventListener(type: string, listener: (event: never) => void): void {
    const list = this.listeners.get(type) ?? [];
    list.push(listener as Listener);
    this.listeners.set(type, list);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("socket is not open");
    const frame = JSON.parse(data) as Record<string, unknown>;
    this.server.received.push({ frame, socket: this });
    queueMicrotask(() => this.server.onFrame(frame, this));
  }

  close(code = 1000): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    queueMicrotask(() => this.fire("close", { code }));
  }

  /** The server pushes a frame to this socket. */
  push(frame: unknown): void {
    if (this.readyState !== 1) return;
    this.fire("message", { data: JSON.stringify(frame) });
  }

  /** The server drops the connection. */
  drop(code = 1006): void {
    this.close(code);
  }

  private fire(type: string, event: unknown): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

/** An unsigned JWT-shaped token with `sub` and `exp` (seconds), as the client reads it. */
export function fakeJwt(sub: string, expSeconds: number, jti = Math.random().toString(36).slice(2)): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, exp: expSeconds, jti })}.sig`;
}

/** Resolves once `condition()` holds, polling every few milliseconds (fails after `ms`). */
export async function until(condition: () => boolean, ms = 2000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > ms) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 2));
  }
}
