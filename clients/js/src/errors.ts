/**
 * Errors raised by the SDK.
 *
 * Every error the server reports (an HTTP error body `{code, message}` or a WebSocket
 * `error` frame) becomes a {@link ParleyError} carrying the protocol's numeric code, as an
 * instance of the subclass for that code (`catch (e) { if (e instanceof RateLimitedError) ... }`).
 * Problems on the client side of the wire (no connection, no reply in time, client closed)
 * have their own classes; every class derives from {@link ParleyClientError}.
 */

import { ERROR_CODES, type ErrorCodeValue } from "./codes.js";

export { ERROR_CODES, ErrorCode, type ErrorCodeName, type ErrorCodeValue } from "./codes.js";

/** The code the protocol pairs with each HTTP status, for error responses without a body. */
const STATUS_TO_CODE: Readonly<Record<number, ErrorCodeValue>> = {
  400: 1001,
  401: 1003,
  403: 1004,
  404: 2002,
  409: 1008,
  413: 1006,
  429: 1005,
  503: 2001,
};

/** The protocol name of `code` (`"UNAUTHENTICATED"`), or `"UNKNOWN"`. */
export function codeName(code: number): string {
  return ERROR_CODES[code as ErrorCodeValue] ?? "UNKNOWN";
}

/** Base class of every error the SDK throws. */
export class ParleyClientError extends Error {
  override name = "ParleyClientError";
}

/** Fields of a {@link ParleyError} beyond its code and message. */
export interface ParleyErrorDetails {
  /** The HTTP status for HTTP errors; undefined for WebSocket errors. */
  status?: number | undefined;
  /** The server's `retryAfterMs` hint (rate limiting), if any. */
  retryAfterMs?: number | undefined;
  /** The WebSocket request `id` the error answered, if any. */
  requestId?: string | undefined;
  /** True when the SDK refused the request itself, before it reached the server. */
  local?: boolean | undefined;
  cause?: unknown;
}

/** An error reported by the server (or refused locally with the code the server would use). */
export class ParleyError extends ParleyClientError {
  override name = "ParleyError";
  readonly code: number;
  readonly status: number | undefined;
  retryAfterMs: number | undefined;
  readonly requestId: string | undefined;
  readonly local: boolean;

  constructor(code: number, message: string, details: ParleyErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.requestId = details.requestId;
    this.local = details.local ?? false;
  }

  /** The protocol name of {@link code}, e.g. `"FORBIDDEN"`. */
  get codeName(): string {
    return codeName(this.code);
  }

  override toString(): string {
    let text = `${this.name}: ${this.code} ${this.codeName}: ${this.message}`;
    if (this.status !== undefined) text += ` (HTTP ${this.status})`;
    if (this.retryAfterMs !== undefined) text += ` (retry after ${this.retryAfterMs} ms)`;
    return text;
  }

  /**
   * The error for a `{code, message, retryAfterMs?}` body or `error` frame, as the subclass of
   * its code. Falls back on the status's protocol code (else 3001) when the body is not of that
   * shape, so there is always a code.
   */
  static from(body: unknown, details: ParleyErrorDetails = {}): ParleyError {
    let code: number = STATUS_TO_CODE[details.status ?? 0] ?? 3001;
    let message = details.status !== undefined ? `HTTP ${details.status}` : "error";
    let retryAfterMs = details.retryAfterMs;
    if (isObject(body)) {
      if (Number.isInteger(body.code)) code = body.code as number;
      if (typeof body.message === "string") message = body.message;
      if (typeof body.retryAfterMs === "number" && Number.isFinite(body.retryAfterMs)) {
        retryAfterMs = Math.trunc(body.retryAfterMs);
      }
    }
    const Class = ERROR_CLASSES[code as ErrorCodeValue] ?? ParleyError;
    return new Class(code, message, { ...details, retryAfterMs });
  }
}

/** 1001: bad JSON, missing or malformed field. */
export class InvalidParamError extends ParleyError {
  override name = "InvalidParamError";
}
/** 1002: the named user does not exist. */
export class UserNotFoundError extends ParleyError {
  override name = "UserNotFoundError";
}
/** 1003: missing, invalid, expired or revoked token. */
export class UnauthenticatedError extends ParleyError {
  override name = "UnauthenticatedError";
}
/**
 * 1003 on an open socket: the login is over (logged out, logged out everywhere, a password
 * change, a reused refresh token, or its absolute lifetime reached). The client stops; sign
 * in again.
 */
export class LoginRevokedError extends UnauthenticatedError {
  override name = "LoginRevokedError";
}
/** 1004: not a member, role too low, or blocked. */
export class ForbiddenError extends ParleyError {
  override name = "ForbiddenError";
}
/** 1005: too many requests; `retryAfterMs` says when to retry. */
export class RateLimitedError extends ParleyError {
  override name = "RateLimitedError";
}
/** 1006: body (or frame, when `local`) over its limit. */
export class PayloadTooLargeError extends ParleyError {
  override name = "PayloadTooLargeError";
}
/** 1007: no such WebSocket action. */
export class UnknownActionError extends ParleyError {
  override name = "UnknownActionError";
}
/** 1008: already exists. */
export class ConflictError extends ParleyError {
  override name = "ConflictError";
}
/** 2001: not stored; the SDK retries it with the same `clientMsgId`. */
export class MessageSendFailedError extends ParleyError {
  override name = "MessageSendFailedError";
}
/** 2002: no such conversation. */
export class ConversationNotFoundError extends ParleyError {
  override name = "ConversationNotFoundError";
}
/** 2003 (protocol 1.1): no such message or attachment, or not visible to the caller. */
export class NotFoundError extends ParleyError {
  override name = "NotFoundError";
}
/** 3001: anything else on the server; the message names the request id. */
export class InternalError extends ParleyError {
  override name = "InternalError";
}

type ErrorClass = new (code: number, message: string, details?: ParleyErrorDetails) => ParleyError;

/** One class per code: a code added to the schema without a class here fails the build. */
const ERROR_CLASSES: Readonly<Record<ErrorCodeValue, ErrorClass>> = {
  1001: InvalidParamError,
  1002: UserNotFoundError,
  1003: UnauthenticatedError,
  1004: ForbiddenError,
  1005: RateLimitedError,
  1006: PayloadTooLargeError,
  1007: UnknownActionError,
  1008: ConflictError,
  2001: MessageSendFailedError,
  2002: ConversationNotFoundError,
  2003: NotFoundError,
  3001: InternalError,
};

/** The server could not be reached, or the connection was lost and not restored. */
export class ParleyConnectionError extends ParleyClientError {
  override name = "ParleyConnectionError";
}

/** No reply arrived in time. */
export class ParleyTimeoutError extends ParleyClientError {
  override name = "ParleyTimeoutError";
}

/** The client was closed (explicitly, or after a fatal error such as a revoked login). */
export class ParleyClosedError extends ParleyConnectionError {
  override name = "ParleyClosedError";
}

/** A presigned upload was refused by the storage service (not a Parley protocol error). */
export class ParleyUploadError extends ParleyClientError {
  override name = "ParleyUploadError";
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** True for a plain JSON object (not an array, not null). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
