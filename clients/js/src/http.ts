/** The HTTP API client: accounts, groups, conversations, history, attachments, devices. */

import { tokenExpiresWithin, jwtClaims, tokenExpiresAt } from "./core/tokens.js";
import { checkDifficulty, solveChallenge, type ChallengeSolver } from "./core/pow.js";
import {
  InvalidParamError,
  ParleyClientError,
  ParleyConnectionError,
  ParleyError,
  ParleyTimeoutError,
  ParleyUploadError,
  UnauthenticatedError,
  isObject,
} from "./errors.js";
import type { JsonObject } from "./core/frames.js";
import type {
  Challenge,
  ConversationList,
  ConversationSummary,
  DeviceBody,
  DeviceEntry,
  DeviceList,
  DeviceRegistered,
  ExportCreated,
  ExportStatus,
  Group,
  Health,
  HistoryPage,
  IceServers,
  MuteSetting,
  Profile,
  PushConfig,
  Registered,
  Role,
  TokenPair,
} from "./generated/openapi.js";

export type {
  Challenge,
  DeviceRegistered,
  ExportStatus,
  Group,
  GroupMember,
  HistoryPage,
  IceServer,
  IceServers,
  MuteSetting,
  Profile,
  PushConfig,
  Role,
  TokenPair,
} from "./generated/openapi.js";

/** One of the caller's conversations, with `muted` (protocol 1.1 section 11). */
export type Conversation = ConversationSummary;

/** A page of `GET /conversations`: `nextCursor` is null on the last page (section 11). */
export type ConversationPage = ConversationList;

/** Section 9.3: `POST /attachments`. */
export interface AttachmentUpload {
  attachmentId: string;
  upload: { url: string; fields: Record<string, string> };
  expiresIn: number;
}

/** Section 9.3: `GET /attachments/{id}`. */
export interface Attachment {
  attachmentId: string;
  conversationId: string;
  name: string;
  size: number;
  contentType: string;
  url: string;
  expiresIn: number;
}

/** Section 10: what `POST /devices` takes (a Web Push subscription, or an FCM or APNs token). */
export type DeviceRegistration = DeviceBody;

/** Section 10: one of the caller's devices. */
export type Device = DeviceEntry;

/** Options of {@link HttpClient}. */
export interface HttpClientOptions {
  /** A token pair to start with (e.g. loaded from storage). */
  accessToken?: string;
  refreshToken?: string;
  /** How long each request may take. */
  timeoutMs?: number;
  /** Called with the new pair after each login and refresh, and with null after logout. */
  onTokens?: (tokens: TokenPair | null) => void;
  /** Refresh and retry once on 401, and refresh a token about to expire before use. */
  autoRefresh?: boolean;
  /** "About to expire": within this many milliseconds. */
  refreshMarginMs?: number;
  /** The `fetch` to use (tests pass a fake); `globalThis.fetch` by default. */
  fetch?: typeof fetch;
  /**
   * Solves registration challenges (protocol section 13). By default a Blob URL Web Worker in
   * browsers (falling back to steps on the main thread when a Content-Security-Policy refuses
   * it) and a loop elsewhere; a page may pass a worker served from its own origin.
   */
  solveChallenge?: ChallengeSolver;
}

/** Options of {@link HttpClient.request}. */
export interface RequestOptions {
  query?: Record<string, string | number | boolean | null | undefined>;
  /** Send the access token (and refresh on 401). */
  auth?: boolean;
  /**
   * Refresh and retry once when answered 401 (with `autoRefresh`); false for a route whose
   * 401 is about what was sent, not the token (a wrong password must not be tried twice).
   */
  retryUnauthenticated?: boolean;
}

/**
 * Client of the Parley HTTP API.
 *
 * It keeps the current token pair: {@link login} and {@link refresh} store it, and
 * authenticated calls send the access token. With `autoRefresh` (the default) a call
 * answered 401 is retried once after refreshing, and a token about to expire is refreshed
 * before use. One refresh runs at a time and concurrent callers await it, so a refresh
 * token is never presented twice (the server would revoke the login).
 *
 * Server errors reject with the {@link ParleyError} subclass of their code; an unreachable
 * server with {@link ParleyConnectionError}; no answer in time with {@link ParleyTimeoutError}.
 */
