import { describe, expect, it } from "vitest";
import { applyEvent, MessageStore, type HeldMessage } from "../../src/core/rich.js";

const C = "grp:01J9Z3M2Q4W6E8R0T2Y4U6I8O0";
const text = (seq: number, value: string, senderId = "alice"): HeldMessage => ({
  conversationId: C,
  seq,
  senderId,
  ts: seq * 1000,
  body: { type: "text", text: value },
});
const event = (seq: number, body: Record<string, unknown>, senderId = "alice"): HeldMessage => ({
  conversationId: C,
  seq,
  senderId,
  ts: seq * 1000,
  body,
});

describe("applyEvent (section 9.2)", () => {
  it("applies an edit: newest text and edited {seq, ts}", () => {
    const edited = applyEvent(text(1, "helo"), event(2, { type: "edit", target: 1, text: "hello" }));
    expect(edited).toMatchObject({ body: { type: "text", text: "hello" }, edited: { seq: 2, ts: 2000 } });
  });

  it("applies a delete: body deleted and deleted {seq, ts, by}", () => {
    const deleted = applyEvent(text(1, "oops"), event(3, { type: "delete", target: 1 }, "carol"));
    expect(deleted?.body).toEqual({ type: "deleted" });
    expect(deleted?.deleted).toEqual({ seq: 3, ts: 3000, by: "carol" });
  });

  it("adds and removes reactions per user, dropping empty keys", () => {
    // GIVEN bob and carol react 👍, then bob takes his back
    let m = applyEvent(text(1, "hi"), event(2, { type: "reaction", target: 1, key: "👍", on: true }, "bob"))!;
    m = applyEvent(m, event(3, { type: "reaction", target: 1, key: "👍", on: true }, "carol"))!;
    m = applyEvent(m, event(4, { type: "reaction", target: 1, key: "👍", on: false }, "bob"))!;
    // THEN only carol's remains
    expect(m.reactions).toEqual({ "👍": ["carol"] });
    // AND when she removes hers the field goes
    m = applyEvent(m, event(5, { type: "reaction", target: 1, key: "👍", on: false }, "carol"))!;
    expect(m.reactions).toBeUndefined();
  });

  it("ignores events for other targets, older events and changes to deleted messages", () => {
    const target = text(5, "x");
    expect(applyEvent(target, event(6, { type: "edit", target: 4, text: "y" }))).toBeUndefined();
    expect(applyEvent(target, event(4, { type: "edit", target: 5, text: "y" }))).toBeUndefined();
    expect(applyEvent(target, text(7, "not an event"))).toBeUndefined();
    const gone = applyEvent(target, event(8, { type: "delete", target: 5 }))!;
    expect(applyEvent(gone, event(9, { type: "reaction", target: 5, key: "x", on: true }, "bob"))).toBeUndefined();
  });
});

describe("MessageStore", () => {
  it("applies live events to held targets and erases edits of a deleted message", () => {
    // GIVEN a held text, edited once
    const store = new MessageStore();
    store.apply(text(1, "draft"));
    expect(store.apply(event(2, { type: "edit", target: 1, text: "final" })).updated?.body).toEqual({
      type: "text",
      text: "final",
    });
    // WHEN it is deleted
    const { updated } = store.apply(event(3, { type: "delete", target: 1 }));
    // THEN it reads deleted, and the edit event no longer carries the text
    expect(updated?.body).toEqual({ type: "deleted" });
    expect(store.get(C, 2)?.body).toEqual({ type: "edit", target: 1 });
    expect(store.messages(C).map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it("does not re-apply an event a history snapshot already reflects", () => {
    // GIVEN history showing message 1 with bob's reaction, as of seq 3
    const store = new MessageStore();
    store.hold([{ ...text(1, "hi"), reactions: { "👍": ["bob"] } }], 3);
    // WHEN the old 'on' (2) and 'off' (3) events are replayed, then a new 'on' (4) arrives
    expect(store.apply(event(2, { type: "reaction", target: 1, key: "👍", on: true }, "bob")).updated).toBeUndefined();
    expect(store.apply(event(3, { type: "reaction", target: 1, key: "👍", on: false }, "bob")).updated).toBeUndefined();
    const { updated } = store.apply(event(4, { type: "reaction", target: 1, key: "🎉", on: true }, "carol"));
    // THEN only the new one changes the held state
    expect(updated?.reactions).toEqual({ "👍": ["bob"], "🎉": ["carol"] });
  });

  it("keeps the newest messages per conversation within its limit", () => {
    const store = new MessageStore(4);
    for (let seq = 1; seq <= 20; seq++) store.apply(text(seq, `m${seq}`));
    const held = store.messages(C).map((m) => m.seq);
    expect(held.length).toBeLessThanOrEqual(5);
    expect(held.at(-1)).toBe(20);
    store.forget(C);
    expect(store.messages(C)).toEqual([]);
  });
});
