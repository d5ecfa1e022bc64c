/**
 * The live WebSocket client: the I/O shell around {@link ClientProtocol}. It owns the
 * socket, the timers and the promises; every protocol decision is made by the core.
 */

import { ClientProtocol, type MessageEvent, type UpdateEvent } from "./core/protocol.js";
import { ReconnectSchedule } from "./core/backoff.js";
import { encodeFrame, type JsonObject } from "./core/frames.js";
import { DEFAULT_RESEND_POLICY, nextSendDelay, sendFrame, type ResendPolicy } from "./core/resend.js";
import type { HeldMessage } from "./core/rich.js";
import type { Cursors } from "./core/sequencer.js";
import { jwtClaims, renewDelay, tokenExpiresAt } from "./core/tokens.js";
import {
  LoginRevokedError,
  ParleyClientError,
  ParleyClosedError,
  ParleyConnectionError,
  ParleyError,
  ParleyTimeoutError,
  UnauthenticatedError,
} from "./errors.js";
import { EventQueue } from "./queue.js";
import type { Operations } from "./generated/asyncapi.js";
import type { Ack, Body, ErrorEvent, PresenceUser, ServerEvent, SignalKind, SyncConversation } from "./types.js";

/** The success reply of a WebSocket action, as the schema declares it. */
export type ReplyOf<A extends keyof Operations> = Exclude<Operations[A]["reply"], ErrorEvent>;

/**
 * `(forceRefresh) => accessToken`. Called with `false` before every connection attempt
 * (return a cached token if it is still good) and with `true` after the server refused the
 * token: then it must get a new one. Throwing an error with code 1003 ends the client.
 */
export type TokenProvider = (forceRefresh: boolean) => Promise<string> | string;

/** The part of the WHATWG `WebSocket` the client uses (browsers, Node 22, `ws`). */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType?: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // `any`: each runtime passes its own event classes (DOM events, `ws`'s), read defensively.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  addEventListener(type: "open" | "message" | "error" | "close", listener: (event: any) => void): void;
}

/** A `WebSocket` constructor: `globalThis.WebSocket`, or `WebSocket` from the `ws` package. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** A callback run for every delivered event; exceptions it throws are ignored. */
export type EventListener = (event: ServerEvent) => void;

/** Options of {@link ParleyClient}; times in milliseconds. */
export interface ParleyClientOptions {
  /** The `WebSocket` class; defaults to `globalThis.WebSocket` (pass one on Node 20). */
  WebSocket?: WebSocketConstructor;
  /** How long each request waits for its reply, including a reconnection. */
  requestTimeoutMs?: number;
  /** How many times `send` tries a message in all. */
  sendAttempts?: number;
  /** Error codes after which `send` repeats the same frame. */
  retryCodes?: Iterable<number>;
  /** A `ping` action this often keeps the socket under API Gateway's 10-minute idle limit. */
  pingIntervalMs?: number;
  /** Reconnect after an unexpected drop. */
  reconnect?: boolean;
  /** Full-jitter reconnect backoff: `base` doubling up to `cap`. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Give up (and end the client) after this many failed reconnection attempts in a row. */
  maxReconnectAttempts?: number;
  /** A connection up this long resets the backoff. */
  stableAfterMs?: number;
  /** Cursors to start from (`exportCursors()` of an earlier run). */
  cursors?: Cursors;
  /** Sync once connected / after every reconnection. */
  syncOnConnect?: boolean;
  syncOnReconnect?: boolean;
  /** Renew the socket's token with `auth` this long before it expires (0: never). */
  renewMarginMs?: number;
  /** `limit` of each sync request (the server's default when absent). */
  syncLimit?: number;
  /** A conversation without a cursor starts at 0 (its older messages are synced). */
  backfillUnknown?: boolean;
  /** Wait this long for a late push before filling a gap with `sync`. */
  gapGraceMs?: number;
  /** Syncs that may fail to fill a gap before the held messages are delivered anyway. */
  gapRetries?: number;
  /** How long one WebSocket handshake may take. */
  openTimeoutMs?: number;
  /** Events kept for the iterator before the oldest are dropped. */
  maxBufferedEvents?: number;
  /** Messages held per conversation to apply edits, deletes and reactions (0: none). */
  keepMessages?: number;
  /** The random source of the backoff (tests make it deterministic). */
  random?: () => number;
  /** Receives the client's diagnostics; silent by default. */
  logger?: Pick<Console, "debug" | "info" | "warn" | "error">;
  /**
   * Called once when the client stops for good on its own (not after `close()`): with a
   * {@link LoginRevokedError} when the server ended the login on the open socket, an
   * {@link UnauthenticatedError} when no token is accepted any more, or a connection error
   * after `maxReconnectAttempts`. The app's cue to sign out (e.g. `http.clearTokens()`).
   */
  onStopped?: (error: Error) => void;
}

