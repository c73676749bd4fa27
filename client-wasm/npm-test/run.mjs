// Loads the test pages of scripts/test-npm-package.sh (the Vite app, the plain page, the
// worker page) in headless Chromium (Debian's, through playwright-core) from a small static
// server, checks that each shows "ok: ..." with no console error, then measures the
// package's crypto throughput in the same browser if it exports measureCrypto.
//
// node client-wasm/npm-test/run.mjs --url ws://HOST:PORT/ws --vite DIST --plain DIR
//     [--crypto-md FILE] [--chromium /usr/bin/chromium]
// Exits 1 with the reason on stderr when a page fails.

import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: opts } = parseArgs({
  options: {
    url: { type: "string" },
    vite: { type: "string" },
    plain: { type: "string" },
    "crypto-md": { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
for (const required of ["url", "vite", "plain"]) {
  if (!opts[required]) die(`--${required} is required`);
}

const PAGE_TIMEOUT_MS = 60_000;
const CRYPTO_SIZES = [1024, 64 * 1024];
const RUNS = 3;
const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".css": "text/css",
  ".ts": "text/plain",
  ".md": "text/plain",
};

const roots = { vite: resolve(opts.vite), plain: resolve(opts.plain) };
const server = await serve(roots);
const base = `http://127.0.0.1:${server.address().port}`;
const profile = mkdtempSync(join(tmpdir(), "fastport-chromium-"));
let context;
let failed = false;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: opts.chromium,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  let measured = null;
  for (const [name, path, what] of [
    ["vite", "vite/index.html", "Vite app (npm install of the packed tarball, vite build)"],
    ["plain", "plain/index.html", "plain <script type=\"module\"> from the unpacked tarball"],
    ["worker", "plain/worker.html", "module Web Worker importing the unpacked tarball"],
  ]) {
    const page = await context.newPage();
    const ok = await check(page, `${base}/${path}`, what);
    failed ||= !ok;
    if (ok && name === "vite" && opts["crypto-md"]) measured = await measure(page);
    await page.close();
  }
  if (measured) report(measured);
} catch (e) {
  console.error(`run: ERROR: ${e.stack || e}`);
  failed = true;
} finally {
  await context?.close().catch(() => {});
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

/** Loads one page; true when it shows "ok: ..." and logged no error. */
async function check(page, address, what) {
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
    else if (m.type() === "warning") console.log(`  (console warning: ${m.text()})`);
  });
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  page.on("requestfailed", (r) => {
    // A WebSocket refused on purpose (the wrong password) is not a failed request; only HTTP.
    if (r.url().startsWith("http")) problems.push(`request failed: ${r.url()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  const url = `${address}?url=${encodeURIComponent(opts.url)}`;
  let result = "";
  try {
    await page.goto(url);
    const handle = await page.waitForFunction(
      () => {
        const text = document.getElementById("result")?.textContent ?? "";
        return /^(ok|error):/.test(text) && text;
      },
      null,
      { timeout: PAGE_TIMEOUT_MS },
    );
    result = await handle.jsonValue();
  } catch (e) {
    const shown = await page.locator("#result").textContent().catch(() => "(no page)");
    problems.push(`no result after ${PAGE_TIMEOUT_MS / 1000}s (page shows "${shown}"): ${e.message}`);
  }
  if (result && !result.startsWith("ok:")) problems.unshift(result);
  if (problems.length === 0) {
    console.log(`run: PASS ${what}\n  ${result}`);
    return true;
  }
  console.error(`run: FAIL ${what} (${url})`);
  for (const p of problems) console.error(`  ${p}`);
  return false;
}

/** Seal/open throughput for each size, or null if the package has no measureCrypto. */
async function measure(page) {
  const present = await page.evaluate(() => typeof window.fastportTest?.measureCrypto === "function");
  if (!present) {
    console.log("run: crypto throughput skipped: the package does not export measureCrypto yet");
    return null;
  }
  const rows = [];
  for (const size of CRYPTO_SIZES) {
    // A short run to learn the speed, then RUNS runs of about 0.3 s each way: the median.
    const rate = (r) => Math.max(1, Math.min(r.sealMBps, r.openMBps));
    const once = async (iterations) => {
      const r = await page.evaluate(
        ([s, n]) => window.fastportTest.measureCrypto(s, n),
        [size, iterations],
      );
      for (const k of ["sealMBps", "openMBps"]) {
        if (!(typeof r?.[k] === "number" && r[k] > 0)) {
          throw new Error(`measureCrypto(${size}, ${iterations}) gave ${JSON.stringify(r)}`);
        }
      }
      return r;
    };
    const probe = await once(Math.ceil((256 * 1024) / size));
    const iterations = Math.max(10, Math.min(1e6, Math.ceil((0.3 * rate(probe) * 1e6) / size)));
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await once(iterations));
    const median = (k) => runs.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(RUNS / 2)];
    rows.push({ size, iterations, sealMBps: median("sealMBps"), openMBps: median("openMBps") });
  }
  // The user agent string says 156.0.0.0; the browser itself tells the full version.
  const cdp = await page.context().newCDPSession(page);
  const { product } = await cdp.send("Browser.getVersion");
  await cdp.detach();
  return { rows, browser: product.replace(/^(Headless)?Chrome\//, "Chromium ") };
}

function report({ rows, browser }) {
  const kib = (n) => `${n / 1024} KiB`;
  const lines = [
    `fastport-wasm crypto (AES-256-CBC + HMAC-SHA256 envelope) in headless ${browser},`,
    `package built by scripts/build-wasm.sh, measured by scripts/test-npm-package.sh`,
    `on ${new Date().toISOString().slice(0, 10)}; median of ${RUNS} runs, MB = 10^6 bytes:`,
    "",
    "| payload | iterations | seal MB/s | open MB/s |",
    "|--------:|-----------:|----------:|----------:|",
    ...rows.map((r) => `| ${kib(r.size)} | ${r.iterations} | ${r.sealMBps.toFixed(1)} | ${r.openMBps.toFixed(1)} |`),
  ];
  const text = lines.join("\n") + "\n";
  writeFileSync(opts["crypto-md"], text);
  console.log(`run: crypto throughput (also in ${opts["crypto-md"]}):\n\n${text}`);
}

/** A static server: /vite/... from the Vite build, /plain/... from the plain page's folder. */
function serve(roots) {
  const s = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const [, name, ...rest] = path.split("/");
    const root = roots[name];
    const file = root && normalize(join(root, ...rest));
    if (!file || !file.startsWith(root + "/") || !isFile(file)) {
      res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${path}\n`);
      return;
    }
    res.writeHead(200, {
      "content-type": MIME[extname(file)] ?? "application/octet-stream",
      "cache-control": "no-store",
    });
    res.end(readFileSync(file));
  });
  return new Promise((ok, fail) => {
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => ok(s));
  });
}

function isFile(path) {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function die(message) {
  console.error(`run: ERROR: ${message}`);
  process.exit(1);
}
