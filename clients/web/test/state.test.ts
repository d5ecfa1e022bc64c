import { describe, expect, it } from "vitest";
import { bodyText, dmId, dmPeer, mergeMessages, sortConversations, titleOf, type ChatMessage } from "../src/state.js";

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
