/**
 * Protocol 1.1 section 9.2: applying rich-message events (edit, delete, reaction) to the
 * messages a client holds, so that they read as history and sync would return them now.
 *
 * Pure: {@link applyEvent} returns a new target object and never mutates its inputs.
 */

import { isObject } from "../errors.js";
import type { Sequenced } from "./sequencer.js";

/** Body types that change an earlier message (their `target`) instead of adding content. */
export const EVENT_BODY_TYPES: ReadonlySet<string> = new Set(["edit", "delete", "reaction"]);

/** A message as held: the wire message plus the current-state fields of section 9.2. */
export interface HeldMessage extends Sequenced {
  body?: unknown;
  senderId?: unknown;
  ts?: unknown;
  edited?: { seq: number; ts: number };
  deleted?: { seq: number; ts: number; by: string };
  reactions?: Record<string, string[]>;
}

/** The body of `message` when it is an edit, delete or reaction event, else undefined. */
export function eventBody(
  message: Sequenced,
): (Record<string, unknown> & { type: string; target: number }) | undefined {
  const body = message.body;
  if (!isObject(body) || typeof body.type !== "string" || !EVENT_BODY_TYPES.has(body.type)) {
    return undefined;
  }
  if (!Number.isSafeInteger(body.target)) return undefined;
  return body as Record<string, unknown> & { type: string; target: number };
}

/**
 * `target` as it reads after `event` (an edit, delete or reaction message of the same
 * conversation whose `body.target` is `target.seq`); undefined when the event does not
 * change it (not an event, another target, already reflected, or nothing to change).
 */
export function applyEvent<M extends HeldMessage>(target: M, event: Sequenced): M | undefined {
  const body = eventBody(event);
  if (
    !body ||
    event.conversationId !== target.conversationId ||
    body.target !== target.seq ||
    event.seq <= target.seq
  ) {
    return undefined;
  }
  const ts = typeof event.ts === "number" ? event.ts : 0;
  const by = typeof event.senderId === "string" ? event.senderId : "";
  if (target.deleted) return undefined; // nothing changes a deleted message
  switch (body.type) {
    case "edit": {
      if (target.edited && target.edited.seq >= event.seq) return undefined;
      if (typeof body.text !== "string" || !isObject(target.body)) return undefined;
      return { ...target, body: { ...target.body, text: body.text }, edited: { seq: event.seq, ts } };
    }
    case "delete": {
      const { reactions: _gone, ...rest } = target;
      return { ...rest, body: { type: "deleted" }, deleted: { seq: event.seq, ts, by } } as M;
    }
    case "reaction": {
      if (typeof body.key !== "string" || typeof body.on !== "boolean" || !by) return undefined;
      const users = target.reactions?.[body.key] ?? [];
      if (body.on === users.includes(by)) return undefined;
      const next = body.on ? [...users, by] : users.filter((u) => u !== by);
      const reactions = { ...target.reactions, [body.key]: next };
      if (next.length === 0) delete reactions[body.key];
      const { reactions: _old, ...rest } = target;
      return (Object.keys(reactions).length > 0 ? { ...rest, reactions } : rest) as M;
    }
    default:
      return undefined;
  }
}

/**
 * The edit event `edit` with its text erased, as the server returns it once its target is
 * deleted ("deleting erases": `{type: "edit", target}`).
 */
function erasedEdit<M extends HeldMessage>(edit: M): M {
  const body = eventBody(edit);
  return body ? { ...edit, body: { type: "edit", target: body.target } } : edit;
}

/** What {@link MessageStore.apply} changed. */
export interface StoreUpdate<M extends HeldMessage> {
  /** The target in its new state, when the message was an event that changed a held one. */
  updated?: M;
}

/**
 * The messages a client holds, newest `limit` per conversation, kept in their current state.
 *
 * Messages delivered live (in seq order, after de-duplication) go through {@link apply};
 * snapshots from history or sync, which already show their targets as they are now, go
 * through {@link hold}. A snapshot records the highest seq its state reflects, so an event
 * replayed later (for instance by a sync from an older cursor) is not applied twice.
 */
export class MessageStore<M extends HeldMessage = HeldMessage> {
  private readonly byConversation = new Map<string, Map<number, M>>();
  /** Per held message, the highest event seq its state already reflects. */
  private readonly reflects = new Map<string, Map<number, number>>();

  constructor(readonly limit = 500) {
    if (!(limit >= 1)) throw new RangeError("limit must be at least 1");
  }

  /** The held message `(conversationId, seq)`, in its current state. */
  get(conversationId: string, seq: number): M | undefined {
    return this.byConversation.get(conversationId)?.get(seq);
  }

  /** The held messages of one conversation, ascending seq. */
  messages(conversationId: string): M[] {
    const held = this.byConversation.get(conversationId);
    return held ? [...held.values()].sort((a, b) => a.seq - b.seq) : [];
  }

  /** Forget one conversation's messages, or every conversation's. */
  forget(conversationId?: string): void {
    if (conversationId === undefined) {
      this.byConversation.clear();
      this.reflects.clear();
    } else {
      this.byConversation.delete(conversationId);
      this.reflects.delete(conversationId);
    }
  }

  /**
   * Hold snapshots (history or sync pages) that show their targets as they are now.
   *
   * @param reflectsSeq the highest seq the snapshots' state is known to include (the
   *   conversation's `lastSeq` when the page was fetched); defaults to the page's highest seq.
   */
  hold(messages: readonly M[], reflectsSeq?: number): void {
    const page = reflectsSeq ?? messages.reduce((top, m) => Math.max(top, m.seq), 0);
    for (const message of messages) {
      const known = Math.max(page, message.edited?.seq ?? 0, message.deleted?.seq ?? 0);
      this.put(message, known);
    }
  }

  /**
   * Take one message delivered live, in seq order: hold it, and when it is an event, apply
   * it to its held target (an unknown target is left to the next history fetch).
   */
  apply(message: M): StoreUpdate<M> {
    this.put(message, message.seq);
    const body = eventBody(message);
    if (!body) return {};
    const target = this.get(message.conversationId, body.target);
    if (!target) return {};
    const reflected = this.reflects.get(message.conversationId)?.get(body.target) ?? target.seq;
    if (message.seq <= reflected) return {};
    const updated = applyEvent(target, message);
    this.reflects.get(message.conversationId)?.set(body.target, message.seq);
    if (!updated) return {};
    this.put(updated, message.seq);
    if (updated.deleted && !target.deleted) this.eraseEdits(message.conversationId, body.target);
    return { updated };
  }

  private eraseEdits(conversationId: string, target: number): void {
    const held = this.byConversation.get(conversationId);
    for (const [seq, message] of held ?? []) {
      const body = eventBody(message);
      if (body?.type === "edit" && body.target === target) held?.set(seq, erasedEdit(message));
    }
  }

  private put(message: M, reflects: number): void {
    const { conversationId, seq } = message;
    let held = this.byConversation.get(conversationId);
    let marks = this.reflects.get(conversationId);
    if (!held || !marks) {
      held = new Map();
      marks = new Map();
      this.byConversation.set(conversationId, held);
      this.reflects.set(conversationId, marks);
    }
    held.set(seq, message);
    marks.set(seq, Math.max(marks.get(seq) ?? 0, reflects));
    // Trim in batches so that a full conversation costs one sort per limit/4 messages.
    if (held.size > this.limit + Math.max(1, Math.floor(this.limit / 4))) {
      const oldest = [...held.keys()].sort((a, b) => a - b).slice(0, held.size - this.limit);
      for (const s of oldest) {
        held.delete(s);
        marks.delete(s);
      }
    }
  }
}
