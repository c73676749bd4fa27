// What the browser SDK's end-to-end tests need: a real redis-server and real fastport-server
// nodes on free ports of the loopback, the npm package (client-wasm/pkg) and page.html served
// by a small static server, and Debian's headless Chromium driven by playwright-core.
// Everything started is stopped when the test ends, the last started first.
//
// Environment: FASTPORT_SERVER_BIN (default target/debug/fastport-server), CHROMIUM (default
// /usr/bin/chromium), FASTPORT_E2E_OUT (logs of the servers, default target/wasm-e2e).

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { createServer } from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, "../..");
const PKG = path.join(ROOT, "client-wasm/pkg");
const SERVER_BIN =
  process.env.FASTPORT_SERVER_BIN ?? path.join(ROOT, "target/debug/fastport-server");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const OUT = process.env.FASTPORT_E2E_OUT ?? path.join(ROOT, "target/wasm-e2e");

/** Generous for a loaded CI machine; every wait is for an event or a condition, bounded. */
export const TIMEOUT = 30_000;
/** The admin token of every node the tests start. */
export const ADMIN_TOKEN = "admin-token-for-the-browser-e2e-tests";

/** Polls `check` (async, truthy when done) until it holds or `TIMEOUT` passes. */
export async function until(what, check) {
  const end = Date.now() + TIMEOUT;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${TIMEOUT} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const cleanups = new WeakMap();

/**
 * Runs `fn` when test `t` ends, in the reverse order of registration (node's `t.after` runs
 * hooks in order): the nodes stop before the Redis they write to, the page before its server.
 */
function onEnd(t, fn) {
  let stack = cleanups.get(t);
  if (!stack) {
    stack = [];
    cleanups.set(t, stack);
    t.after(async () => {
      let failure = null;
      while (stack.length) {
        const fn = stack.pop();
        await (async () => fn())().catch((e) => (failure ??= e));
      }
      if (failure) throw failure;
    });
  }
  stack.push(fn);
}

/** A port of 127.0.0.1 that was free a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** A child process whose stdout and stderr go to `log`, and a promise of its exit. */
function launch(bin, args, log) {
  fs.writeFileSync(log, "");
  // The server reads FASTPORT_* settings from its environment: none of this run's apply.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("FASTPORT_")),
  );
  const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], cwd: ROOT, env });
  const file = fs.createWriteStream(log, { flags: "a" });
  proc.stdout.on("data", (chunk) => file.write(chunk));
  proc.stderr.on("data", (chunk) => file.write(chunk));
  const exited = new Promise((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { proc, exited };
}

/** redis-server on a free port, keeping nothing on disk. */
export class Redis {
  static async start(t, name) {
    fs.mkdirSync(OUT, { recursive: true });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fastport-e2e-redis-"));
    onEnd(t, () => fs.rmSync(dir, { recursive: true, force: true }));
    // Another process may take the free port before redis-server binds it: try a few.
    for (let attempt = 1; ; attempt++) {
      const redis = new Redis(await freePort(), dir, path.join(OUT, `${name}-redis.log`));
      onEnd(t, () => redis.stop());
      if (await redis.ready()) return redis;
      if (attempt === 5) throw new Error(`redis-server did not start; see ${redis.log}`);
    }
  }

  constructor(port, dir, log) {
    this.port = port;
    this.log = log;
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", ""];
    args.push("--appendonly", "no", "--dir", dir, "--daemonize", "no");
    Object.assign(this, launch("redis-server", args, log));
  }

  /** `redis://127.0.0.1:PORT/0`, for `--redis`. */
  get url() {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Whether it answers PING (false once it exited). */
  async ready() {
    let gone = false;
    this.exited.then(() => (gone = true));
    return until("redis-server to answer PING", () => gone || this.cli("PING") === "PONG").then(
      () => !gone,
    );
  }

  /** redis-cli's answer to `args`, trimmed. */
  cli(...args) {
    const out = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(this.port), ...args], {
      encoding: "utf8",
    });
    return out.stdout.trim();
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGTERM");
      await this.exited;
    }
  }
}

/** A fastport-server node on `redis`, on a free port, with the admin token. */
export class Node {
  static async start(t, name, redis, id) {
    const node = new Node(path.join(OUT, `${name}-${id}.log`), redis, id);
    onEnd(t, () => node.stop());
    await node.listening();
    return node;
  }

  constructor(log, redis, id) {
    this.id = id;
    this.log = log;
    const args = ["--listen", "127.0.0.1:0", "--redis", redis.url, "--node-id", id];
    args.push("--admin-token", ADMIN_TOKEN, "--static-dir", "", "--no-demo-session");
    Object.assign(this, launch(SERVER_BIN, args, log));
  }

  /** Its WebSocket URL. */
  get url() {
    return `ws://${this.addr}/ws`;
  }

