import { describe, expect, it } from "vitest";
import { base64UrlBytes, conversationInLink, conversationLink, conversationOf, notificationFor, parsePayload } from "../src/notify.js";

const payload = { type: "message", conversationId: "dm:alice:bob", seq: 7, senderId: "alice", ts: 1_700_000_000_000 };

describe("notificationFor", () => {
  it("titles the notification with the sender and shows the preview", () => {
    // GIVEN a section 10 payload with a preview (PushPreviews=on) WHEN built
    const spec = notificationFor({ ...payload, preview: "Lunch at 12:30?" });
    // THEN the sender is the title, the preview the body, and the click knows the conversation
    expect(spec.title).toBe("alice");
    expect(spec.options).toEqual({
      body: "Lunch at 12:30?",
      tag: "parley:dm:alice:bob",
      renotify: true,
      timestamp: payload.ts,
      data: { conversationId: "dm:alice:bob", seq: 7 },
    });
  });

  it('says "New message" without a preview (the default: no message text leaves the server)', () => {
    expect(notificationFor(payload).options.body).toBe("New message");
    expect(notificationFor({ ...payload, preview: "  " }).options.body).toBe("New message");
  });

  it("shows a generic notification for anything that is not a section 10 payload", () => {
    // GIVEN pushes a browser may still deliver: no JSON, another type, missing fields
    for (const odd of [undefined, null, "text", { ...payload, type: "receipt" }, { ...payload, seq: "7" }, { ...payload, senderId: "" }]) {
      // THEN a notification still shows (browsers require one), naming no conversation
      const spec = notificationFor(odd);
      expect(spec.title).toBe("Parley");
      expect(spec.options.data).toBeNull();
      expect(parsePayload(odd)).toBeUndefined();
    }
  });
});

describe("conversation links", () => {
  it("round-trip a conversation id through the app's URL", () => {
    const link = conversationLink("http://127.0.0.1:3002", "grp:01J&x");
    expect(link).toBe("http://127.0.0.1:3002/?conversation=grp%3A01J%26x");
    expect(conversationInLink(new URL(link).search)).toBe("grp:01J&x");
    expect(conversationInLink("")).toBeUndefined();
  });

  it("reads the conversation of a notification's data", () => {
    expect(conversationOf({ conversationId: "dm:a:b", seq: 1 })).toBe("dm:a:b");
    expect(conversationOf(null)).toBeUndefined();
    expect(conversationOf({ conversationId: 3 })).toBeUndefined();
  });
});

describe("base64UrlBytes", () => {
  it("decodes the VAPID key of /push/config", () => {
    // GIVEN 65 bytes (an uncompressed P-256 point) in base64url without padding
    const bytes = Uint8Array.from({ length: 65 }, (_, i) => (i * 37 + 4) % 256);
    const text = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    expect(text).toMatch(/^[A-Za-z0-9_-]{87}$/);
    // THEN they come back exactly
    expect([...base64UrlBytes(text)]).toEqual([...bytes]);
  });
});
