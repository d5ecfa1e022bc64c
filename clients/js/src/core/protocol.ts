/**
 * The client's protocol state without I/O: request matching, ordering and de-duplication,
 * sync bookkeeping and rich-message application. The shell ({@link ParleyClient}) feeds it
 * what arrives on the socket and does what it returns.
 */

import { isObject } from "../errors.js";
import { REPLY_TYPES, decodeFrame, type JsonObject } from "./frames.js";
import { MessageStore, type HeldMessage } from "./rich.js";
import { Sequencer, isSequenced, type Cursors } from "./sequencer.js";

/** A `message` event as delivered (pushed or brought by sync). */
export interface MessageEvent extends HeldMessage {
  type: "message";
}

/**
 * A client-side event: a held message changed because an edit, delete or reaction event
 * (`event`) was delivered for it; `message` is its new state (section 9.2).
 */
export interface UpdateEvent {
  type: "update";
  conversationId: string;
  seq: number;
  message: HeldMessage;
  event: MessageEvent;
}

/** What one received frame turned out to be. */
export type Incoming =
  | { kind: "reply"; id: string; frame: JsonObject & { type: string } }
  | { kind: "events"; events: JsonObject[]; gaps: boolean }
  | { kind: "ignored"; reason: string };

/** What one sync reply brought. */
export interface SyncStep {
  /** Events to deliver, in order (messages, then any updates they caused). */
  events: JsonObject[];
  /** Messages delivered (a subset of `events`). */
  messages: MessageEvent[];
  /** Per conversation, the summary without messages (`conversationId, type, lastSeq, ...`). */
  conversations: Record<string, JsonObject>;
  /** Whether some cursor moved. */
  progressed: boolean;
  /** The server's `complete`. */
  complete: boolean;
}

export interface ProtocolOptions {
  cursors?: Cursors;
  /** Treat a conversation without a cursor as starting at 0 (sync its older messages). */
  backfillUnknown?: boolean;
  /** Messages held per conversation for section 9.2 (0 keeps none and emits no updates). */
  keepMessages?: number;
  /** Prefix of request ids, to tell this client's replies apart in logs. */
  idPrefix?: string;
}

/** Request matching, ordering and rich-message state of one client. */
export class ClientProtocol {
  readonly sequencer: Sequencer<MessageEvent>;
  readonly store: MessageStore<HeldMessage> | undefined;
  private readonly outstanding = new Set<string>();
  private readonly idPrefix: string;
  private counter = 0;

  constructor(options: ProtocolOptions = {}) {
    this.sequencer = new Sequencer<MessageEvent>(options.cursors ?? {}, options.backfillUnknown ?? true);
    const keep = options.keepMessages ?? 500;
    this.store = keep > 0 ? new MessageStore<HeldMessage>(keep) : undefined;
    this.idPrefix = options.idPrefix ?? Math.random().toString(36).slice(2, 8);
  }

  /** A fresh request id, expected to be answered. */
  newRequest(): string {
    const id = `${this.idPrefix}-${++this.counter}`;
    this.outstanding.add(id);
    return id;
  }

  /** Stop expecting a reply to `id` (answered, timed out or abandoned). */
  forget(id: string): void {
    this.outstanding.delete(id);
  }

  /** Stop expecting every reply (the socket that would carry them is gone). */
  forgetAll(): string[] {
    const ids = [...this.outstanding];
    this.outstanding.clear();
    return ids;
  }

  /** Classify one received text frame. */
  receive(raw: string): Incoming {
    const frame = decodeFrame(raw);
    if (!frame) return { kind: "ignored", reason: "not a JSON object with a type" };
    const id = frame.id;
    if (REPLY_TYPES.has(frame.type) && typeof id === "string") {
      if (this.outstanding.delete(id)) return { kind: "reply", id, frame };
      // A late reply is dropped; an unmatched error still tells the app something.
      if (frame.type !== "error") return { kind: "ignored", reason: `late ${frame.type} reply` };
    }
    if (frame.type === "message") {
      if (!isSequenced(frame)) return { kind: "events", events: [frame], gaps: this.sequencer.hasGaps() };
      const ready = this.sequencer.push(frame as MessageEvent);
      return { kind: "events", events: this.deliver(ready), gaps: this.sequencer.hasGaps() };
    }
    return { kind: "events", events: [frame], gaps: this.sequencer.hasGaps() };
  }

  /** Our own send was acked: move the cursor; return events now deliverable. */
  acked(ack: JsonObject): JsonObject[] {
    if (typeof ack.conversationId !== "string" || !Number.isSafeInteger(ack.seq)) return [];
    return this.deliver(this.sequencer.acked(ack.conversationId, ack.seq as number));
  }

  /** The `sync` frame (without id) that asks for everything above the cursors. */
  syncFrame(limit?: number): JsonObject {
    // An absent cursor means 0: leave those out to keep the frame small.
    const cursors = Object.fromEntries(
      Object.entries(this.sequencer.exportCursors()).filter(([, seq]) => seq > 0),
    );
    return limit === undefined ? { action: "sync", cursors } : { action: "sync", cursors, limit };
  }

  /** Take one `sync` reply. */
  synced(reply: JsonObject): SyncStep {
    const step: SyncStep = {
      events: [],
      messages: [],
      conversations: {},
      progressed: false,
      complete: reply.complete === true,
    };
    const conversations = Array.isArray(reply.conversations) ? reply.conversations : [];
    for (const conv of conversations) {
      if (!isObject(conv) || typeof conv.conversationId !== "string") continue;
      const conversationId = conv.conversationId;
      const raw = Array.isArray(conv.messages) ? conv.messages : [];
      const messages = raw
        .filter((m): m is JsonObject => isObject(m) && Number.isSafeInteger(m.seq))
        .map((m) => ({ ...m, type: "message", conversationId }) as MessageEvent);
      // Sync shows every target as it is now, i.e. as of the conversation's lastSeq.
      const lastSeq = Number.isSafeInteger(conv.lastSeq) ? (conv.lastSeq as number) : undefined;
      this.store?.hold(messages, lastSeq);
      const before = this.sequencer.cursor(conversationId);
      const ready = this.sequencer.synced(conversationId, messages);
      if (this.sequencer.cursor(conversationId) !== before) step.progressed = true;
      const events = this.deliver(ready);
      step.events.push(...events);
      step.messages.push(...(events.filter((e) => e.type === "message") as MessageEvent[]));
      const { messages: _m, ...summary } = conv;
      step.conversations[conversationId] = summary;
    }
    return step;
  }

  /** Give up on unfilled gaps: deliver everything held, in order. */
  flushGaps(): JsonObject[] {
    return this.deliver(this.sequencer.flushGaps());
  }

  /** Hold history messages (current state) so that later events apply to them. */
  holdHistory(messages: readonly JsonObject[]): void {
    const held = messages.filter((m): m is HeldMessage => isSequenced(m));
    this.store?.hold(held);
  }

  private deliver(messages: readonly MessageEvent[]): JsonObject[] {
    const out: JsonObject[] = [];
    for (const message of messages) {
      out.push(message);
      const updated = this.store?.apply(message).updated;
      if (updated) {
        const update: UpdateEvent = {
          type: "update",
          conversationId: updated.conversationId,
          seq: updated.seq,
          message: updated,
          event: message,
        };
        out.push(update as unknown as JsonObject);
      }
    }
    return out;
  }
}
