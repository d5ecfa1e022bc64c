/** Access-token helpers: unverified JWT claims (the server is the one that verifies). */

/** A JWT's payload decoded *without verification*; `{}` when it is not a JWT. */
export function jwtClaims(token: string): Record<string, unknown> {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[1] === undefined) return {};
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (ch) => ch.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims === "object" && claims !== null && !Array.isArray(claims)
      ? (claims as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** The token's `exp` in milliseconds since the epoch, undefined without a readable one. */
export function tokenExpiresAt(token: string | undefined): number | undefined {
  if (!token) return undefined;
  const exp = jwtClaims(token).exp;
  return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
}

/** True when `token` has an `exp` within `marginMs` of `now` (a token without one is good). */
export function tokenExpiresWithin(token: string, marginMs: number, now: number): boolean {
  const exp = tokenExpiresAt(token);
  return exp !== undefined && exp - now <= marginMs;
}

/**
 * When to renew the socket's token: `marginMs` before it expires, at least `minDelayMs` from
 * `now`; undefined when the token has no expiry to anticipate. A token with an `iat` is
 * renewed at most half of its life early: one cut short near the end of its login
 * (protocol section 3) is not renewed again at once.
 */
export function renewDelay(
  token: string | undefined,
  now: number,
  marginMs: number,
  minDelayMs = 50,
): number | undefined {
  const exp = tokenExpiresAt(token);
  if (exp === undefined) return undefined;
  const iat = token ? jwtClaims(token).iat : undefined;
  const lifetime = typeof iat === "number" && Number.isFinite(iat) ? exp - iat * 1000 : undefined;
  const margin = lifetime !== undefined && lifetime > 0 ? Math.min(marginMs, lifetime / 2) : marginMs;
  return Math.max(exp - now - margin, minDelayMs);
}
