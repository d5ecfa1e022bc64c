/** Starts the project's local cloud (`python -m parley_local`) on free ports for a test file. */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
const PYTHON = `${REPO}.venv/bin/python`;

/** Why the integration tests cannot run here, or undefined when they can. */
export const skipReason: string | undefined = existsSync(PYTHON)
  ? undefined
  : "integration tests skipped: .venv is missing (run `make install` at the repository root)";

export interface LocalCloud {
  httpUrl: string;
  wsUrl: string;
  stop(): Promise<void>;
}

/**
 * Start the local cloud on free ports and wait until `/health` answers. `parameters` are
 * template parameter overrides (`{RegistrationChallenge: "pow"}`); the local cloud's own
 * defaults (`RegistrationChallenge=off`, as `make dev`) hold for the rest.
 */
export async function startLocalCloud(timeoutMs = 90_000, parameters: Record<string, string> = {}): Promise<LocalCloud> {
  const overrides = Object.entries(parameters).map(([name, value]) => `${name}=${value}`);
  const args = ["-m", "parley_local", "--no-color"];
  if (overrides.length) args.push("--parameter-overrides", ...overrides);
  const child = spawn(PYTHON, args, {
    cwd: REPO,
    env: { ...process.env, PARLEY_HTTP_PORT: "0", PARLEY_WS_PORT: "0", PARLEY_WEB_PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const urls = await new Promise<{ httpUrl: string; wsUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the local cloud did not start within ${timeoutMs} ms:\n${output.slice(-3000)}`));
    }, timeoutMs);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const http = /HTTP API\s+(http:\/\/\S+)/.exec(output);
      const ws = /WebSocket\s+(ws:\/\/\S+)/.exec(output);
      if (http?.[1] && ws?.[1]) {
        clearTimeout(timer);
        resolve({ httpUrl: http[1], wsUrl: ws[1] });
      }
    };
    child.stdout?.on("data", read);
    child.stderr?.on("data", read);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the local cloud exited with ${code}:\n${output.slice(-3000)}`));
    });
  });
  // Keep draining its output so that a full pipe never blocks it.
  child.stdout?.removeAllListeners("data").resume();
  child.stderr?.removeAllListeners("data").resume();
  child.removeAllListeners("exit");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`${urls.httpUrl}/health`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop(child);
      throw new Error("the local cloud never answered /health");
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { ...urls, stop: () => stop(child) };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
