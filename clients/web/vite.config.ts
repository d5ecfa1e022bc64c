import { defineConfig } from "vitest/config";

// The app loads the SDK at run time from /parley.js (built by vite.sdk.config.ts), the same
// one module any page on the server can import, so the SDK is fetched once and not bundled twice.
// `--mode sw` builds the service worker instead: one classic script at the root (/sw.js, so
// that its scope is the whole app), unhashed (browsers look for updates at a fixed URL), and
// self-contained (module service workers are not supported everywhere).
export default defineConfig(({ mode }) =>
  mode === "sw"
    ? {
        build: {
          outDir: "dist",
          emptyOutDir: false,
          target: "es2022",
          copyPublicDir: false,
          lib: { entry: "src/sw.ts", formats: ["iife"], name: "parleyServiceWorker", fileName: () => "sw.js" },
        },
      }
    : {
        base: "/",
        build: {
          outDir: "dist",
          emptyOutDir: false,
          target: "es2022",
          rollupOptions: { external: ["/parley.js"] },
        },
        // The registration challenge's worker (src/pow.worker.ts): an ES module in /assets/
        // that imports the same /parley.js at run time, like the app.
        worker: { format: "es", rolldownOptions: { external: ["/parley.js"] } },
        test: {
          include: ["test/**/*.test.ts"],
          environment: "node",
          // The browser loads the SDK from /parley.js; the unit tests take the same build.
          alias: { "/parley.js": decodeURIComponent(new URL("../js/dist/index.js", import.meta.url).pathname) },
        },
      },
);
