// The application of client-wasm/e2e/page.html: named fastport-wasm clients and everything
// each of them showed the application (messages, receipts, states, settled publishes), for
// the tests to drive and read through `window.app`. Only the package's public API is used.

import init, { connect, generateKey } from "/pkg/fastport_wasm.js";

await init();

/** name -> { client, messages, receipts, states, restored, published, errors } */
const clients = new Map();

function entry(name) {
  const e = clients.get(name);
  if (!e) throw new Error(`no client named ${name}`);
  return e;
}

window.app = {
  generateKey,

  /** Connects a client under `name` with these options (the package's ConnectOptions). */
  async connect(name, options) {
    const e = {
      client: null,
      messages: [],
      receipts: [],
      states: [],
      restored: 0,
      published: [],
      errors: [],
    };
    e.client = await connect(options);
    e.client.on("state", (s) => e.states.push({ state: s.state, code: s.error?.code ?? null }));
    e.client.on("restored", () => e.restored++);
    e.client.on("receipt", (r) => e.receipts.push({ id: r.id, status: r.status }));
    e.client.on("error", (err) => e.errors.push(err.code));
    e.client.on("deliveryRejected", (r) => e.errors.push(`rejected: ${r.code}`));
    clients.set(name, e);
    return e.client.clientId;
  },

  /** Subscribes `name` to `filter`; every message handed to the application is recorded. */
  async subscribe(name, filter) {
    const e = entry(name);
    await e.client.subscribe(filter, (m) => e.messages.push(m.text()));
  },

  /**
   * Publishes `texts` at QoS 1 from `name` without waiting; each publish's outcome (its id
   * once the server has it, or the error's code) is recorded in order.
   */
  publish(name, topic, texts) {
    const e = entry(name);
    for (const text of texts) {
      const record = { text, id: null, error: null };
      e.published.push(record);
      e.client.publish(topic, text).then(
        ({ id }) => (record.id = id),
        (err) => (record.error = err.code ?? String(err)),
      );
    }
  },

  /** What `name` showed the application so far, as plain data. */
  view(name) {
    const { client, ...seen } = entry(name);
    return { ...structuredClone(seen), state: client.state.state };
  },
};

document.body.dataset.ready = "true";
