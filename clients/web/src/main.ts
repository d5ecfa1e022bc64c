/** Entry point: read where the APIs are (`/config.json`), then start the app. */

import { App, type Config } from "./app.js";
import "./style.css";

async function main(): Promise<void> {
  const root = document.getElementById("app");
  if (!root) return;
  let config: Config;
  try {
    const response = await fetch("/config.json", { cache: "no-store" });
    config = (await response.json()) as Config;
  } catch {
    root.textContent = "Parley could not load its settings (/config.json). Is the server running?";
    return;
  }
  const app = new App(root, config);
  // A handle for the browser's console and the browser tests (calls: app.call.pc).
  (window as unknown as { parleyApp: App }).parleyApp = app;
  await app.start();
}

void main();
