import { describe, expect, it } from "vitest";
import { Sequencer, type Sequenced } from "../../src/core/sequencer.js";

const msg = (seq: number, conversationId = "dm:alice:bob"): Sequenced => ({ conversationId, seq, text: `m${seq}` });
const seqs = (messages: Sequenced[]) => messages.map((m) => m.seq);

describe("Sequencer", () => {
  it("delivers in order and drops a repeated (conversationId, seq)", () => {
    // GIVEN a sequencer at cursor 0
    const s = new Sequencer();
    // WHEN messages 1, 2 arrive, then 2 again
    const first = [...s.push(msg(1)), ...s.push(msg(2))];
    const repeat = s.push(msg(2));
    // THEN 1 and 2 are delivered once and the cursor is 2
    expect(seqs(first)).toEqual([1, 2]);
    expect(repeat).toEqual([]);
    expect(s.cursor("dm:alice:bob")).toBe(2);
  });

  it("holds a message beyond a gap until the gap is filled", () => {
    // GIVEN message 1 delivered
    const s = new Sequencer();
    s.push(msg(1));
    // WHEN 3 arrives before 2
    const early = s.push(msg(3));
    // THEN 3 is held and a gap is reported
    expect(early).toEqual([]);
    expect(s.hasGaps()).toBe(true);
    expect(s.gaps()).toEqual({ "dm:alice:bob": [1, 3] });
    // WHEN 2 arrives THEN 2 and 3 come out in order
    expect(seqs(s.push(msg(2)))).toEqual([2, 3]);
    expect(s.hasGaps()).toBe(false);
  });

  it("fills a gap from sync and treats sync's jumps as authoritative", () => {
    // GIVEN a new group member whose first push is seq 7 (joined at 5), held
    const s = new Sequencer();
    s.push(msg(7, "grp:1"));
    // WHEN sync returns 5, 6, 7
    const out = s.synced("grp:1", [msg(5, "grp:1"), msg(6, "grp:1"), msg(7, "grp:1")]);
    // THEN 5, 6, 7 are delivered once, in order
    expect(seqs(out)).toEqual([5, 6, 7]);
    expect(s.cursor("grp:1")).toBe(7);
    expect(s.hasGaps()).toBe(false);
  });

  it("moves the cursor for its own acked sends without delivering them", () => {
    // GIVEN cursor 1
    const s = new Sequencer({ "dm:alice:bob": 1 });
    // WHEN our send is acked at 3 and the push of 2 arrives
    expect(s.acked("dm:alice:bob", 3)).toEqual([]);
    const out = s.push(msg(2));
    // THEN only 2 is delivered, the cursor is 3
    expect(seqs(out)).toEqual([2]);
    expect(s.cursor("dm:alice:bob")).toBe(3);
    // AND sync bringing our own 3 does not deliver it
    expect(s.synced("dm:alice:bob", [msg(3)])).toEqual([]);
  });

  it("skips our own ack inside a sync reply", () => {
    // GIVEN an ack at 2 held behind a missing 1
    const s = new Sequencer();
    s.acked("c", 2);
    // WHEN sync brings 1 and 2
    const out = s.synced("c", [msg(1, "c"), msg(2, "c")]);
    // THEN only 1 is delivered
    expect(seqs(out)).toEqual([1]);
  });

  it("gives up on holes with flushGaps, delivering held messages in order", () => {
    const s = new Sequencer();
    s.push(msg(4));
    s.push(msg(3));
    expect(seqs(s.flushGaps())).toEqual([3, 4]);
    expect(s.cursor("dm:alice:bob")).toBe(4);
  });

  it("starts unknown conversations at the first message without backfill", () => {
    const s = new Sequencer({}, false);
    expect(seqs(s.push(msg(9)))).toEqual([9]);
  });

  it("imports and exports cursors, refusing bad ones", () => {
    const s = new Sequencer();
    s.importCursors({ a: 3 });
    s.push(msg(5, "a"));
    s.importCursors({ a: 5 });
    expect(s.hasGaps()).toBe(false);
    expect(s.exportCursors()).toEqual({ a: 5 });
    expect(() => s.importCursors({ a: -1 })).toThrow(RangeError);
    s.importCursors({ b: 1 }, true);
    expect(s.exportCursors()).toEqual({ b: 1 });
  });
});