/** Options of {@link ParleyClient.send}: exactly one of `to` and `conversationId`. */
export type SendOptions = (
  | { /** The recipient's userId: their direct conversation. */ to: string; conversationId?: undefined }
  | { /** A conversation the sender is a member of. */ conversationId: string; to?: undefined }
) & {
  /** The idempotency key; a fresh UUID by default. The same one is used for every retry. */
  clientMsgId?: string;
  /** How long each try waits for its ack. */
  timeoutMs?: number;
  /** How many tries in all. */
  attempts?: number;
};

/** What one {@link ParleyClient.sync} call brought. */
export interface SyncResult {
  /** The messages it delivered (also emitted as events), in delivery order. */
  messages: MessageEvent[];
  /** Per conversation seen, its last summary (no messages). */
  conversations: Record<string, Omit<SyncConversation, "messages">>;
  /** How many `sync` requests it took. */
  rounds: number;
  /** False only when the server kept answering `complete: false` without progress. */
  complete: boolean;
}

/** Which events {@link ParleyClient.nextEvent} waits for: equal fields, and a predicate. */
export type EventFilter = Partial<Record<string, unknown>> & {
  type?: string;
  predicate?: (event: ServerEvent) => boolean;
};

const NOOP_LOGGER = { debug() {}, info() {}, warn() {}, error() {} };

interface Pending {
  resolve: (frame: JsonObject & { type: string }) => void;
  reject: (error: unknown) => void;
}

interface Waiting {
  resolve: (socket: WebSocketLike) => void;
  reject: (error: unknown) => void;
}

/**
 * One user's live connection to the Parley WebSocket API.
 *
 * - **Requests** (`send`, `sync`, `read`, ...) wait for the reply with the same request id,
 *   at most `requestTimeoutMs`, including a reconnection. Server errors reject with the
 *   {@link ParleyError} subclass of their code. A request refused with 1003 (token expired
 *   on an open socket) is retried once after renewing the token with `auth`.
 * - **Sending** is idempotent: `send` picks one `clientMsgId` and repeats the same frame after
 *   a timeout, a lost connection or error 2001; the server stores it once.
 * - **Receiving**: pushed events go to listeners and to the async iterator. Messages pass a
 *   per-conversation sequencer: repeats are dropped, a message ahead of the cursor is held
 *   and a `sync` fills the hole. Own acked messages are not delivered but move the cursor.
 *   Edits, deletes and reactions are applied to the messages held (`update` events).
 * - **Connection**: after an unexpected drop it reconnects with full-jitter backoff, then
 *   syncs. The token is renewed with `auth` before it expires.
 */
export class ParleyClient implements AsyncIterable<ServerEvent> {
  readonly wsUrl: string;
  private readonly tokenProvider: TokenProvider;
  private readonly WebSocketClass: WebSocketConstructor;
  private readonly protocol: ClientProtocol;
  private readonly schedule: ReconnectSchedule;
  private readonly queue: EventQueue<ServerEvent>;
  private readonly listeners = new Set<EventListener>();
  private readonly pending = new Map<string, Pending>();
  private readonly waiting = new Set<Waiting>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly sleepers = new Set<() => void>();
  private readonly log: NonNullable<ParleyClientOptions["logger"]>;
  private readonly resend: ResendPolicy;
  private readonly opts: Required<
    Omit<ParleyClientOptions, "WebSocket" | "cursors" | "logger" | "random" | "syncLimit" | "maxReconnectAttempts" | "retryCodes" | "syncOnReconnect" | "onStopped">
  > & Pick<ParleyClientOptions, "syncLimit" | "maxReconnectAttempts"> & { syncOnReconnect: boolean };
  private readonly random: () => number;
  private readonly onStopped: ((error: Error) => void) | undefined;
  private socket: WebSocketLike | undefined;
  private token: string | undefined;
  private started = false;
  private closing = false;
  private fatal: Error | undefined;
  private syncChain: Promise<unknown> = Promise.resolve();
  private gapFilling = false;
  private renewing: Promise<string> | undefined;
  private renewTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private reconnecting = false;
  /** Unexplained handshake failures in a row (a browser cannot see a 401). */
  private opaqueFailures = 0;
  /** How many connections were opened (1 after connect, +1 per reconnection). */
  connectionCount = 0;

