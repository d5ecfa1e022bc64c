/**
 * Offline notifications (protocol 1.1 section 10), shared by the service worker and the
 * page: what a push payload shows, and the link that opens its conversation. Plain
 * ECMAScript (no DOM, no worker globals), so both builds and the unit tests can take it.
 */

/** The decrypted Web Push payload of section 10 (`preview` only with `PushPreviews=on`). */
export interface PushPayload {
  type: "message";
  conversationId: string;
  seq: number;
  senderId: string;
  ts: number;
  preview?: string;
}

/** What a notification carries for its click: the conversation to open. */
export interface NotificationData {
  conversationId: string;
  seq: number;
}

/** The arguments of `registration.showNotification(title, options)`. */
export interface NotificationSpec {
  title: string;
  options: {
    body: string;
    /** One notification per conversation: a newer message replaces the older one. */
    tag: string;
    renotify: boolean;
    timestamp?: number;
    data: NotificationData | null;
  };
}

/** The query parameter of a link that opens a conversation (`/?conversation=<id>`). */
export const CONVERSATION_PARAM = "conversation";

/** What the service worker posts to an open page when a notification is clicked. */
export const OPEN_MESSAGE = "parley.open-conversation";

/** Shown for a push that is not a section 10 payload (a browser must show something). */
const FALLBACK_TITLE = "Parley";
const FALLBACK_BODY = "New message";

/** `value` as a section 10 payload, or undefined when it is not one. */
export function parsePayload(value: unknown): PushPayload | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.type !== "message") return undefined;
  if (typeof v.conversationId !== "string" || !v.conversationId) return undefined;
  if (typeof v.senderId !== "string" || !v.senderId) return undefined;
  if (!Number.isSafeInteger(v.seq) || !Number.isFinite(v.ts)) return undefined;
  const payload: PushPayload = {
    type: "message",
    conversationId: v.conversationId,
    seq: v.seq as number,
    senderId: v.senderId,
    ts: v.ts as number,
  };
  if (typeof v.preview === "string") payload.preview = v.preview;
  return payload;
}

/**
 * The notification for a push payload: titled with the sender, the preview as its body
 * (else "New message"), tagged with the conversation. Anything else gives a generic
 * notification without a conversation: browsers require one per push.
 */
export function notificationFor(value: unknown): NotificationSpec {
  const payload = parsePayload(value);
  if (!payload) {
    return { title: FALLBACK_TITLE, options: { body: FALLBACK_BODY, tag: "parley", renotify: false, data: null } };
  }
  const body = payload.preview?.trim() ? payload.preview : FALLBACK_BODY;
  return {
    title: payload.senderId,
    options: {
      body,
      tag: `parley:${payload.conversationId}`,
      renotify: true,
      timestamp: payload.ts,
      data: { conversationId: payload.conversationId, seq: payload.seq },
    },
  };
}

/** The app's URL (under `origin`) that opens `conversationId`. */
export function conversationLink(origin: string, conversationId: string): string {
  const url = new URL("/", origin);
  url.searchParams.set(CONVERSATION_PARAM, conversationId);
  return url.href;
}

/** The conversation a URL's query asks to open, if any. */
export function conversationInLink(search: string): string | undefined {
  return new URLSearchParams(search).get(CONVERSATION_PARAM) || undefined;
}

/** The conversation a notification's `data` names, if any. */
export function conversationOf(data: unknown): string | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const id = (data as Record<string, unknown>).conversationId;
  return typeof id === "string" && id ? id : undefined;
}

/** The VAPID key (base64url, from `/push/config`) as the bytes `PushManager.subscribe` takes. */
export function base64UrlBytes(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  const binary = atob(base64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
