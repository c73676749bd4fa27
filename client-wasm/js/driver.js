// The JavaScript half of the browser driver (src/driver.rs): the page's own APIs where they
// are a few lines of JavaScript, so the WebAssembly module stays small. No protocol logic
// and no secrets live here: messages arrive already opened, keys are never passed in.

/** A `FastPortError`: every error the package throws or rejects with is one. */
export function failure(code, message) {
  const error = new Error(message);
  error.name = "FastPortError";
  error.code = code;
  return error;
}

/** Calls an application callback; an exception in it is reported and goes no further. */
export function deliver(listener, value) {
  try {
    listener(value);
  } catch (error) {
    console.error("fastport: an event listener threw:", error);
  }
}

const EVENTS = [
  "state",
  "message",
  "presence",
  "receipt",
  "restored",
  "subscriptionLost",
  "deliveryRejected",
  "error",
];

/** The listeners of one client's events (`Client.on` and `off`). */
export class Listeners {
  constructor() {
    this.byEvent = new Map(EVENTS.map((event) => [event, []]));
  }

  list(event) {
    const list = this.byEvent.get(event);
    if (!list) {
      throw failure("invalid_options", `unknown event \`${event}\`; events: ${EVENTS.join(", ")}`);
    }
    return list;
  }

  on(event, listener) {
    const list = this.list(event);
    if (typeof listener !== "function") {
      throw failure("invalid_options", `the listener of \`${event}\` must be a function`);
    }
    list.push(listener);
  }

  off(event, listener) {
    const list = this.list(event);
    const at = list.indexOf(listener);
    if (at >= 0) list.splice(at, 1);
  }

  /** Calls the listeners of `event` added before this call. */
  emit(event, value) {
    for (const listener of [...this.list(event)]) deliver(listener, value);
  }
}

/** A promise and the two functions that settle it. */
export class Deferred {
  constructor() {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/**
 * Calls `wake` when the browser comes back online or the page becomes visible again;
 * returns the function that stops it (undefined in a worker: no such events there).
 */
export function watchNetwork(wake) {
  if (typeof window === "undefined" || typeof document === "undefined") return undefined;
  const visible = () => {
    if (!document.hidden) wake();
  };
  window.addEventListener("online", wake);
  document.addEventListener("visibilitychange", visible);
  return () => {
    window.removeEventListener("online", wake);
    document.removeEventListener("visibilitychange", visible);
  };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A delivered message: a plain object (it prints in the console and survives structured
 *  cloning), built once per delivery. */
export class Message {
  constructor(topic, publisher, payload, encrypted, keyId, qos, deliveryId, envelope) {
    this.topic = topic;
    this.publisher = publisher;
    // Copies: the arguments are views of WebAssembly memory, reused after this call.
    this.payload = payload.slice();
    this.encrypted = encrypted;
    this.keyId = keyId;
    this.qos = qos;
    this.deliveryId = deliveryId;
    this.envelope = envelope.slice();
  }

  /** The payload as UTF-8 text; throws `FastPortError` `not_text` if it is not UTF-8. */
  text() {
    try {
      return utf8.decode(this.payload);
    } catch {
      throw failure("not_text", `the payload on \`${this.topic}\` is not UTF-8 text`);
    }
  }

  /** The payload parsed as JSON; throws `FastPortError` `not_json` if it is not. */
  json() {
    const text = this.text();
    try {
      return JSON.parse(text);
    } catch {
      throw failure("not_json", `the payload on \`${this.topic}\` is not JSON`);
    }
  }
}

/**
 * PBKDF2-HMAC-SHA256 in the browser's WebCrypto, off the page's thread: resolves with the
 * 32-byte key in base64 (the encoding of `generateKey`); `undefined` where the page has no
 * `crypto.subtle` (insecure contexts), and the caller derives in WebAssembly instead.
 */
export function pbkdf2(passphrase, salt, iterations) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined;
  // A copy: `salt` is a view of WebAssembly memory, reused once this call returns.
  const params = { name: "PBKDF2", salt: salt.slice(), iterations, hash: "SHA-256" };
  const secret = new TextEncoder().encode(passphrase);
  return subtle
    .importKey("raw", secret, "PBKDF2", false, ["deriveBits"])
    .then((key) => subtle.deriveBits(params, key, 256))
    .then((bits) => btoa(String.fromCharCode(...new Uint8Array(bits))));
}
