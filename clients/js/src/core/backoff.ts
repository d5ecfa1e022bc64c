/** Jittered exponential backoff (pure: the random source is passed in). */

const MAX_EXPONENT = 32;

/**
 * Delay before retry `attempt` (0-based): uniform in `[0, min(cap, base * 2**attempt)]`.
 *
 * This "full jitter" schedule spreads a crowd of reconnecting clients evenly instead of
 * letting them retry in waves.
 */
export function fullJitter(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  if (!(attempt >= 0)) throw new RangeError("attempt must be >= 0");
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, MAX_EXPONENT));
  return random() * Math.max(0, ceiling);
}

/**
 * The reconnect schedule: full jitter over consecutive failures, reset once a connection
 * stayed up for `stableAfterMs` (so one flap after hours of uptime starts over at `base`).
 */
export class ReconnectSchedule {
  private attempt = 0;
  private connectedAt: number | undefined;

  constructor(
    readonly baseMs: number,
    readonly capMs: number,
    readonly stableAfterMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** A connection opened at `now` (milliseconds, any monotonic clock). */
  connected(now: number): void {
    this.connectedAt = now;
  }

  /** The connection was lost at `now`; a long-lived one resets the schedule. */
  disconnected(now: number): void {
    if (this.connectedAt !== undefined && now - this.connectedAt >= this.stableAfterMs) {
      this.attempt = 0;
    }
    this.connectedAt = undefined;
  }

  /** The delay before the next attempt; each call counts one attempt. */
  nextDelay(): number {
    return fullJitter(this.attempt++, this.baseMs, this.capMs, this.random);
  }

  /** How many delays were handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }
}
