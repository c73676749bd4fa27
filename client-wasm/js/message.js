// A delivered message as the application gets it: a plain object (its fields print in the
// console and survive structured cloning), built once by the driver in WebAssembly.

const utf8 = new TextDecoder("utf-8", { fatal: true });

function failure(code, message) {
  const error = new Error(message);
  error.name = "FastPortError";
  error.code = code;
  return error;
}

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
