/** The conversation state the views draw: pure functions, unit tested without a browser. */

import { applyEvent } from "/parley.js";

/** A message body as the views read it (protocol sections 5.1 and 9.1). */
export interface ChatBody {
  type: string;
  text?: string;
  // system messages
  event?: string;
  by?: string;
  userIds?: string[];
  role?: string;
  // text: a reply and mentions
  replyTo?: number;
  mentions?: string[];
  // file
  attachmentId?: string;
  name?: string;
  size?: number;
  contentType?: string;
  caption?: string;
  // edit, delete, reaction events
  target?: number;
  key?: string;
  on?: boolean;
}

/** A message as the views hold it (a pushed, synced or history message, or one being sent). */
export interface ChatMessage {
  conversationId: string;
  seq: number; // 0 while sending
  senderId: string;
  body: ChatBody;
  ts: number;
  clientMsgId?: string;
  pending?: boolean;
  /** A file being uploaded (before its message is sent). */
  uploading?: boolean;
  failed?: string;
  // Section 9.2: the current state of an edited, deleted or reacted-to message.
  edited?: { seq: number; ts: number };
  deleted?: { seq: number; ts: number; by: string };
  reactions?: Record<string, string[]>;
}

/** Body types that change an earlier message (section 9.1) instead of showing on their own. */
const EVENT_TYPES = new Set(["edit", "delete", "reaction"]);

/** True for an edit, delete or reaction event. */
export function isEvent(message: Pick<ChatMessage, "body">): boolean {
  return EVENT_TYPES.has(message.body.type);
}

/**
 * The messages to show, in their current state (section 9.2): every held event applied, in
 * seq order, to the target it names, and the events themselves left out.
 *
 * Held messages keep the state they came with (a push, or a history page that already
 * showed its events), so events are applied again on every call: the SDK's `applyEvent`
 * skips what a state already reflects (an older edit, a deleted target, a reaction already
 * on or off), so replaying them always ends in the latest state.
 */
export function resolveMessages(messages: readonly ChatMessage[]): ChatMessage[] {
  const bySeq = new Map<number, ChatMessage>();
  for (const m of messages) {
    if (m.seq > 0 && !isEvent(m)) bySeq.set(m.seq, m);
  }
  for (const m of messages) {
    if (m.seq <= 0 || !isEvent(m) || m.body.target === undefined) continue;
    const target = bySeq.get(m.body.target);
    if (!target) continue;
    const next = applyEvent(target as never, m as never) as ChatMessage | undefined;
    if (next) bySeq.set(target.seq, next);
  }
  return messages.filter((m) => !isEvent(m)).map((m) => (m.seq > 0 ? (bySeq.get(m.seq) ?? m) : m));
}

/** The `@name` mentions of `text` that name one of `members` (at most 50, each once). */
export function mentionsIn(text: string, members: readonly string[], me: string): string[] {
  const known = new Set(members);
  const found: string[] = [];
  for (const match of text.matchAll(/(^|[^\w@])@([a-z0-9][a-z0-9_.-]{2,31})/gi)) {
    const name = (match[2] ?? "").toLowerCase().replace(/[.-]+$/, "");
    if (known.has(name) && name !== me && !found.includes(name)) found.push(name);
  }
  return found.slice(0, 50);
}

/** "532 B", "12 KB", "3.4 MB". */
export function sizeLabel(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** Reaction chips: `[key, count, mine]` in the order the keys were first used. */
export function reactionChips(reactions: ChatMessage["reactions"], me: string): [string, number, boolean][] {
  return Object.entries(reactions ?? {})
    .filter(([, users]) => users.length > 0)
    .map(([key, users]) => [key, users.length, users.includes(me)]);
}

/** One conversation in the list. */
export interface ConversationView {
  conversationId: string;
  type: "dm" | "group";
  name?: string | undefined;
  lastSeq: number;
  readSeq: number;
  unread: number;
  /** The caller muted it (protocol 1.1 section 11): no offline notifications. */
  muted?: boolean;
  lastText?: string;
  lastTs?: number;
}

/** The DM's conversation id for two users (protocol section 2: the userIds sorted). */
export function dmId(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

/** The other party of a DM (yourself for a note to self), or undefined for a group. */
export function dmPeer(conversationId: string, me: string): string | undefined {
  if (!conversationId.startsWith("dm:")) return undefined;
  const [, a = "", b = ""] = conversationId.split(":");
  return a === me ? b : a;
}

/** The title a person reads for a conversation. */
export function titleOf(conv: Pick<ConversationView, "conversationId" | "name">, me: string): string {
  const peer = dmPeer(conv.conversationId, me);
  if (peer !== undefined) return peer === me ? `${me} (you)` : peer;
  return conv.name ?? "Group";
}

/**
 * `existing` with `incoming` merged in: ascending seq, each seq once (a repeat is dropped,
 * so a message pushed twice or also in a history page shows once). Messages still sending
 * (seq 0) stay at the end; one that `incoming` holds stored (same clientMsgId) replaces it.
 */
export function mergeMessages(existing: readonly ChatMessage[], incoming: readonly ChatMessage[]): ChatMessage[] {
  const stored = new Map<number, ChatMessage>();
  const sending: ChatMessage[] = [];
  for (const m of [...existing, ...incoming]) {
    if (m.seq > 0) {
      if (!stored.has(m.seq)) stored.set(m.seq, m);
    } else {
      sending.push(m);
    }
  }
  const storedIds = new Set([...stored.values()].map((m) => m.clientMsgId).filter(Boolean));
  const ordered = [...stored.values()].sort((x, y) => x.seq - y.seq);
  return [...ordered, ...sending.filter((m) => !storedIds.has(m.clientMsgId))];
}

/** The text shown for a message body (system events in words). */
export function bodyText(message: Pick<ChatMessage, "body">): string {
  const body = message.body;
  switch (body.type) {
    case "text":
      return body.text ?? "";
    case "file":
      return body.caption ? `📎 ${body.caption}` : `📎 ${body.name ?? "File"}`;
    case "system": {
      const who = (body.userIds ?? []).join(", ");
      switch (body.event) {
        case "group_created":
          return `${body.by ?? "Someone"} created the group`;
        case "members_added":
          return `${body.by ?? "Someone"} added ${who}`;
        case "member_removed":
          return `${body.by ?? "Someone"} removed ${who}`;
        case "member_left":
          return `${body.by ?? who} left`;
        case "role_changed":
          return `${body.by ?? "Someone"} made ${who} ${body.role ?? "a member"}`;
        default:
          return "The group changed";
      }
    }
    case "deleted":
      return "Message deleted";
    default:
      return "A message this app cannot show yet";
  }
}

/** The conversation list, most recent first (conversations with no activity last, by id). */
export function sortConversations(list: readonly ConversationView[]): ConversationView[] {
  return [...list].sort((a, b) => (b.lastTs ?? 0) - (a.lastTs ?? 0) || a.conversationId.localeCompare(b.conversationId));
}

/** "09:41", or "3 Dec" for an older day. */
export function timeLabel(ts: number, now: number = Date.now()): string {
  const d = new Date(ts);
  const today = new Date(now);
  if (d.toDateString() === today.toDateString()) {
    return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  }
  return d.toLocaleDateString(undefined, { day: "numeric", month: "short" });
}
