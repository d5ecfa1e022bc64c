/**
 * The registration challenge's search (protocol section 13), off the page's main thread: a
 * module worker built by Vite into /assets/ and so served from the app's own origin (the
 * page's Content-Security-Policy, `script-src 'self'`, refuses `blob:` workers). It runs the
 * SDK's solver from /parley.js: `[challenge, difficulty]` in, `{solution}` or `{error}` out.
 */

import { solveChallengeSync } from "/parley.js";

interface WorkerScope {
  onmessage: ((event: MessageEvent<unknown>) => void) | null;
  postMessage(message: unknown): void;
}

const scope = self as unknown as WorkerScope;

scope.onmessage = (event) => {
  const [challenge, difficulty] = event.data as [string, number];
  try {
    scope.postMessage({ solution: solveChallengeSync(challenge, difficulty) });
  } catch (error) {
    scope.postMessage({ error: String(error) });
  }
};