  /** Waits for the server's first line, `listening on ADDR`. */
  listening() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "listening on" from ${this.id} in ${TIMEOUT} ms`)),
        TIMEOUT,
      );
      let head = "";
      const firstLine = (chunk) => {
        head += chunk;
        const end = head.indexOf("\n");
        if (end < 0) return;
        this.proc.stdout.off("data", firstLine);
        clearTimeout(timer);
        const match = /^listening on (\S+)$/.exec(head.slice(0, end));
        if (!match) return reject(new Error(`${this.id} said first: ${head.slice(0, end)}`));
        this.addr = match[1];
        resolve(this.addr);
      };
      this.proc.stdout.on("data", firstLine);
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${this.id} exited (${code ?? signal}); see ${this.log}`));
      });
    });
  }

  /** HTTP `method path` with the admin token: `{ status, body }`. */
  async http(method, urlPath, body) {
    const response = await fetch(`http://${this.addr}${urlPath}`, {
      method,
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.text() };
  }

  /** The value of one sample of its `/metrics`. */
  async metric(sample) {
    const { status, body } = await this.http("GET", "/metrics");
    if (status !== 200) throw new Error(`/metrics of ${this.id}: ${status} ${body}`);
    const line = body.split("\n").find((l) => l.startsWith(`${sample} `));
    if (!line) throw new Error(`no sample ${sample} in /metrics of ${this.id}`);
    return Number(line.slice(sample.length + 1));
  }

  /** SIGKILL: the node vanishes without closing anything, as in a crash. */
  async kill() {
    this.proc.kill("SIGKILL");
    await this.exited;
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGTERM");
      await this.exited;
    }
  }
}

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
};

