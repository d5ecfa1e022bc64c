/**
 * The send retry rule: one `clientMsgId` per message, the same frame repeated after a
 * timeout, a lost socket or a retryable error code, never a new id. Pure decisions.
 */

import { ParleyError, ParleyTimeoutError, ParleyConnectionError, ParleyClosedError } from "../errors.js";
import { fullJitter } from "./backoff.js";
import type { JsonObject } from "./frames.js";

/** Where a message goes: a user (their direct conversation) or a conversation. */
export type SendTarget = { to: string; conversationId?: undefined } | { conversationId: string; to?: undefined };

/** The settings of {@link nextSendDelay}. */
export interface ResendPolicy {
  /** How many times a send is tried in all. */
  attempts: number;
  /** Error codes after which the same frame is sent again (2001 by default). */
  retryCodes: ReadonlySet<number>;
  /** Full-jitter backoff between tries. */
  baseMs: number;
  capMs: number;
}

export const DEFAULT_RESEND_POLICY: ResendPolicy = {
  attempts: 5,
  retryCodes: new Set([2001]),
  baseMs: 200,
  capMs: 5000,
};

/**
 * The `send` frame (without request id) for `body` and `target`. The caller keeps it and
 * repeats it unchanged, so the server stores the message once whatever happens.
 */
export function sendFrame(body: JsonObject, target: SendTarget, clientMsgId: string): JsonObject {
  const to = target.to;
  const conversationId = target.conversationId;
  if ((to === undefined) === (conversationId === undefined)) {
    throw new TypeError("give exactly one of `to` or `conversationId`");
  }
  return to !== undefined
    ? { action: "send", to, clientMsgId, body }
    : { action: "send", conversationId, clientMsgId, body };
}

/**
 * After try number `tried` (1-based) failed with `error`: the delay before sending the same
 * frame again, or undefined to give up and surface `error`.
 */
export function nextSendDelay(
  error: unknown,
  tried: number,
  policy: ResendPolicy,
  random: () => number = Math.random,
): number | undefined {
  if (tried >= policy.attempts || error instanceof ParleyClosedError) return undefined;
  if (error instanceof ParleyError) {
    if (error.local || !policy.retryCodes.has(error.code)) return undefined;
  } else if (!(error instanceof ParleyTimeoutError || error instanceof ParleyConnectionError)) {
    return undefined;
  }
  const delay = fullJitter(tried - 1, policy.baseMs, policy.capMs, random);
  const hint = error instanceof ParleyError ? (error.retryAfterMs ?? 0) : 0;
  return Math.max(delay, hint);
}
