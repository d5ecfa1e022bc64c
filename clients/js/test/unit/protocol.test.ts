import { describe, expect, it } from "vitest";
import { ClientProtocol } from "../../src/core/protocol.js";

const C = "dm:alice:bob";
const push = (seq: number, body: Record<string, unknown> = { type: "text", text: `m${seq}` }) =>
  JSON.stringify({ type: "message", conversationId: C, seq, messageId: `M${seq}`, senderId: "bob", clientMsgId: `c${seq}`, body, ts: seq });

describe("ClientProtocol", () => {
  it("matches replies to outstanding requests only", () => {
    // GIVEN one outstanding request
    const p = new ClientProtocol({ idPrefix: "t" });
    const id = p.newRequest();
    // WHEN its reply arrives twice
    const first = p.receive(JSON.stringify({ type: "ok", id }));
    const late = p.receive(JSON.stringify({ type: "ok", id }));
    // THEN the first is a reply, the repeat is ignored
    expect(first).toMatchObject({ kind: "reply", id });
    expect(late.kind).toBe("ignored");
    // AND an unmatched error is delivered as an event; junk is ignored
    expect(p.receive(JSON.stringify({ type: "error", id: "t-99", code: 1001, message: "bad" }))).toMatchObject({
      kind: "events",
    });
    expect(p.receive("not json").kind).toBe("ignored");
    expect(p.receive("[1]").kind).toBe("ignored");
  });

  it("orders pushes, reports gaps and fills them from a sync reply", () => {
    const p = new ClientProtocol();
    expect(p.receive(push(1))).toMatchObject({ kind: "events", gaps: false });
    const held = p.receive(push(3));
    expect(held).toMatchObject({ kind: "events", events: [], gaps: true });
    // WHEN sync from cursor 1 returns 2 and 3
    expect(p.syncFrame()).toEqual({ action: "sync", cursors: { [C]: 1 } });
    const step = p.synced({
      type: "sync",
      complete: true,
      conversations: [
        { conversationId: C, type: "dm", lastSeq: 3, readSeq: 0, hasMore: false, messages: [JSON.parse(push(2)), JSON.parse(push(3))] },
      ],
    });
    // THEN 2 and 3 come out once, in order, as message events
    expect(step.messages.map((m) => [m.type, m.seq])).toEqual([
      ["message", 2],
      ["message", 3],
    ]);
    expect(step.progressed).toBe(true);
    expect(step.complete).toBe(true);
    expect(step.conversations[C]).toEqual({ conversationId: C, type: "dm", lastSeq: 3, readSeq: 0, hasMore: false });
    expect(p.sequencer.hasGaps()).toBe(false);
  });

  it("emits an update after an event changes a held message", () => {
    const p = new ClientProtocol();
    p.receive(push(1));
    const incoming = p.receive(push(2, { type: "reaction", target: 1, key: "👍", on: true }));
    expect(incoming.kind).toBe("events");
    const events = incoming.kind === "events" ? incoming.events : [];
    expect(events.map((e) => e.type)).toEqual(["message", "update"]);
    expect(events[1]).toMatchObject({ conversationId: C, seq: 1, message: { reactions: { "👍": ["bob"] } } });
  });

  it("moves the cursor on its own ack without delivering", () => {
    const p = new ClientProtocol();
    expect(p.acked({ type: "ack", conversationId: C, seq: 1 })).toEqual([]);
    expect(p.sequencer.cursor(C)).toBe(1);
    expect(p.acked({ type: "ack" })).toEqual([]);
  });
});
