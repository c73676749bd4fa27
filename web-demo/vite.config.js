import { defineConfig } from "vite";

// `npm run dev` serves the app with hot reload and passes /ws through to a fastport-server
// (FASTPORT_SERVER, default http://127.0.0.1:8080: `npm start` in the repository root).
// `npm run build` writes dist/, which fastport-server serves itself.
const server = process.env.FASTPORT_SERVER ?? "http://127.0.0.1:8080";

export default defineConfig({
  // Relative asset URLs: dist/ works from any path the server mounts it at.
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2020",
    // The module (about 200 KB) is fetched by the package's own glue: keep it a file.
    assetsInlineLimit: 0,
  },
  server: {
    proxy: { "/ws": { target: server, ws: true } },
    // fastport-wasm is linked from ../client-wasm/pkg (a file: dependency).
    fs: { allow: [".."] },
  },
});
