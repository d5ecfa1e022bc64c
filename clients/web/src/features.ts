/**
 * What the server has on for this user (`GET /me` `features`, protocol section 15): the UI
 * hides what is off instead of offering an action the server would refuse (1001 or 1007).
 */

/** The boolean features the UI follows. */
export type FeatureName = "edit" | "delete" | "reaction" | "file" | "typing" | "presence" | "read";

export type FeatureMap = Readonly<Record<string, boolean | number>>;

/**
 * Whether `name` is on. A server that does not send `features` (an older release), or
 * leaves one out, has it on: only an explicit `false` turns a feature off.
 */
export function isOn(features: FeatureMap | undefined, name: FeatureName): boolean {
  return features?.[name] !== false;
}

/** The `features` of a `GET /me` answer, or undefined when it has none (or a malformed one). */
export function featuresOf(me: unknown): FeatureMap | undefined {
  if (typeof me !== "object" || me === null) return undefined;
  const found = (me as { features?: unknown }).features;
  if (typeof found !== "object" || found === null || Array.isArray(found)) return undefined;
  const out: Record<string, boolean | number> = {};
  for (const [key, value] of Object.entries(found)) {
    if (typeof value === "boolean" || typeof value === "number") out[key] = value;
  }
  return out;
}