export class HttpClient {
  readonly baseUrl: string;
  accessToken: string | undefined;
  refreshToken: string | undefined;
  private readonly options: Required<Pick<HttpClientOptions, "timeoutMs" | "autoRefresh" | "refreshMarginMs">> &
    Pick<HttpClientOptions, "onTokens">;
  private readonly fetchImpl: typeof fetch;
  private readonly solver: ChallengeSolver;
  private refreshing: Promise<TokenPair> | undefined;
  private loggedInAs: string | undefined;
  /** When to refresh the current access token (ms), from its reply's `expiresIn`. */
  private refreshAt: number | undefined;
  /** When the current access token expires (ms), from its reply's `expiresIn`. */
  private expiresAt: number | undefined;

  constructor(baseUrl: string, options: HttpClientOptions = {}) {
    const url = new URL(baseUrl);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`not an http(s) URL: ${baseUrl}`);
    }
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.accessToken = options.accessToken;
    this.refreshToken = options.refreshToken;
    this.options = {
      timeoutMs: options.timeoutMs ?? 30_000,
      autoRefresh: options.autoRefresh ?? true,
      refreshMarginMs: options.refreshMarginMs ?? 30_000,
      onTokens: options.onTokens,
    };
    if (!options.fetch && typeof globalThis.fetch !== "function") {
      throw new TypeError("no global fetch: pass options.fetch");
    }
    // A bare reference to window.fetch must be called with window as `this`.
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.solver = options.solveChallenge ?? solveChallenge;
  }

  /** The logged-in user (from the last login, else the access token's `sub`). */
  get userId(): string | undefined {
    if (this.loggedInAs) return this.loggedInAs;
    const sub = this.accessToken ? jwtClaims(this.accessToken).sub : undefined;
    return typeof sub === "string" ? sub : undefined;
  }

  /**
   * When the current access token expires (ms since the epoch): from the `expiresIn` of the
   * reply that brought it (shorter near the end of a login's absolute lifetime), else from
   * the token's `exp`; undefined when neither tells.
   */
  get accessTokenExpiresAt(): number | undefined {
    return this.expiresAt ?? tokenExpiresAt(this.accessToken);
  }

  // ---------------------------------------------------------------- tokens

  /**
   * A token provider for {@link ParleyClient}: the current access token, refreshed first when
   * `forceRefresh` is true or the token is about to expire. Bound: pass it as is.
   *
   * @throws UnauthenticatedError (1003) when not logged in or the refresh was refused.
   */
  readonly tokenProvider = async (forceRefresh = false): Promise<string> => {
    const token = this.accessToken;
    if (token === undefined && this.refreshToken === undefined) {
      throw new UnauthenticatedError(1003, "not logged in", { local: true });
    }
    if (this.refreshToken !== undefined && (forceRefresh || this.dueForRefresh(token))) {
      await this.refreshUnlessChanged(token);
    }
    if (this.accessToken === undefined) throw new UnauthenticatedError(1003, "not logged in", { local: true });
    return this.accessToken;
  };

  /** Refresh, unless the `stale` access token was already replaced (or a refresh runs). */
  private refreshUnlessChanged(stale: string | undefined): Promise<unknown> {
    if (this.refreshing) return this.refreshing;
    if (this.accessToken !== undefined && this.accessToken !== stale) return Promise.resolve();
    return this.runRefresh(undefined);
  }

  /** Start a refresh that every concurrent caller shares. */
  private runRefresh(refreshToken: string | undefined): Promise<TokenPair> {
    if (this.refreshing) return this.refreshing;
    const token = refreshToken ?? this.refreshToken;
    if (!token) return Promise.reject(new UnauthenticatedError(1003, "no refresh token", { local: true }));
    this.refreshing = (async () => {
      const tokens = expectTokens(await this.call("POST", "/auth/refresh", { refreshToken: token }, undefined));
      this.storeTokens(tokens);
      return tokens;
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private storeTokens(tokens: TokenPair): void {
    this.accessToken = tokens.accessToken;
    this.refreshToken = tokens.refreshToken;
    const lifetimeMs = typeof tokens.expiresIn === "number" && tokens.expiresIn > 0 ? tokens.expiresIn * 1000 : undefined;
    const now = Date.now();
    this.expiresAt = lifetimeMs === undefined ? undefined : now + lifetimeMs;
    // At most half of its life early: an access token cut short near the login's absolute
    // end (protocol section 3) is not refreshed again at once, and again, and again.
    this.refreshAt =
      lifetimeMs === undefined ? undefined : now + Math.max(lifetimeMs - this.options.refreshMarginMs, lifetimeMs / 2);
    this.options.onTokens?.(tokens);
  }

  /** Forget the token pair (the login is over), and tell `onTokens`. */
  clearTokens(): void {
    const had = this.accessToken !== undefined || this.refreshToken !== undefined;
    this.accessToken = undefined;
    this.refreshToken = undefined;
    this.loggedInAs = undefined;
    this.expiresAt = undefined;
    this.refreshAt = undefined;
    if (had) this.options.onTokens?.(null);
  }

  /** True when `token` is missing or should be refreshed before use. */
  private dueForRefresh(token: string | undefined): boolean {
    if (token === undefined) return true;
    if (token === this.accessToken && this.refreshAt !== undefined) return Date.now() >= this.refreshAt;
    return tokenExpiresWithin(token, this.options.refreshMarginMs, Date.now());
  }

  // ------------------------------------------------------------- transport

  /**
   * One request; resolves with the decoded JSON body (undefined for an empty one).
   * `path` is appended to the base URL as is (encode path segments yourself).
   */
  async request<T = unknown>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const query = Object.entries(options.query ?? {}).filter(([, v]) => v !== undefined && v !== null);
    const fullPath = query.length ? `${path}?${new URLSearchParams(query.map(([k, v]) => [k, String(v)]))}` : path;
    if (options.auth === false) return (await this.call(method, fullPath, body, undefined)) as T;
    let token = this.accessToken;
    if (this.options.autoRefresh && this.refreshToken !== undefined && (this.dueForRefresh(token) || this.refreshing)) {
      await this.refreshUnlessChanged(token);
      token = this.accessToken;
    }
    try {
      return (await this.call(method, fullPath, body, token)) as T;
    } catch (error) {
      if (
        !(error instanceof ParleyError) ||
        error.status !== 401 ||
        !this.options.autoRefresh ||
        !this.refreshToken ||
        options.retryUnauthenticated === false
      ) {
        throw error;
      }
    }
    await this.refreshUnlessChanged(token);
    return (await this.call(method, fullPath, body, this.accessToken)) as T;
  }

  private async call(method: string, path: string, body: unknown, token: string | undefined): Promise<unknown> {
    const url = this.baseUrl + path;
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await this.fetchWithTimeout(url, init, `${method} ${url}`);
    const text = await response.text();
    if (!response.ok) throw httpError(response.status, text, response.headers.get("Retry-After"));
    if (!text.trim()) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ParleyError(3001, `${method} ${url}: the response is not JSON`, { status: response.status });
    }
  }

  private async fetchWithTimeout(url: string, init: RequestInit, what: string): Promise<Response> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
    try {
      return await this.fetchImpl(url, { ...init, signal: controller.signal });
    } catch (error) {
      if (controller.signal.aborted) {
        throw new ParleyTimeoutError(`${what}: no response within ${this.options.timeoutMs} ms`);
      }
      throw new ParleyConnectionError(`${what} failed: ${String(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  // ---------------------------------------------------------------- routes

  /** `GET /health` → `{status: "ok"}` once the stack can serve. */
  health(): Promise<Health> {
    return this.request("GET", "/health", undefined, { auth: false });
  }

  /**
   * `GET /auth/challenge` → `{challenge, difficulty, expiresIn}`, or null when the server
   * asks no registration challenge (it answers 404, code 1002; protocol section 13).
   */
  async registrationChallenge(): Promise<Challenge | null> {
    try {
      const body = await this.request("GET", "/auth/challenge", undefined, { auth: false });
      if (!isObject(body) || typeof body.challenge !== "string" || typeof body.difficulty !== "number") {
        throw new ParleyError(3001, "GET /auth/challenge: no 'challenge' and 'difficulty'");
      }
      return body as unknown as Challenge;
    } catch (error) {
      if (error instanceof ParleyError && error.status === 404) return null;
      throw error;
    }
  }

  /**
   * Create an account → `{userId}`; a taken id rejects with ConflictError (1008).
   *
   * When the server asks a registration challenge (section 13) it is solved first (about
   * 2^difficulty SHA-256, a million at the default; see `solveChallenge` of the options) and
   * sent along; a refusal with 1001 (the challenge expired meanwhile, or was used) is tried
   * once more with a fresh challenge. A difficulty above 32 is refused without solving.
   */
  async register(userId: string, password: string, displayName?: string): Promise<Registered> {
    const body: JsonObject = { userId, password };
    if (displayName !== undefined) body.displayName = displayName;
    for (let attempt = 1; ; attempt++) {
      const challenge = await this.registrationChallenge();
      if (challenge === null) return this.request("POST", "/auth/register", body, { auth: false });
      try {
        checkDifficulty(challenge.difficulty);
      } catch (error) {
        throw new ParleyClientError(`not solving the registration challenge: ${(error as Error).message}`);
      }
      const solution = await this.solver(challenge.challenge, challenge.difficulty);
      try {
        return await this.request(
          "POST",
          "/auth/register",
          { ...body, challenge: challenge.challenge, solution },
          { auth: false },
        );
      } catch (error) {
        if (attempt >= 2 || !(error instanceof InvalidParamError)) throw error;
      }
    }
  }

  /** Log in and keep the pair. Wrong credentials: UnauthenticatedError (1003). */
  async login(userId: string, password: string): Promise<TokenPair> {
    const tokens = expectTokens(await this.request("POST", "/auth/login", { userId, password }, { auth: false }));
    this.loggedInAs = userId;
    this.storeTokens(tokens);
    return tokens;
  }

  /**
   * Exchange the refresh token (default: the stored one) for a new pair, and keep it. A
   * refresh already running is shared, not repeated: a spent refresh token revokes the login.
   */
  refresh(refreshToken?: string): Promise<TokenPair> {
    return this.runRefresh(refreshToken);
  }

  /** End the login (default: the stored one) and forget the stored pair. */
  async logout(refreshToken?: string): Promise<void> {
    const token = refreshToken ?? this.refreshToken;
    if (!token) throw new UnauthenticatedError(1003, "no refresh token", { local: true });
    await this.request("POST", "/auth/logout", { refreshToken: token }, { auth: false });
    if (refreshToken === undefined || refreshToken === this.refreshToken) this.clearTokens();
  }

  /**
   * `POST /auth/logout-all`: end every login of the caller, this one included (their open
   * sockets are closed), then forget the stored pair.
   */
  async logoutAll(): Promise<void> {
    try {
      await this.request("POST", "/auth/logout-all");
    } catch (error) {
      // Refused with 1003 even after a refresh: this login had ended already.
      if (error instanceof UnauthenticatedError) this.clearTokens();
      throw error;
    }
    this.clearTokens();
  }

  /**
   * `POST /me/password`: replace the password (the new one 8-128 characters). Every other
   * login of the caller ends; this one stays. A wrong `oldPassword` rejects with
   * UnauthenticatedError (1003) and counts as a failed login of the account (past the
   * budget: RateLimitedError, 1005, with `retryAfterMs`); it is never sent twice.
   */
  async changePassword(oldPassword: string, newPassword: string): Promise<void> {
    // A fresh token first: a 401 here must mean the old password, not a token's expiry.
    await this.tokenProvider(false);
    await this.request("POST", "/me/password", { oldPassword, newPassword }, { retryUnauthenticated: false });
  }

  /**
   * Section 12: `DELETE /me`, delete the caller's account. A wrong password rejects with
   * UnauthenticatedError (1003) and counts as a failed login; it is never sent twice. On
   * success every login ends (this one included) and the stored pair is forgotten; the
   * user's messages read as deleted within minutes and the userId stays taken.
   */
  async deleteAccount(password: string): Promise<void> {
    // A fresh token first: a 401 here must mean the password, not a token's expiry.
    await this.tokenProvider(false);
    await this.request("DELETE", "/me", { password }, { retryUnauthenticated: false });
    this.clearTokens();
  }

  /** Section 12: `POST /me/export` → the exportId (at most 3 a day: RateLimitedError, 1005). */
  async requestExport(): Promise<string> {
    const body = await this.request<Partial<ExportCreated> | undefined>("POST", "/me/export");
    if (typeof body?.exportId !== "string") throw new ParleyError(3001, "POST /me/export: no 'exportId'");
    return body.exportId;
  }

  /**
   * Section 12: `GET /me/exports/{id}` → `{status: "pending"}` or `{status: "ready", url,
   * expiresIn}`; `url` downloads the JSON `{profile, conversations, messages, devices,
   * blocks}`. Another user's or an unknown id rejects with UserNotFoundError (1002).
   */
  getExport(exportId: string): Promise<ExportStatus> {
    return this.request("GET", `/me/exports/${segment(exportId)}`);
  }

  /** `GET /me` → `{userId, displayName}` (1.1 adds `admin`). */
  me(): Promise<Profile & { admin?: boolean }> {
    return this.request("GET", "/me");
  }

  /** Create a group (the caller is its owner). */
  createGroup(name: string, members: readonly string[]): Promise<Group> {
    return this.request("POST", "/groups", { name, members: [...members] });
  }

  /** `GET /groups/{id}`; non-members get ForbiddenError (1004). */
  getGroup(conversationId: string): Promise<Group> {
    return this.request("GET", `/groups/${segment(conversationId)}`);
  }

  /** Add members (owner or admin); the server's body, `{}` when empty. */
  async addMembers(conversationId: string, userIds: readonly string[]): Promise<JsonObject> {
    const body = await this.request("POST", `/groups/${segment(conversationId)}/members`, { userIds: [...userIds] });
    return isObject(body) ? body : {};
  }

  /** Remove a member (owner or admin), or leave (your own userId). */
  async removeMember(conversationId: string, userId: string): Promise<void> {
    await this.request("DELETE", `/groups/${segment(conversationId)}/members/${segment(userId)}`);
  }

  /** Make a member `admin` or `member` (owner only). */
  async setRole(conversationId: string, userId: string, role: Role): Promise<JsonObject> {
    const body = await this.request("PATCH", `/groups/${segment(conversationId)}/members/${segment(userId)}`, { role });
    return isObject(body) ? body : {};
  }

  /**
   * One page of the caller's conversations (section 11), in conversationId order: pass the
   * page's `nextCursor` back as `cursor` for the next one, until it is null. `limit` is
   * 1-200 (the server's default: 100).
   */
  async conversationsPage(limit?: number, cursor?: string | null): Promise<ConversationPage> {
    const body = await this.request("GET", "/conversations", undefined, { query: { limit, cursor } });
    if (!isObject(body) || !Array.isArray(body.conversations)) {
      throw new ParleyError(3001, "GET /conversations: no 'conversations' list");
    }
    const nextCursor = typeof body.nextCursor === "string" && body.nextCursor ? body.nextCursor : null;
    return { conversations: body.conversations as unknown as Conversation[], nextCursor };
  }

  /** Every conversation of the caller, following `nextCursor` page by page to the last one. */
  async conversations(pageSize = 100): Promise<Conversation[]> {
    const out: Conversation[] = [];
    let cursor: string | null = null;
    for (;;) {
      const page: ConversationPage = await this.conversationsPage(pageSize, cursor);
      out.push(...page.conversations);
      // A cursor answered again would loop for ever: stop instead.
      if (page.nextCursor === null || page.nextCursor === cursor) return out;
      cursor = page.nextCursor;
    }
  }

  /**
   * Mute or unmute a conversation for the caller (section 11): a muted conversation sends
   * the caller no offline notifications. Non-members get ForbiddenError (1004).
   */
  setMuted(conversationId: string, muted: boolean): Promise<MuteSetting> {
    return this.request("PATCH", `/conversations/${segment(conversationId)}`, { muted });
  }

  /**
   * One page of history, ascending seq: the messages just below `beforeSeq` (the newest page
   * without it); pass `nextBeforeSeq` back for the next older page, until it is null.
   */
  history(conversationId: string, options: { beforeSeq?: number; limit?: number } = {}): Promise<HistoryPage> {
    return this.request("GET", `/conversations/${segment(conversationId)}/messages`, undefined, {
      query: { beforeSeq: options.beforeSeq, limit: options.limit },
    });
  }

  /** Block `userId`: no direct messages or calls from them. */
  async block(userId: string): Promise<void> {
    await this.request("POST", `/users/${segment(userId)}/block`);
  }

  /** Undo {@link block}. */
  async unblock(userId: string): Promise<void> {
    await this.request("DELETE", `/users/${segment(userId)}/block`);
  }

  /** `GET /rtc/ice-servers` → ICE servers with short-lived TURN credentials. */
  iceServers(): Promise<IceServers> {
    return this.request("GET", "/rtc/ice-servers");
  }

  /** Section 9.3: announce an upload → where and how to upload it. */
  createAttachment(conversationId: string, file: { name: string; size: number; contentType: string }): Promise<AttachmentUpload> {
    return this.request("POST", "/attachments", { conversationId, ...file });
  }

  /**
   * Section 9.3: upload a `Blob` or `File` for a conversation (`POST /attachments`, then the
   * presigned multipart POST: every field, then the file as `file`); send the returned
   * `attachmentId` in a `{type: "file"}` body.
   *
   * @throws ParleyUploadError when the storage service refuses the upload.
   */
  async uploadAttachment(
    conversationId: string,
    file: Blob,
    options: { name?: string; contentType?: string } = {},
  ): Promise<AttachmentUpload> {
    const name = options.name ?? (file as Blob & { name?: string }).name;
    if (!name) throw new TypeError("give the attachment a name (a File has one; a Blob needs options.name)");
    const contentType = options.contentType ?? (file.type || "application/octet-stream");
    const created = await this.createAttachment(conversationId, { name, size: file.size, contentType });
    const form = new FormData();
    for (const [key, value] of Object.entries(created.upload.fields)) form.append(key, value);
    form.append("file", file.type === contentType ? file : new Blob([file], { type: contentType }), name);
    const response = await this.fetchWithTimeout(created.upload.url, { method: "POST", body: form }, "attachment upload");
    if (!response.ok) {
      const text = (await response.text()).trim().slice(0, 300);
      throw new ParleyUploadError(response.status, `attachment upload refused with HTTP ${response.status}: ${text}`);
    }
    return created;
  }

  /** Section 9.3: an attachment's metadata and a download URL valid for at most 300 s. */
  getAttachment(attachmentId: string): Promise<Attachment> {
    return this.request("GET", `/attachments/${segment(attachmentId)}`);
  }

  /**
   * Section 10: `{webpush: {vapidPublicKey}, fcm, apns}`: the VAPID key to subscribe with
   * (base64url, the `applicationServerKey` of `PushManager.subscribe`), and whether FCM and
   * APNs tokens may be registered.
   */
  pushConfig(): Promise<PushConfig> {
    return this.request("GET", "/push/config");
  }

  /**
   * Section 10: register a device for offline notifications → `{deviceId}`: a Web Push
   * subscription (`{platform: "webpush", subscription: sub.toJSON()}`) or an FCM or APNs
   * `{platform, token}`. The same endpoint or token again answers the same `deviceId`; an
   * 11th device replaces the least recently registered.
   *
   * @throws InvalidParamError (1001) for a refused endpoint or a platform not enabled.
   */
  async registerDevice(device: DeviceRegistration): Promise<DeviceRegistered> {
    const body = await this.request("POST", "/devices", device);
    if (!isObject(body) || typeof body.deviceId !== "string") {
      throw new ParleyError(3001, "POST /devices: no 'deviceId'");
    }
    return { deviceId: body.deviceId };
  }

  /** Section 10: the caller's devices `[{deviceId, platform, createdAt}]`, oldest first. */
  async devices(): Promise<Device[]> {
    const body = await this.request<Partial<DeviceList> | undefined>("GET", "/devices");
    return Array.isArray(body?.devices) ? body.devices : [];
  }

  /** Section 10: remove one of the caller's devices (NotFoundError, 2003, when it is not theirs). */
  async removeDevice(deviceId: string): Promise<void> {
    await this.request("DELETE", `/devices/${segment(deviceId)}`);
  }
}

function segment(value: string): string {
  return encodeURIComponent(value);
}

function expectTokens(value: unknown): TokenPair {
  if (!isObject(value) || typeof value.accessToken !== "string" || typeof value.refreshToken !== "string") {
    throw new ParleyError(3001, "token response without accessToken/refreshToken");
  }
  return value as unknown as TokenPair;
}

function httpError(status: number, text: string, retryAfter: string | null): ParleyError {
  let body: unknown;
  try {
    body = text.trim() ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!isObject(body) || !("code" in body)) body = { message: text.trim().slice(0, 200) || `HTTP ${status}` };
  const error = ParleyError.from(body, { status });
  if (error.retryAfterMs === undefined && retryAfter && Number.isFinite(Number(retryAfter))) {
    error.retryAfterMs = Math.round(Number(retryAfter) * 1000);
  }
  return error;
}
