import { defineConfig } from "vite";

// The SDK's compiled output (clients/js/dist, `make js`) as ONE ES module: dist/parley.js.
export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    minify: false,
    sourcemap: true,
    lib: {
      entry: "../js/dist/index.js", // relative to this directory (the project root of the build)
      formats: ["es"],
      fileName: () => "parley.js",
    },
  },
});
