// What every demo test needs: the real fastport-server on a free port serving web-demo/dist,
// Debian's Chromium driven by playwright-core, and people who join the chat through the page.
//
// Environment: FASTPORT_SERVER_BIN (default target/debug/fastport-server), CHROMIUM
// (default /usr/bin/chromium), FASTPORT_DEMO_OUT (server logs, default target/demo-test),
// FASTPORT_DEMO_SCREENSHOTS (default target/demo-screenshots).

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SERVER_BIN =
  process.env.FASTPORT_SERVER_BIN ?? path.join(ROOT, "target/debug/fastport-server");
const DIST = path.join(ROOT, "web-demo/dist");
export const OUT = process.env.FASTPORT_DEMO_OUT ?? path.join(ROOT, "target/demo-test");
export const SHOTS =
  process.env.FASTPORT_DEMO_SCREENSHOTS ?? path.join(ROOT, "target/demo-screenshots");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export const DESKTOP = { viewport: { width: 1280, height: 800 } };
export const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};

/** Generous for a loaded CI machine; every wait is for an event, never a fixed sleep. */
export const TIMEOUT = 30_000;

/**
 * A server, a browser, and cleanup registered on the test: `const env = await setup(t, "name")`.
 * The server's stdout and stderr go to OUT/<name>.log.
 */
export async function setup(t, name, { log = "info" } = {}) {
  fs.mkdirSync(OUT, { recursive: true });
  const server = new Server(path.join(OUT, `${name}.log`), log);
  t.after(() => server.stop());
  await server.start("127.0.0.1:0");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_FLAGS,
    headless: true,
  });
  t.after(() => browser.close());
  const people = [];
  return {
    server,
    browser,
    people,
    /** Opens the page in a fresh browser context and joins the chat as `displayName`. */
    async join(displayName, device = DESKTOP) {
      const person = await Person.open(browser, server.url, displayName, device);
      people.push(person);
      return person;
    },
    /** Fails the test if any page logged an error that `allowed` does not match. */
    assertNoConsoleErrors(allowed = () => false) {
      const errors = people.flatMap((p) =>
        p.errors.filter((e) => !allowed(e)).map((e) => `${p.name}: ${e}`),
      );
      if (errors.length) throw new Error(`console errors:\n  ${errors.join("\n  ")}`);
    },
  };
}

/** fastport-server as a child process; `kill()` and `start(sameAddress)` to restart it. */
export class Server {
  constructor(logPath, log) {
    this.logPath = logPath;
    this.logLevel = log;
    this.proc = null;
    this.addr = "";
    fs.writeFileSync(logPath, "");
  }

  get url() {
    return `http://${this.addr}/`;
  }

  start(listen) {
    const args = ["--listen", listen, "--static-dir", DIST, "--log", this.logLevel];
    const proc = spawn(SERVER_BIN, args, { stdio: ["ignore", "pipe", "pipe"], cwd: ROOT });
    this.proc = proc;
    const logFile = fs.createWriteStream(this.logPath, { flags: "a" });
    proc.stdout.on("data", (chunk) => logFile.write(chunk));
    proc.stderr.on("data", (chunk) => logFile.write(chunk));
    this.exited = new Promise((resolve) =>
      proc.once("exit", (code, signal) => resolve({ code, signal })),
    );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "listening on" from ${SERVER_BIN} in 15 s`)),
        15_000,
      );
      let head = "";
      const firstLine = (chunk) => {
        head += chunk;
        const end = head.indexOf("\n");
        if (end < 0) return;
        proc.stdout.off("data", firstLine);
        clearTimeout(timer);
        const match = /^listening on (\S+)$/.exec(head.slice(0, end));
        if (!match)
          return reject(new Error(`unexpected first line from the server: ${head.slice(0, end)}`));
        this.addr = match[1];
        resolve(this.addr);
      };
      proc.stdout.on("data", firstLine);
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(
          new Error(
            `${SERVER_BIN} exited (${code ?? signal}) before listening; see ${this.logPath}`,
          ),
        );
      });
    });
  }

  /** SIGKILL: the server vanishes without closing anything, as in a crash. */
  async kill() {
    this.proc.kill("SIGKILL");
    await this.exited;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGTERM");
      await this.exited;
    }
  }

  log() {
    return fs.readFileSync(this.logPath, "utf8");
  }
}

/** One person in one browser context, using the page as a person would. */
export class Person {
  static async open(browser, url, name, device) {
    const context = await browser.newContext(device);
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    const person = new Person(name, context, page, device === PHONE);
    await page.goto(url);
    await page.fill("#join-name", name);
    await page.click("#join-button");
    await person.waitConnected();
    await page.waitForSelector('body[data-room="lobby"]');
    return person;
  }

  constructor(name, context, page, phone) {
    this.name = name;
    this.context = context;
    this.page = page;
    this.phone = phone;
    this.errors = [];
    page.on("console", (m) => {
      if (m.type() === "error") this.errors.push(m.text());
    });
    page.on("pageerror", (e) => this.errors.push(`uncaught: ${e.message}`));
  }

  async waitConnected() {
    await this.page.waitForSelector('#conn[data-state="connected"]');
  }

  async say(text) {
    await this.page.fill("#text", text);
    await this.page.press("#text", "Enter");
  }

  /** The bubble holding `text` in the room on screen. */
  bubble(text) {
    return this.page.locator("ol.log:not([hidden]) li.msg", { hasText: text });
  }

  async waitForBubble(text, status) {
    const bubble = this.bubble(text);
    await bubble.waitFor();
    if (status)
      await this.page.waitForFunction(
        ([el, s]) => el.dataset.status === s,
        [await bubble.elementHandle(), status],
      );
    return bubble;
  }

  async openMenu() {
    if (this.phone && !(await this.page.locator(".app.menu-open").count()))
      await this.page.click("#menu");
  }

  async closeMenu() {
    if (this.phone && (await this.page.locator(".app.menu-open").count()))
      await this.page.click("#scrim", { position: { x: 370, y: 400 } });
  }

  /** Creates or joins `room` through the sidebar form (with a passphrase: a private room). */
  async joinRoom(room, passphrase = "") {
    await this.openMenu();
    if (!(await this.page.locator("#room-panel[open]").count()))
      await this.page.click("#room-panel summary");
    await this.page.fill("#room-name", room);
    await this.page.fill("#room-pass", passphrase);
    await this.page.click("#room-join");
    await this.page.waitForSelector("#room-panel:not([open])"); // closed once joined
    await this.page.waitForSelector(`body[data-room="${room}"]`);
  }

  async switchTo(room) {
    await this.openMenu();
    await this.page.click(`#rooms button[data-room="${room}"]`);
    await this.page.waitForSelector(`body[data-room="${room}"]`);
  }

  /** The display names in the room's member list, sorted. */
  async members() {
    return this.page.$$eval("#members li", (items) => items.map((li) => li.dataset.name).sort());
  }

  async waitForMembers(names) {
    const want = [...names].sort();
    await this.page.waitForFunction(
      (w) =>
        JSON.stringify(
          [...document.querySelectorAll("#members li")].map((li) => li.dataset.name).sort(),
        ) === JSON.stringify(w),
      want,
    );
  }

  async screenshot(file) {
    fs.mkdirSync(SHOTS, { recursive: true });
    await this.page.screenshot({ path: path.join(SHOTS, file) });
  }
}

/** A string nobody else will ever send. */
export function unique(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
