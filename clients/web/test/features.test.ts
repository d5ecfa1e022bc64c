import { describe, expect, it } from "vitest";
import { featuresOf, isOn } from "../src/features";

describe("features", () => {
  it("is on unless the server says false", () => {
    // GIVEN a map with typing off and edit on, and nothing about reactions
    const features = featuresOf({ userId: "alice", features: { typing: false, edit: true, fanoutDeliveriesPerMinute: 0 } });
    // THEN only typing is off
    expect(isOn(features, "typing")).toBe(false);
    expect(isOn(features, "edit")).toBe(true);
    expect(isOn(features, "reaction")).toBe(true);
  });

  it("treats a missing or malformed map as everything on", () => {
    for (const me of [{ userId: "alice" }, { features: null }, { features: [false] }, { features: "off" }, null, 7]) {
      expect(isOn(featuresOf(me), "file")).toBe(true);
    }
    // AND a value of the wrong type is ignored rather than read as off
    expect(isOn(featuresOf({ features: { delete: "no" } }), "delete")).toBe(true);
  });
});
