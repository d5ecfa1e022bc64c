/** The conversation state the views draw: pure functions, unit tested without a browser. */

/** A message as the views hold it (a pushed, synced or history message, or one being sent). */
export interface ChatMessage {
  conversationId: string;
  seq: number; // 0 while sending
  senderId: string;
  body: { type: string; text?: string; event?: string; by?: string; userIds?: string[]; role?: string };
  ts: number;
  clientMsgId?: string;
  pending?: boolean;
  failed?: string;
}

/** One conversation in the list. */
export interface ConversationView {
  conversationId: string;
  type: "dm" | "group";
  name?: string | undefined;
  lastSeq: number;
  readSeq: number;
  unread: number;
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
      return "This message was deleted";
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
