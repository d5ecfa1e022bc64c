/** The app's registration challenge solver: the SDK's search in a worker of the app's origin. */

import { solveChallenge, type ChallengeSolver } from "/parley.js";

/**
 * Solve in `pow.worker.ts` (Vite builds it into /assets/, allowed by `script-src 'self'`);
 * where that worker cannot start, the SDK's default (steps that yield on this thread).
 */
export const solveInWorker: ChallengeSolver = (challenge, difficulty) =>
  new Promise<string>((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker(new URL("./pow.worker.ts", import.meta.url), { type: "module", name: "parley-challenge" });
    } catch {
      solveChallenge(challenge, difficulty).then(resolve, reject);
      return;
    }
    worker.onmessage = (event: MessageEvent<{ solution?: unknown; error?: unknown }>) => {
      worker.terminate();
      if (typeof event.data.solution === "string") resolve(event.data.solution);
      else reject(new RangeError(String(event.data.error ?? "the challenge worker found no solution")));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      solveChallenge(challenge, difficulty).then(resolve, reject);
    };
    worker.postMessage([challenge, difficulty]);
  });
