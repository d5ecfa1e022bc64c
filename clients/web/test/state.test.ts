import { describe, expect, it } from "vitest";
import {
  bodyText,
  dmId,
  dmPeer,
  mentionsIn,
  mergeMessages,
  reactionChips,
  resolveMessages,
  sizeLabel,
  sortConversations,
  titleOf,
  type ChatBody,
  type ChatMessage,
} from "../src/state.js";

const msg = (seq: number, senderId = "bob", text = `m${seq}`, clientMsgId?: string): ChatMessage => ({
  conversationId: "dm:alice:bob",
  seq,
  senderId,
  body: { type: "text", text },
  ts: 1000 + seq,
  ...(clientMsgId ? { clientMsgId } : {}),
});

describe("mergeMessages", () => {
  it("keeps each seq once, in order, whatever order pages and pushes come in", () => {
    // GIVEN a pushed message, then an older history page overlapping it, then a repeat
    const merged = mergeMessages(mergeMessages([msg(5)], [msg(3), msg(4), msg(5)]), [msg(5), msg(6)]);
    // THEN every seq shows once, ascending
    expect(merged.map((m) => m.seq)).toEqual([3, 4, 5, 6]);
  });

  it("replaces a message being sent by its stored copy, and keeps sending ones last", () => {
    const sending = { ...msg(0, "alice", "hi", "c1"), pending: true };
    const other = { ...msg(0, "alice", "again", "c2"), pending: true };
    const merged = mergeMessages([msg(1), sending, other], [msg(2, "alice", "hi", "c1")]);
    expect(merged.map((m) => [m.seq, m.clientMsgId])).toEqual([
      [1, undefined],
      [2, "c1"],
      [0, "c2"],
    ]);
  });
});

describe("conversations", () => {
  it("names DMs by the other party and groups by name", () => {
    expect(dmId("bob", "alice")).toBe("dm:alice:bob");
    expect(dmPeer("dm:alice:bob", "bob")).toBe("alice");
    expect(dmPeer("grp:01H", "bob")).toBeUndefined();
    expect(titleOf({ conversationId: "dm:alice:bob", name: undefined }, "alice")).toBe("bob");
    expect(titleOf({ conversationId: "dm:alice:alice", name: undefined }, "alice")).toBe("alice (you)");
    expect(titleOf({ conversationId: "grp:01H", name: "Team" }, "alice")).toBe("Team");
  });

  it("lists the most recent first", () => {
    const list = sortConversations([
      { conversationId: "a", type: "dm", lastSeq: 1, readSeq: 1, unread: 0, lastTs: 5 },
      { conversationId: "b", type: "dm", lastSeq: 1, readSeq: 1, unread: 0, lastTs: 9 },
      { conversationId: "c", type: "group", lastSeq: 0, readSeq: 0, unread: 0 },
    ]);
    expect(list.map((c) => c.conversationId)).toEqual(["b", "a", "c"]);
  });

  it("writes system messages in words", () => {
    expect(bodyText({ body: { type: "system", event: "members_added", by: "alice", userIds: ["bob", "carol"] } })).toBe("alice added bob, carol");
    expect(bodyText({ body: { type: "system", event: "group_created", by: "alice" } })).toBe("alice created the group");
    expect(bodyText({ body: { type: "custom" } })).toBe("A message this app cannot show yet");
  });
});

const event = (seq: number, senderId: string, body: ChatBody): ChatMessage => ({ conversationId: "dm:alice:bob", seq, senderId, body, ts: 1000 + seq });

describe("resolveMessages", () => {
  it("applies edits, reactions and deletes to their targets and hides the events", () => {
    // GIVEN two messages, then an edit, two reactions (one taken back) and a delete
    const held = [
      msg(1, "alice", "helo"),
      msg(2, "bob", "hi"),
      event(3, "alice", { type: "edit", target: 1, text: "hello" }),
      event(4, "bob", { type: "reaction", target: 1, key: "👍", on: true }),
      event(5, "alice", { type: "reaction", target: 1, key: "👍", on: true }),
      event(6, "alice", { type: "reaction", target: 1, key: "👍", on: false }),
      event(7, "bob", { type: "delete", target: 2 }),
    ];
    // WHEN resolved
    const shown = resolveMessages(held);
    // THEN only the two messages show, in their current state
    expect(shown.map((m) => m.seq)).toEqual([1, 2]);
    expect(shown[0]?.body.text).toBe("hello");
    expect(shown[0]?.edited).toEqual({ seq: 3, ts: 1003 });
    expect(shown[0]?.reactions).toEqual({ "👍": ["bob"] });
    expect(shown[1]?.body.type).toBe("deleted");
    expect(bodyText(shown[1]!)).toBe("Message deleted");
    // AND the held messages are unchanged (resolving again gives the same)
    expect(held[0]?.body.text).toBe("helo");
    expect(resolveMessages(held)).toEqual(shown);
  });

  it("replays events over a history page that already shows them, ending in the same state", () => {
    // GIVEN a target from history that already reflects an edit and a reaction, and the events
    const target: ChatMessage = { ...msg(1, "alice", "v2"), edited: { seq: 3, ts: 1003 }, reactions: { "🎉": ["bob"] } };
    const held = [
      target,
      event(2, "alice", { type: "edit", target: 1, text: "v1" }),
      event(3, "alice", { type: "edit", target: 1, text: "v2" }),
      event(4, "bob", { type: "reaction", target: 1, key: "🎉", on: true }),
    ];
    // WHEN resolved THEN nothing is applied twice, and the older edit does not win
    const [shown] = resolveMessages(held);
    expect(shown?.body.text).toBe("v2");
    expect(shown?.reactions).toEqual({ "🎉": ["bob"] });
  });

  it("leaves messages being sent as they are, and events whose target is not held", () => {
    const sending = { ...msg(0, "alice", "typing", "c1"), pending: true };
    const shown = resolveMessages([msg(5), event(6, "bob", { type: "delete", target: 2 }), sending]);
    expect(shown).toEqual([msg(5), sending]);
  });
});

describe("rich message helpers", () => {
  it("finds @mentions of members only, once each, never yourself", () => {
    const members = ["alice", "bob", "carol.k"];
    expect(mentionsIn("@bob and @carol.k, also @bob and @zed", members, "alice")).toEqual(["bob", "carol.k"]);
    expect(mentionsIn("mail me at x@bob.com or @alice", members, "alice")).toEqual([]);
  });

  it("writes sizes and files in words", () => {
    expect(sizeLabel(532)).toBe("532 B");
    expect(sizeLabel(12_800)).toBe("13 KB");
    expect(sizeLabel(3_565_158)).toBe("3.4 MB");
    expect(bodyText({ body: { type: "file", name: "plan.pdf" } })).toBe("📎 plan.pdf");
    expect(bodyText({ body: { type: "file", name: "p.png", caption: "The view" } })).toBe("📎 The view");
  });

  it("counts reactions and marks your own", () => {
    expect(reactionChips({ "👍": ["bob", "alice"], "😂": ["bob"] }, "alice")).toEqual([
      ["👍", 2, true],
      ["😂", 1, false],
    ]);
    expect(reactionChips(undefined, "alice")).toEqual([]);
  });
});