  /**
   * @param wsUrl the WebSocket URL (`ws://` or `wss://`); `?token=` is added.
   * @param tokenProvider e.g. `http.tokenProvider`, or a fixed token string.
   */
  constructor(wsUrl: string, tokenProvider: TokenProvider | string, options: ParleyClientOptions = {}) {
    const url = new URL(wsUrl);
    if (url.protocol !== "ws:" && url.protocol !== "wss:") {
      throw new TypeError(`not a ws(s) URL: ${wsUrl}`);
    }
    this.wsUrl = wsUrl;
    this.tokenProvider = typeof tokenProvider === "string" ? () => tokenProvider : tokenProvider;
    const WebSocketClass =
      options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketClass) {
      throw new TypeError(
        "no global WebSocket (Node before 22): pass options.WebSocket, e.g. the one of the 'ws' package",
      );
    }
    this.WebSocketClass = WebSocketClass;
    this.random = options.random ?? Math.random;
    this.onStopped = options.onStopped;
    this.log = options.logger ?? NOOP_LOGGER;
    const syncOnConnect = options.syncOnConnect ?? true;
    this.opts = {
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      sendAttempts: options.sendAttempts ?? DEFAULT_RESEND_POLICY.attempts,
      pingIntervalMs: options.pingIntervalMs ?? 300_000,
      reconnect: options.reconnect ?? true,
      backoffBaseMs: options.backoffBaseMs ?? 500,
      backoffCapMs: options.backoffCapMs ?? 30_000,
      maxReconnectAttempts: options.maxReconnectAttempts,
      stableAfterMs: options.stableAfterMs ?? 60_000,
      syncOnConnect,
      syncOnReconnect: options.syncOnReconnect ?? syncOnConnect,
      renewMarginMs: options.renewMarginMs ?? 60_000,
      syncLimit: options.syncLimit,
      backfillUnknown: options.backfillUnknown ?? true,
      gapGraceMs: options.gapGraceMs ?? 200,
      gapRetries: options.gapRetries ?? 3,
      openTimeoutMs: options.openTimeoutMs ?? 10_000,
      maxBufferedEvents: options.maxBufferedEvents ?? 10_000,
      keepMessages: options.keepMessages ?? 500,
    };
    this.resend = {
      ...DEFAULT_RESEND_POLICY,
      attempts: this.opts.sendAttempts,
      retryCodes: new Set(options.retryCodes ?? DEFAULT_RESEND_POLICY.retryCodes),
    };
    this.protocol = new ClientProtocol({
      cursors: options.cursors ?? {},
      backfillUnknown: this.opts.backfillUnknown,
      keepMessages: this.opts.keepMessages,
    });
    this.schedule = new ReconnectSchedule(
      this.opts.backoffBaseMs,
      this.opts.backoffCapMs,
      this.opts.stableAfterMs,
      this.random,
    );
    this.queue = new EventQueue<ServerEvent>(this.opts.maxBufferedEvents);
  }

  // ------------------------------------------------------------------ state

  /** True while a socket is open. */
  get connected(): boolean {
    return this.socket !== undefined && !this.closed;
  }

  /** True after `close()` or a fatal error. */
  get closed(): boolean {
    return this.closing || this.fatal !== undefined;
  }

  /** Why the client stopped on its own (e.g. a {@link LoginRevokedError}); undefined otherwise. */
  get stoppedBy(): Error | undefined {
    return this.fatal;
  }

  /** The user of the current token (its `sub`), once connected. */
  get userId(): string | undefined {
    const sub = this.token ? jwtClaims(this.token).sub : undefined;
    return typeof sub === "string" ? sub : undefined;
  }

  /** Events discarded because more than `maxBufferedEvents` were waiting. */
  get droppedEvents(): number {
    return this.queue.dropped;
  }

  /** Every cursor, `{conversationId: seq}`, to persist and pass back as `cursors`. */
  exportCursors(): Cursors {
    return this.protocol.sequencer.exportCursors();
  }

  /** Set cursors (e.g. restored from storage); `replace` forgets all others. */
  importCursors(cursors: Cursors, replace = false): void {
    this.protocol.sequencer.importCursors(cursors, replace);
  }

  /** One conversation's cursor, undefined if this client has not seen it. */
  cursor(conversationId: string): number | undefined {
    return this.protocol.sequencer.cursor(conversationId);
  }

  /** The messages held for one conversation, in their current state (section 9.2). */
  messages(conversationId: string): HeldMessage[] {
    return this.protocol.store?.messages(conversationId) ?? [];
  }

  /** Hold history messages (e.g. `http.history(...)`'s) so later events apply to them. */
  holdHistory(messages: readonly JsonObject[]): void {
    this.protocol.holdHistory(messages);
  }

  // ------------------------------------------------------------- lifecycle

  /** Open the connection (and sync, with `syncOnConnect`). */
  async connect(): Promise<void> {
    if (this.closed) throw this.fatal ?? new ParleyClosedError("client closed");
    if (this.started) throw new ParleyClientError("already connected");
    this.started = true;
    try {
      this.attach(await this.open());
    } catch (error) {
      this.started = false;
      throw error;
    }
    // close() may have run while the handshake was in flight: start no timers then.
    if (this.closed) throw this.fatal ?? new ParleyClosedError("client closed");
    if (this.opts.pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => void this.keepalive(), this.opts.pingIntervalMs);
    }
    if (this.opts.syncOnConnect) await this.sync();
  }

  /** Close for good: pending calls reject with {@link ParleyClosedError}, the iterator ends. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.teardown(new ParleyClosedError("client closed"));
    const socket = this.socket;
    this.socket = undefined;
    if (socket) closeQuietly(socket, 1000, "client closed");
  }

  // ---------------------------------------------------------------- events

  /** Call `listener(event)` for every delivered event; returns a remover. */
  addListener(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Delivered events until the client is closed (one consumer; events are removed). */
  async *events(): AsyncGenerator<ServerEvent, void, undefined> {
    for (;;) {
      let event: ServerEvent;
      try {
        event = await this.queue.take();
      } catch (error) {
        if (error instanceof ParleyClosedError) return;
        throw error;
      }
      yield event;
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<ServerEvent> {
    return this.events();
  }

  /**
   * The first waiting or future event whose fields equal those of `filter` (and that
   * `filter.predicate` accepts); others stay queued.
   */
  nextEvent(filter: EventFilter = {}, timeoutMs?: number): Promise<ServerEvent> {
    const { predicate, ...fields } = filter;
    return this.queue.take(
      (event) =>
        Object.entries(fields).every(([k, v]) => (event as unknown as JsonObject)[k] === v) &&
        (!predicate || predicate(event)),
      timeoutMs,
    );
  }

  // --------------------------------------------------------------- actions

  /**
   * Send a message and return its `ack`. `body` is a string (a text body) or a body object.
   * One `clientMsgId` is used for every try: after a timeout, a lost connection or a
   * retryable code (2001) the same frame goes again, so the message is stored once.
   */
  async send(body: string | Body, options: SendOptions): Promise<Ack> {
    const fullBody = (typeof body === "string" ? { type: "text", text: body } : body) as JsonObject;
    // sendFrame refuses both or neither target (callers without type checking may pass either).
    const frame = sendFrame(fullBody, options, options.clientMsgId ?? newClientMsgId());
    const policy = options.attempts ? { ...this.resend, attempts: options.attempts } : this.resend;
    for (let tried = 1; ; tried++) {
      try {
        const ack = await this.request(frame, { timeoutMs: options.timeoutMs });
        for (const event of this.protocol.acked(ack)) this.emit(event as ServerEvent);
        this.scheduleGapFill();
        return ack as unknown as Ack;
      } catch (error) {
        const delay = this.closed ? undefined : nextSendDelay(error, tried, policy, this.random);
        if (delay === undefined) throw error;
        this.log.info(`send ${String(frame.clientMsgId)}: try ${tried + 1} in ${Math.round(delay)} ms (${String(error)})`);
        await this.sleep(delay);
      }
    }
  }

  /**
   * Fetch everything above the cursors, looping until the server says `complete`. Messages
   * go through de-duplication and ordering (emitted as events once). Calls run one at a time.
   */
  sync(options: { limit?: number } = {}): Promise<SyncResult> {
    const run = this.syncChain.then(() => this.syncNow(options.limit ?? this.opts.syncLimit));
    this.syncChain = run.catch(() => undefined);
    return run;
  }

  /** Mark `conversationId` read up to `seq`. */
  async read(conversationId: string, seq: number): Promise<ReplyOf<"read">> {
    return (await this.request({ action: "read", conversationId, seq })) as unknown as ReplyOf<"read">;
  }

  /** Tell the other members you started or stopped typing (no reply on success). */
  async typing(conversationId: string, state: "start" | "stop" | boolean = "start"): Promise<void> {
    const value = typeof state === "boolean" ? (state ? "start" : "stop") : state;
    const data = encodeFrame({ action: "typing", conversationId, state: value });
    const socket = await this.waitConnected(this.opts.requestTimeoutMs);
    socket.send(data);
  }

  /** Who is online: `[{userId, online, lastSeen}]` (at most 100 ids). */
  async presence(userIds: readonly string[]): Promise<PresenceUser[]> {
    const reply = await this.request({ action: "presence", userIds: [...userIds] });
    return (Array.isArray(reply.users) ? reply.users : []) as PresenceUser[];
  }

  /** Relay a call-signalling frame to `to` (one connection of theirs with `toConnection`). */
  async signal(
    to: string,
    callId: string,
    kind: SignalKind,
    options: { payload?: unknown; toConnection?: string } = {},
  ): Promise<ReplyOf<"signal">> {
    const frame: JsonObject = { action: "signal", to, callId, kind };
    if (options.payload !== undefined) frame.payload = options.payload;
    if (options.toConnection !== undefined) frame.toConnection = options.toConnection;
    return (await this.request(frame)) as unknown as ReplyOf<"signal">;
  }

  /** Send `ping`; resolves with the round trip in milliseconds. */
  async ping(): Promise<number> {
    const started = Date.now();
    await this.request({ action: "ping" }, { renew: false });
    return Date.now() - started;
  }

  /** Present a fresh access token on the open socket (`auth` → `ok`). */
  async auth(accessToken: string): Promise<ReplyOf<"auth">> {
    const reply = await this.request({ action: "auth", token: accessToken }, { renew: false });
    this.token = accessToken;
    this.scheduleRenewal();
    return reply as unknown as ReplyOf<"auth">;
  }

  /** Get a fresh token from the provider (forcing a refresh) and `auth` with it. */
  renewToken(): Promise<string> {
    return this.renewUnlessChanged(this.token);
  }

  /**
   * Send any frame with a fresh request id and return the reply (an `error` reply rejects).
   * For tools and tests; the named methods are the supported API.
   */
  async request(
    frame: JsonObject,
    options: { timeoutMs?: number | undefined; renew?: boolean } = {},
  ): Promise<JsonObject & { type: string }> {
    const token = this.token;
    try {
      return await this.requestOnce(frame, options.timeoutMs);
    } catch (error) {
      if (options.renew === false || !(error instanceof UnauthenticatedError)) throw error;
      this.log.info("request refused with 1003; renewing the token on the socket");
      try {
        await this.renewUnlessChanged(token);
      } catch (renewError) {
        this.log.warn(`token renewal failed: ${String(renewError)}`);
        throw error;
      }
    }
    return this.requestOnce(frame, options.timeoutMs);
  }

  // -------------------------------------------------------------- requests

  private async requestOnce(frame: JsonObject, timeoutMs?: number): Promise<JsonObject & { type: string }> {
    this.raiseIfStopped();
    // Refuse an oversized frame before waiting for anything (the id adds at most 64 chars).
    encodeFrame({ ...frame, id: "x".repeat(64) });
    const limit = timeoutMs ?? this.opts.requestTimeoutMs;
    const deadline = Date.now() + limit;
    const socket = await this.waitConnected(limit);
    const id = this.protocol.newRequest();
    const reply = await new Promise<JsonObject & { type: string }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.protocol.forget(id);
        reject(new ParleyTimeoutError(`no reply to '${String(frame.action)}' within ${limit} ms`));
      }, Math.max(0, deadline - Date.now()));
      const settle = <T>(fn: (value: T) => void) => (value: T) => {
        clearTimeout(timer);
        this.pending.delete(id);
        fn(value);
      };
      this.pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      try {
        socket.send(encodeFrame({ ...frame, id }));
      } catch (error) {
        this.protocol.forget(id);
        this.pending.get(id)?.reject(
          error instanceof ParleyClientError ? error : new ParleyConnectionError(`connection lost while sending: ${String(error)}`),
        );
      }
    });
    if (reply.type === "error") throw ParleyError.from(reply, { requestId: id });
    return reply;
  }

  private async syncNow(limit: number | undefined): Promise<SyncResult> {
    const result: SyncResult = { messages: [], conversations: {}, rounds: 0, complete: true };
    let stalls = 0;
    for (;;) {
      const reply = await this.request(this.protocol.syncFrame(limit));
      result.rounds += 1;
      const step = this.protocol.synced(reply);
      for (const event of step.events) this.emit(event as ServerEvent);
      result.messages.push(...step.messages);
      Object.assign(result.conversations, step.conversations);
      if (step.complete) return result;
      stalls = step.progressed ? 0 : stalls + 1;
      if (stalls >= 3) {
        this.log.warn("sync: the server keeps answering incomplete without progress");
        result.complete = false;
        return result;
      }
      if (stalls) await this.sleep(100 * stalls);
    }
  }

  private waitConnected(timeoutMs: number): Promise<WebSocketLike> {
    this.raiseIfStopped();
    if (this.socket) return Promise.resolve(this.socket);
    return new Promise<WebSocketLike>((resolve, reject) => {
      const waiter: Waiting = {
        resolve: (socket) => {
          clearTimeout(timer);
          resolve(socket);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.waiting.delete(waiter);
        reject(new ParleyTimeoutError(`not connected within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.add(waiter);
    });
  }

  private raiseIfStopped(): void {
    if (this.fatal) throw this.fatal;
    if (this.closing) throw new ParleyClosedError("client closed");
    if (!this.started) throw new ParleyClosedError("not connected: call connect() first");
  }

  // -------------------------------------------------------------- incoming

  private dispatch(raw: unknown): void {
    const text = typeof raw === "string" ? raw : raw instanceof ArrayBuffer ? new TextDecoder().decode(raw) : undefined;
    if (text === undefined) return;
    const incoming = this.protocol.receive(text);
    if (incoming.kind === "reply") {
      this.pending.get(incoming.id)?.resolve(incoming.frame);
    } else if (incoming.kind === "events") {
      for (const event of incoming.events) this.emit(event as ServerEvent);
      const ended = incoming.events.find(isLoginEnded);
      if (ended) {
        // The server ended this login (section 3): no reconnection could succeed. The
        // error event above told the listeners; calls and the iterator now reject with it.
        this.die(new LoginRevokedError(1003, typeof ended.message === "string" ? ended.message : "login revoked"));
        return;
      }
      if (incoming.gaps) this.scheduleGapFill();
    } else {
      this.log.debug(`ignoring a frame: ${incoming.reason}`);
    }
  }

  private emit(event: ServerEvent): void {
    this.queue.put(event);
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.log.error(`event listener failed: ${String(error)}`);
      }
    }
  }

  private scheduleGapFill(): void {
    if (this.gapFilling || this.closed || !this.protocol.sequencer.hasGaps()) return;
    this.gapFilling = true;
    void this.fillGaps().finally(() => {
      this.gapFilling = false;
    });
  }

  private async fillGaps(): Promise<void> {
    await this.sleep(this.opts.gapGraceMs);
    let unfilled = 0;
    while (this.protocol.sequencer.hasGaps() && !this.closed) {
      this.log.debug(`filling gaps ${JSON.stringify(this.protocol.sequencer.gaps())} with sync`);
      try {
        await this.sync();
        if (!this.protocol.sequencer.hasGaps()) return;
        unfilled += 1;
      } catch (error) {
        if (this.closed) return;
        if (error instanceof ParleyError) {
          this.log.warn(`sync to fill a gap failed: ${String(error)}`);
          unfilled += 1;
        } else {
          // Connection trouble: the sync after reconnecting will do the job.
          try {
            await this.waitConnected(this.opts.backoffCapMs + this.opts.openTimeoutMs);
          } catch {
            // still down: try again below
          }
          continue;
        }
      }
      if (unfilled >= this.opts.gapRetries) {
        this.log.warn(`sync did not fill gaps ${JSON.stringify(this.protocol.sequencer.gaps())}; delivering past them`);
        for (const event of this.protocol.flushGaps()) this.emit(event as ServerEvent);
        return;
      }
      await this.sleep(this.opts.gapGraceMs * 2 ** unfilled);
    }
  }

  // ------------------------------------------------------------ connection

  /** One connection attempt, with a forced token refresh after a refused handshake. */
  private async open(): Promise<WebSocketLike> {
    const force = this.opaqueFailures >= 2 || isExpired(this.token);
    let token = await this.tokenProvider(force);
    try {
      return await this.dial(token);
    } catch (error) {
      if (!(error instanceof HandshakeError) || error.status !== 401) throw error;
    }
    this.log.info("handshake refused with 401; asking the token provider for a fresh token");
    token = await this.tokenProvider(true);
    try {
      return await this.dial(token);
    } catch (error) {
      if (error instanceof HandshakeError && error.status === 401) {
        throw new UnauthenticatedError(1003, "WebSocket handshake refused with HTTP 401, also with a renewed token", {
          status: 401,
        });
      }
      throw error;
    }
  }

  private dial(token: string): Promise<WebSocketLike> {
    this.token = token;
    const url = new URL(this.wsUrl);
    url.searchParams.set("token", token);
    return new Promise<WebSocketLike>((resolve, reject) => {
      let socket: WebSocketLike;
      try {
        socket = new this.WebSocketClass(url.toString());
      } catch (error) {
        reject(new TypeError(`bad WebSocket URL ${this.wsUrl}: ${String(error)}`));
        return;
      }
      socket.binaryType = "arraybuffer";
      let settled = false;
      let status: number | undefined;
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new HandshakeError(`cannot connect to ${this.wsUrl}: ${message}`, status));
      };
      const timer = setTimeout(() => {
        fail("handshake timed out");
        closeQuietly(socket, 1000, "handshake timed out");
      }, this.opts.openTimeoutMs);
      socket.addEventListener("open", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(socket);
      });
      socket.addEventListener("error", (event: { message?: string; error?: { message?: string } }) => {
        const message = event?.message ?? event?.error?.message ?? "connection failed";
        status ??= handshakeStatus(message);
        fail(message);
      });
      socket.addEventListener("close", (event: { code?: number }) => {
        fail(`closed during the handshake (code ${event?.code ?? "?"})`);
        if (settled) this.onClosed(socket, event?.code);
      });
      socket.addEventListener("message", (event: { data?: unknown }) => {
        if (this.socket === socket) this.dispatch(event?.data);
      });
    });
  }

  private attach(socket: WebSocketLike): void {
    if (this.closed) {
      closeQuietly(socket, 1000, "client closed");
      return;
    }
    this.socket = socket;
    this.opaqueFailures = 0;
    this.connectionCount += 1;
    this.schedule.connected(Date.now());
    for (const waiter of [...this.waiting]) waiter.resolve(socket);
    this.waiting.clear();
    this.scheduleRenewal();
    this.log.info(`connected to ${this.wsUrl} (connection ${this.connectionCount})`);
  }

  private onClosed(socket: WebSocketLike, code: number | undefined): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.schedule.disconnected(Date.now());
    const lost = new ParleyConnectionError("connection lost before the reply");
    for (const id of this.protocol.forgetAll()) this.pending.get(id)?.reject(lost);
    if (this.closed) return;
    this.log.warn(`connection closed (code ${code ?? "?"})`);
    if (!this.opts.reconnect) {
      this.die(new ParleyConnectionError(`connection closed (code ${code ?? "?"}) and reconnect is off`));
      return;
    }
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    let failures = 0;
    try {
      while (!this.closed) {
        const max = this.opts.maxReconnectAttempts;
        if (max !== undefined && failures >= max) {
          this.die(new ParleyConnectionError(`gave up reconnecting to ${this.wsUrl} after ${failures} attempts`));
          return;
        }
        const delay = this.schedule.nextDelay();
        this.log.info(`reconnecting in ${Math.round(delay)} ms`);
        await this.sleep(delay);
        if (this.closed) return;
        try {
          this.attach(await this.open());
          if (this.opts.syncOnReconnect) {
            this.sync().catch((error: unknown) => this.log.warn(`sync after reconnecting failed: ${String(error)}`));
          }
          return;
        } catch (error) {
          if (isUnauthenticated(error)) {
            this.die(error as Error);
            return;
          }
          if (error instanceof HandshakeError && error.status === undefined) this.opaqueFailures += 1;
          this.log.warn(`reconnect failed: ${String(error)}`);
          failures += 1;
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  private async keepalive(): Promise<void> {
    const socket = this.socket;
    if (!socket || this.closed) return;
    try {
      await this.ping();
    } catch (error) {
      if (error instanceof ParleyTimeoutError && this.socket === socket) {
        this.log.warn("no pong in time; dropping the connection");
        closeQuietly(socket, 4000, "keepalive timeout");
        this.onClosed(socket, 4000);
      }
    }
  }

  private scheduleRenewal(): void {
    if (this.renewTimer !== undefined) this.clearTimer(this.renewTimer);
    this.renewTimer = undefined;
    if (this.opts.renewMarginMs <= 0 || this.closed) return;
    const delay = renewDelay(this.token, Date.now(), this.opts.renewMarginMs);
    if (delay === undefined) return;
    this.renewTimer = this.timer(() => void this.renewBeforeExpiry(0), delay);
  }

  private async renewBeforeExpiry(failures: number): Promise<void> {
    const current = this.token;
    try {
      let token = await this.tokenProvider(false);
      if (token === current) token = await this.tokenProvider(true);
      const expires = tokenExpiresAt(token);
      if (expires === undefined || expires <= (tokenExpiresAt(current) ?? 0)) {
        this.log.info("the token provider gives no later token; not renewing");
        return;
      }
      await this.auth(token);
      this.log.debug("token renewed on the open socket");
    } catch (error) {
      if (this.closed) return;
      if (error instanceof ParleyError && error.code === 1007) {
        // A server without `auth`: reconnect with the fresh token before the old one expires.
        this.log.info("the server has no 'auth' action; renewing by reconnecting");
        const socket = this.socket;
        if (socket) {
          closeQuietly(socket, 4001, "token renewal");
          this.onClosed(socket, 4001);
        }
        return;
      }
      this.log.warn(`token renewal failed: ${String(error)}`);
      if (isUnauthenticated(error) && !(error instanceof ParleyError && error.requestId)) {
        this.die(error as Error);
        return;
      }
      const retry = Math.min(60_000, 1000 * 2 ** (failures + 1));
      this.renewTimer = this.timer(() => void this.renewBeforeExpiry(failures + 1), retry);
    }
  }

  private renewUnlessChanged(stale: string | undefined): Promise<string> {
    if (this.renewing) return this.renewing;
    if (this.token !== undefined && this.token !== stale) return Promise.resolve(this.token);
    this.renewing = (async () => {
      const token = await this.tokenProvider(true);
      await this.auth(token);
      return token;
    })().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private die(error: Error): void {
    if (this.fatal || this.closing) return;
    this.log.error(`client stopped: ${String(error)}`);
    this.fatal = error;
    this.teardown(error);
    const socket = this.socket;
    this.socket = undefined;
    if (socket) closeQuietly(socket, 1000, "client stopped");
    try {
      this.onStopped?.(error);
    } catch (failure) {
      this.log.error(`onStopped failed: ${String(failure)}`);
    }
  }

  private teardown(error: Error): void {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const id of this.protocol.forgetAll()) this.pending.get(id)?.reject(error);
    for (const waiter of [...this.waiting]) waiter.reject(error);
    this.waiting.clear();
    this.queue.close(error);
    for (const wake of [...this.sleepers]) wake();
  }

  // ---------------------------------------------------------------- timers

  private timer(fn: () => void, ms: number): ReturnType<typeof setTimeout> {
    const handle = setTimeout(() => {
      this.timers.delete(handle);
      fn();
    }, ms);
    this.timers.add(handle);
    return handle;
  }

  private clearTimer(handle: ReturnType<typeof setTimeout>): void {
    clearTimeout(handle);
    this.timers.delete(handle);
  }

  /** Resolves after `ms`, or at once when the client stops (the caller then sees `closed`). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve();
        return;
      }
      const wake = () => {
        this.sleepers.delete(wake);
        resolve();
      };
      this.sleepers.add(wake);
      this.timer(wake, ms);
    });
  }
}

/** A handshake that did not open; `status` is the HTTP status when the runtime tells it. */
export class HandshakeError extends ParleyConnectionError {
  override name = "HandshakeError";
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(message);
  }
}

/** A fresh idempotency key: 128 random bits in the protocol's `A-Z a-z 0-9 _ -` (1-64 chars). */
export function newClientMsgId(): string {
  // randomUUID exists only in secure contexts (https, localhost); getRandomValues everywhere.
  if (typeof globalThis.crypto.randomUUID === "function") return globalThis.crypto.randomUUID();
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function handshakeStatus(message: string): number | undefined {
  // `ws` reports "Unexpected server response: 401"; browsers do not tell the status.
  const match = /Unexpected server response: (\d{3})/.exec(message);
  return match?.[1] ? Number(match[1]) : undefined;
}

function isExpired(token: string | undefined): boolean {
  const exp = tokenExpiresAt(token);
  return exp !== undefined && exp <= Date.now();
}

/**
 * An unsolicited `error` frame saying the login is over ("login revoked": logged out, a
 * password change, logged out everywhere, or past its absolute lifetime). An expired token
 * (also 1003, "token expired") is not: reconnecting with a fresh one works.
 */
function isLoginEnded(event: JsonObject): boolean {
  return (
    event.type === "error" &&
    event.code === 1003 &&
    (event.id === undefined || event.id === null) &&
    typeof event.message === "string" &&
    /revoked/i.test(event.message)
  );
}

function isUnauthenticated(error: unknown): boolean {
  return (
    error instanceof UnauthenticatedError ||
    (typeof error === "object" && error !== null && (error as { code?: unknown }).code === 1003)
  );
}

function closeQuietly(socket: WebSocketLike, code: number, reason: string): void {
  try {
    socket.close(code, reason);
  } catch {
    // closing a socket that is still connecting may throw; it is being dropped anyway
  }
}

export type { MessageEvent, UpdateEvent };
