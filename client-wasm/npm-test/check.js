// What a user does with fastport-wasm, checked step by step in the browser: keys, two clients
// on one session with the same key, an encrypted message each way of publishing (string, bytes,
// JSON), the receipt, error codes, close. Shared by the Vite app (main.js), the plain
// <script type="module"> page (plain.html) and a module Web Worker (worker.js). The result,
// "ok: ..." or "error: STEP: ...", goes into the page's <pre id="result">;
// scripts/test-npm-package.sh reads it with Playwright.
//
// The page's query string: ?url=ws://HOST:PORT/ws (a real fastport-server with the demo session).

const SESSION = "demo";
const PASSWORD = "demo";
const WAIT_MS = 10_000;

/** Runs the check in a page; `init` is the package's default export, `fastport` its namespace. */
export async function run(init, fastport, label) {
  // For the crypto throughput measurement that follows (absent in older packages).
  window.fastportTest = { measureCrypto: fastport.measureCrypto ?? null };
  const url = new URLSearchParams(location.search).get("url");
  document.getElementById("result").textContent = await check(init, fastport, label, url);
}

/** The check itself, without the DOM (it also runs in a worker); resolves with the result. */
export async function check(init, fastport, label, url) {
  let step = "start";
  const clients = [];
  try {
    if (!url) throw new Error("no ?url=ws://HOST:PORT/ws in the page's address");

    step = "init()";
    await init();

    step = "keys";
    const key = fastport.generateKey();
    expect(typeof key === "string" && atob(key).length === 32, `generateKey() gave ${key}`);
    const fingerprint = fastport.keyFingerprint(key);
    expect(/^[0-9a-f]{16}$/.test(fingerprint), `keyFingerprint() gave ${fingerprint}`);
    const derived = await fastport.deriveKey("correct horse battery", "demo/npm-test", 10_000);
    const again = await fastport.deriveKey("correct horse battery", "demo/npm-test", 10_000);
    expect(derived === again && derived !== key, "deriveKey() is not deterministic");
    expectCode(() => fastport.keyFingerprint("not a key"), "invalid_key");

    step = "connect with a wrong password";
    await expectRejection(
      fastport.connect({ url, session: SESSION, password: "wrong", key }),
      "bad_credentials",
    );

    step = "connect two clients";
    const options = { url, session: SESSION, password: PASSWORD, key };
    const alice = await fastport.connect({ ...options, displayName: "alice" });
    clients.push(alice);
    const bob = await fastport.connect({ ...options, displayName: "bob" });
    clients.push(bob);
    expect(alice.state.state === "connected", `alice is ${JSON.stringify(alice.state)}`);
    const bobStates = [];
    bob.on("state", (s) => bobStates.push(s.state));

    step = "subscribe";
    const topicRoot = `npm-test/${label}/${alice.clientId}`;
    const received = [];
    const events = [];
    await bob.subscribe(`${topicRoot}/#`, (m) => received.push(m));
    bob.on("message", (m) => events.push(m));
    const receipts = [];
    alice.on("receipt", (r) => receipts.push(r));
    const errors = [];
    alice.on("error", (e) => errors.push(e));
    bob.on("error", (e) => errors.push(e));

    step = "publish a string";
    const text = `héllo ✓ from ${label}`;
    const sent = await alice.publish(`${topicRoot}/text`, text);
    expect(sent.qos === 1 && typeof sent.id === "number", `publish gave ${JSON.stringify(sent)}`);
    const first = await until(() => received[0], "the message");
    expect(first.encrypted === true, "the message was not encrypted");
    expect(first.text() === text, `received "${first.text()}", sent "${text}"`);
    expect(first.topic === `${topicRoot}/text`, `topic ${first.topic}`);
    expect(first.publisher === alice.clientId, `publisher ${first.publisher}`);
    await until(() => events.length >= 1, "the message event");

    step = "publish bytes";
    await alice.publish(`${topicRoot}/bytes`, new Uint8Array([0, 1, 2, 255]));
    const bytes = await until(() => received[1], "the bytes");
    expect(bytes.encrypted && bytes.payload.join() === "0,1,2,255", `bytes ${bytes.payload}`);
    expectCode(() => bytes.text(), "not_text");

    step = "publish JSON";
    await alice.publish(`${topicRoot}/json`, { n: 42, list: ["a", "b"] });
    const json = (await until(() => received[2], "the JSON")).json();
    expect(json.n === 42 && json.list[1] === "b", `JSON ${JSON.stringify(json)}`);

    step = "receipt";
    const receipt = await until(
      () => receipts.find((r) => r.id === sent.id),
      `the receipt of publish ${sent.id}`,
    );
    expect(receipt.status === "delivered" && receipt.delivered === 1,
      `receipt ${JSON.stringify(receipt)}`);

    step = "close";
    await bob.close();
    await until(() => bob.state.state === "closed", "bob closed");
    expect(bobStates.includes("closed"), `bob's state events: ${bobStates.join(", ")}`);
    await alice.close();
    await expectRejection(alice.publish(`${topicRoot}/late`, "late"), "closed");
    expect(errors.length === 0, `error events: ${errors.map((e) => e.code).join(", ")}`);

    return `ok: ${label}: encrypted string, bytes and JSON received, receipt ` +
      `${receipt.status}, wrong password -> bad_credentials, key ${fingerprint}`;
  } catch (e) {
    for (const client of clients) client.close();
    const code = e && e.code ? ` [${e.code}]` : "";
    return `error: ${label}: ${step}: ${e && e.message ? e.message : e}${code}`;
  }
}

function expect(condition, what) {
  if (!condition) throw new Error(what);
}

function expectCode(f, code) {
  try {
    f();
  } catch (e) {
    if (e.name === "FastPortError" && e.code === code) return;
    throw new Error(`expected a FastPortError ${code}, got ${e.name} ${e.code}: ${e.message}`);
  }
  throw new Error(`expected a FastPortError ${code}, nothing was thrown`);
}

async function expectRejection(promise, code) {
  try {
    await promise;
  } catch (e) {
    if (e.name === "FastPortError" && e.code === code) return;
    throw new Error(`expected a rejection with ${code}, got ${e.name} ${e.code}: ${e.message}`);
  }
  throw new Error(`expected a rejection with ${code}, it resolved`);
}

/** Resolves with f()'s first truthy value; rejects after WAIT_MS naming what it waited for. */
function until(f, what) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const poll = () => {
      const value = f();
      if (value) return resolve(value);
      if (performance.now() - started > WAIT_MS) {
        return reject(new Error(`no ${what} after ${WAIT_MS} ms`));
      }
      setTimeout(poll, 10);
    };
    poll();
  });
}