/** Serves page.html at `/`, app.js, and the package at `/pkg/`; its base URL. */
async function servePage(t) {
  const files = (url) => {
    const p = decodeURIComponent(new URL(url, "http://x").pathname);
    if (p === "/") return path.join(HERE, "page.html");
    if (p === "/app.js") return path.join(HERE, "app.js");
    if (p.startsWith("/pkg/")) {
      const file = path.join(PKG, path.normalize(p.slice("/pkg/".length)));
      if (file.startsWith(PKG + path.sep)) return file;
    }
    return null;
  };
  const server = createServer((req, res) => {
    const file = files(req.url);
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    const type = MIME[path.extname(file)] ?? "application/octet-stream";
    res.writeHead(200, { "Content-Type": type, "Cache-Control": "no-store" });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  onEnd(t, () => {
    // Chromium's keep-alive connections would hold `close` up until the browser is gone.
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${server.address().port}/`;
}

/**
 * Headless Chromium on page.html with `window.app` ready: `{ page, errors }`, `errors` being
 * what the page logged as errors (console and uncaught).
 */
export async function openPage(t) {
  if (!fs.existsSync(path.join(PKG, "fastport_wasm_bg.wasm")))
    throw new Error(`no package in ${PKG}: run scripts/build-wasm.sh`);
  const base = await servePage(t);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
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
  onEnd(t, () => browser.close());
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const errors = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
  await page.goto(base);
  await page.waitForSelector("body[data-ready]", { state: "attached" });
  return { page, errors };
}

/** The session every cluster test uses, created on node A, which then serves it. */
export const SESSION = { name: "team", password: "pw", secret: "team-secret" };

/**
 * Redis, nodes A and B on it, session `team` created through A (so A serves it), and the
 * page, with helpers to drive `window.app`: `await twoNodes(t, "name")`.
 */
export async function twoNodes(t, name) {
  fs.mkdirSync(OUT, { recursive: true });
  const redis = await Redis.start(t, name);
  const a = await Node.start(t, name, redis, "node-a");
  const b = await Node.start(t, name, redis, "node-b");
  const created = await a.http("POST", "/admin/sessions", { ...SESSION, config: {} });
  if (created.status !== 201) throw new Error(`create session: ${created.status} ${created.body}`);
  const { page, errors } = await openPage(t);
  const key = await page.evaluate(() => window.app.generateKey());
  return {
    redis,
    a,
    b,
    page,
    errors,
    /** The node id that Redis names as the session's owner. */
    owner: () => redis.cli("GET", `fastport:{${SESSION.name}}:owner`).split(" ")[0],
    /** Connects client `clientId` (resumable, the shared key) with `url: urls`. */
    connect: (clientId, urls) =>
      page.evaluate(([n, o]) => window.app.connect(n, o), [
        clientId,
        {
          url: urls,
          session: SESSION.name,
          password: SESSION.password,
          key,
          clientId,
          resume: true,
          // Short waits between attempts: the test waits for the takeover, not the backoff.
          backoff: { initialMs: 100, maxMs: 1000 },
        },
      ]),
    subscribe: (clientId, filter) =>
      page.evaluate(([n, f]) => window.app.subscribe(n, f), [clientId, filter]),
    /** Publishes `texts` at QoS 1 without waiting for the server (see app.js). */
    publish: (clientId, topic, texts) =>
      page.evaluate(([n, tp, xs]) => window.app.publish(n, tp, xs), [clientId, topic, texts]),
    view: (clientId) => page.evaluate((n) => window.app.view(n), clientId),
  };
}

/** `prefix1` ... `prefixN` for `from..=to`. */
export function texts(prefix, from, to) {
  return Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);
}

/**
 * Chromium's console error for a connection attempt to `node` that failed: after `node` is
 * killed, the only console errors a failover may log.
 */
export function failedConnectionTo(node) {
  const url = node.url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  // Refused once it is gone; an attempt under way when it died may end otherwise.
  return new RegExp(`^WebSocket connection to '${url}' failed: `);
}

/**
 * Waits until `writer` has published `all` (each publish settled), `reader` has seen the last
 * of them, and `writer` has a receipt for each publish of `receipted` (texts); returns both
 * views.
 */
export async function settled(env, writer, reader, all, receipted = all) {
  const last = all[all.length - 1];
  let seen;
  try {
    return await until(`"${last}" delivered and publishes and receipts settled`, async () => {
      seen = { w: await env.view(writer), r: await env.view(reader) };
      const { w, r } = seen;
      const publishes =
        w.published.length === all.length && w.published.every((p) => p.id || p.error);
      const receipts = new Set(w.receipts.map((x) => x.id));
      const wanted = w.published.filter((p) => receipted.includes(p.text));
      const done = publishes && wanted.every((p) => receipts.has(p.id));
      return done && r.messages.includes(last) && seen;
    });
  } catch (e) {
    const shown = Object.entries(seen ?? {}).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
    e.message += `\nwhat the application saw:\n${shown.join("\n")}`;
    throw e;
  }
}

/**
 * The scenario both failover tests share, once `writer` and `reader` (subscribed to `news`)
 * are connected: five QoS 1 messages that settle; a burst of ten during which `victim` is
 * killed (SIGKILL); five more published once both clients noticed (held until a node has the
 * writer again); once all twenty are through, one more. Checks what the application saw:
 * every message once and in order, every publish acknowledged, and receipts: one `delivered`
 * receipt for each message published while no node died under it, and at most one, also
 * `delivered`, for each of the burst (see README.md here for why a
 * receipt of the burst may be missing). Returns the clients' views before the kill and at the
 * end.
 */
export async function failoverScenario(env, victim) {
  const before = texts("m", 1, 5);
  await env.publish("writer", "news", before);
  await settled(env, "writer", "reader", before);
  const start = { w: await env.view("writer"), r: await env.view("reader") };

  // A burst, and the node dies under it: some of it acknowledged by then, some not.
  const burst = texts("m", 6, 15);
  await env.publish("writer", "news", burst);
  await victim.kill();
  // Each client reports the lost connection (it may be back before a look at its state).
  for (const [name, was] of [
    ["writer", start.w],
    ["reader", start.r],
  ])
    await until(`${name} to notice`, async () =>
      (await env.view(name)).states.slice(was.states.length).some((s) => s.state !== "connected"),
    );
  // Published while no node has the writer: held, sent once it is back.
  const meanwhile = texts("m", 16, 20);
  await env.publish("writer", "news", meanwhile);

  const calm = [...before, ...meanwhile];
  const all = [...before, ...burst, ...meanwhile];
  await settled(env, "writer", "reader", all, calm);
  // One more once everything settled: a duplicate of anything above would have had its
  // chance to reach the application before it.
  await env.publish("writer", "news", ["last"]);
  const everything = [...all, "last"];
  const end = await settled(env, "writer", "reader", everything, [...calm, "last"]);

  assert.deepEqual(end.r.messages, everything, "every message once, in order");
  assert.deepEqual(
    end.w.published.filter((p) => p.error),
    [],
    "every publish acknowledged",
  );
  const ids = end.w.published.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, "one id per publish");
  const receipts = end.w.receipts.map((x) => x.id);
  const textOf = new Map(end.w.published.map((p) => [p.id, p.text]));
  const twice = receipts.filter((id, i) => receipts.indexOf(id) !== i).map((id) => textOf.get(id));
  assert.deepEqual(twice, [], "at most one receipt per publish");
  assert.deepEqual(
    end.w.receipts.filter((x) => x.status !== "delivered" || !ids.includes(x.id)),
    [],
    "every receipt says delivered, for a publish of the writer",
  );
  for (const [name, v, was] of [
    ["writer", end.w, start.w],
    ["reader", end.r, start.r],
  ]) {
    assert.deepEqual(v.errors, [], `${name}: no error event`);
    assert.equal(v.state, "connected", name);
    assert.ok(v.restored > was.restored, `${name} restored after the failover`);
  }
  return { start, end };
}
