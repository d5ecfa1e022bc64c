/** A bounded FIFO of events with predicate-based waiting, for async iteration. */

import { ParleyClosedError, ParleyTimeoutError } from "./errors.js";

interface Waiter<T> {
  predicate: ((item: T) => boolean) | undefined;
  resolve: (item: T) => void;
  reject: (error: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Events waiting to be consumed. Past `maxLength` the oldest are dropped (counted in
 * {@link dropped}), so an app that only uses listeners never grows memory. After
 * {@link close}, consumers drain what is left and then get the closing error.
 */
export class EventQueue<T> {
  private items: T[] = [];
  private waiters: Waiter<T>[] = [];
  private closedWith: Error | undefined;
  dropped = 0;

  constructor(readonly maxLength = 10_000) {
    if (!(maxLength >= 1)) throw new RangeError("maxLength must be at least 1");
  }

  get length(): number {
    return this.items.length;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Append one event, or hand it to the first waiter it matches (ignored after close). */
  put(item: T): void {
    if (this.closedWith) return;
    const index = this.waiters.findIndex((w) => !w.predicate || w.predicate(item));
    if (index >= 0) {
      const [waiter] = this.waiters.splice(index, 1);
      if (waiter?.timer !== undefined) clearTimeout(waiter.timer);
      waiter?.resolve(item);
      return;
    }
    this.items.push(item);
    if (this.items.length > this.maxLength) {
      this.items.shift();
      this.dropped += 1;
    }
  }

  /** Stop accepting events; waiters that nothing left matches get `error`. */
  close(error: Error = new ParleyClosedError("client closed")): void {
    if (this.closedWith) return;
    this.closedWith = error;
    for (const waiter of this.waiters.splice(0)) {
      if (waiter.timer !== undefined) clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }

  /** Remove and return the first (matching) waiting event, if any. */
  takeNow(predicate?: (item: T) => boolean): T | undefined {
    const index = predicate ? this.items.findIndex(predicate) : this.items.length > 0 ? 0 : -1;
    return index >= 0 ? this.items.splice(index, 1)[0] : undefined;
  }

  /**
   * Wait for and remove the first (matching) event; others stay in place.
   *
   * @throws ParleyTimeoutError nothing matched within `timeoutMs`.
   * @throws the closing error once closed with nothing matching left.
   */
  take(predicate?: (item: T) => boolean, timeoutMs?: number): Promise<T> {
    const ready = this.takeNow(predicate);
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { predicate, resolve, reject, timer: undefined };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new ParleyTimeoutError(`no matching event within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.waiters.push(waiter);
    });
  }
}
