/**
 * Per-conversation cursors, duplicate dropping and in-order delivery of messages.
 *
 * Pure bookkeeping: the client feeds it pushed messages, sync results and its own acks,
 * and delivers what it returns.
 */

import type { JsonObject } from "./frames.js";

/** Anything with the `(conversationId, seq)` key of a stored message. */
export interface Sequenced extends JsonObject {
  conversationId: string;
  seq: number;
}

/** `{conversationId: lastSeenSeq}`. */
export type Cursors = Record<string, number>;

/** True when `value` has a string `conversationId` and a non-negative integer `seq`. */
export function isSequenced(value: JsonObject): value is Sequenced {
  return (
    typeof value.conversationId === "string" &&
    Number.isSafeInteger(value.seq) &&
    (value.seq as number) >= 0
  );
}

/**
 * Tracks, per conversation, the highest contiguous `seq` delivered (the cursor).
 *
 * - a message at or below the cursor is a repeat and is dropped;
 * - the message right after the cursor is delivered, followed by any held messages that
 *   now continue the run;
 * - a message further ahead is held, and {@link hasGaps} is true until a sync fills the
 *   hole (or {@link flushGaps} gives up on it).
 *
 * Messages from `sync` are authoritative: the server returns every visible message above
 * the cursor, so a jump there (the first message a new group member may see) moves the
 * cursor without waiting. The client's own acked sends are not delivered (the sending
 * connection gets the `ack`, not a push) but move the cursor.
 */
export class Sequencer<M extends Sequenced = Sequenced> {
  private readonly cursors = new Map<string, number>();
  /** Held seqs per conversation; `null` marks our own acked send (moves, not delivered). */
  private readonly pending = new Map<string, Map<number, M | null>>();

  /**
   * @param backfillUnknown for a conversation without a cursor, start at 0 (a first push
   *   with seq > 1 triggers a sync of the older messages); when false, the first message
   *   seen in such a conversation starts it.
   */
  constructor(
    cursors: Cursors = {},
    readonly backfillUnknown = true,
  ) {
    this.importCursors(cursors);
  }

  /** One conversation's cursor, undefined if never seen. */
  cursor(conversationId: string): number | undefined {
    return this.cursors.get(conversationId);
  }

  /** A copy of every cursor, for the app to persist. */
  exportCursors(): Cursors {
    return Object.fromEntries(this.cursors);
  }

  /** Set cursors (e.g. loaded from storage); `replace` forgets the others. */
  importCursors(cursors: Cursors, replace = false): void {
    if (replace) {
      this.cursors.clear();
      this.pending.clear();
    }
    for (const [conversationId, seq] of Object.entries(cursors)) {
      if (!Number.isSafeInteger(seq) || seq < 0) {
        throw new RangeError(`bad cursor for ${conversationId}: ${String(seq)}`);
      }
      this.cursors.set(conversationId, seq);
      const held = this.pending.get(conversationId);
      for (const s of [...(held?.keys() ?? [])]) if (s <= seq) held?.delete(s);
    }
  }

  /** Take a pushed message; return the messages now deliverable, in order. */
  push(message: M): M[] {
    const { conversationId, seq } = message;
    const cursor = this.start(conversationId, seq);
    if (seq <= cursor) return [];
    const held = this.held(conversationId);
    if (held.has(seq)) return [];
    held.set(seq, message);
    return this.flush(conversationId);
  }

  /** Our own send was stored at `seq`; return the messages now deliverable. */
  acked(conversationId: string, seq: number): M[] {
    const cursor = this.start(conversationId, seq);
    if (seq <= cursor) return [];
    this.held(conversationId).set(seq, null);
    return this.flush(conversationId);
  }

  /** Take one conversation's `sync` messages; return what to deliver, in order. */
  synced(conversationId: string, messages: readonly M[]): M[] {
    const out: M[] = [];
    const held = this.held(conversationId);
    let cursor = this.cursors.get(conversationId) ?? 0;
    for (const message of [...messages].sort((a, b) => a.seq - b.seq)) {
      const { seq } = message;
      if (seq <= cursor) continue;
      // Everything visible between the cursor and seq is in this reply, so a hole here is
      // not a gap (e.g. messages from before we joined): release what was held below it.
      for (const s of [...held.keys()].sort((a, b) => a - b)) {
        if (s >= seq) break;
        const h = held.get(s);
        held.delete(s);
        if (h) out.push(h);
      }
      const own = held.has(seq) && held.get(seq) === null;
      held.delete(seq);
      if (!own) out.push(message);
      cursor = seq;
      this.cursors.set(conversationId, cursor);
    }
    if (!this.cursors.has(conversationId)) this.cursors.set(conversationId, cursor);
    out.push(...this.flush(conversationId));
    return out;
  }

  /** True while some conversation holds messages beyond a missing seq. */
  hasGaps(): boolean {
    for (const held of this.pending.values()) if (held.size > 0) return true;
    return false;
  }

  /** `{conversationId: [cursor, lowest held seq]}` for conversations with a hole. */
  gaps(): Record<string, [number, number]> {
    const out: Record<string, [number, number]> = {};
    for (const [conversationId, held] of this.pending) {
      if (held.size > 0) {
        out[conversationId] = [this.cursors.get(conversationId) ?? 0, Math.min(...held.keys())];
      }
    }
    return out;
  }

  /** Give up on the holes: deliver everything held, in order, and jump the cursors. */
  flushGaps(): M[] {
    const out: M[] = [];
    for (const [conversationId, held] of this.pending) {
      for (const seq of [...held.keys()].sort((a, b) => a - b)) {
        const h = held.get(seq);
        if (h) out.push(h);
        this.cursors.set(conversationId, Math.max(this.cursors.get(conversationId) ?? 0, seq));
      }
    }
    this.pending.clear();
    return out;
  }

  private start(conversationId: string, seq: number): number {
    let cursor = this.cursors.get(conversationId);
    if (cursor === undefined) {
      cursor = this.backfillUnknown ? 0 : seq - 1;
      this.cursors.set(conversationId, cursor);
    }
    return cursor;
  }

  private held(conversationId: string): Map<number, M | null> {
    let held = this.pending.get(conversationId);
    if (!held) {
      held = new Map();
      this.pending.set(conversationId, held);
    }
    return held;
  }

  private flush(conversationId: string): M[] {
    const held = this.pending.get(conversationId);
    let cursor = this.cursors.get(conversationId) ?? 0;
    const out: M[] = [];
    while (held?.has(cursor + 1)) {
      cursor += 1;
      const h = held.get(cursor);
      held.delete(cursor);
      if (h) out.push(h);
    }
    this.cursors.set(conversationId, cursor);
    if (held && held.size === 0) this.pending.delete(conversationId);
    return out;
  }
}
