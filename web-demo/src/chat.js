// The chat once connected: rooms (topics `chat/<room>`), messages with their delivery state,
// presence, the connection line, and private rooms keyed by a passphrase.

import { deriveKey, generateKey, keyFingerprint } from "fastport-wasm";
import { $, h, icon, painted, randomId } from "./dom.js";
import { renderMembers, renderMessage, renderRooms, renderSystem } from "./view.js";

/** Listed for everyone; `lobby` is joined on arrival. */
const DEFAULT_ROOMS = ["lobby", "random"];
/** Where a client tells the others it opened a room (sealed with the demo key, like rooms). */
const ANNOUNCE_TOPIC = "rooms";
const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const CIPHER_KEY = "fastport-demo:show-cipher";

const FAILURES = {
  expired: "expired before everyone had it",
  retries_exhausted: "gave up after retries",
  dropped: "refused or dropped (a wrong passphrase, or a reader too slow)",
  no_subscribers: "nobody received it",
  unknown: "not delivered",
};

export class Chat {
  constructor(client, { name }) {
    this.client = client;
    this.name = name;
    this.rooms = new Map();
    this.current = null;
    this.sent = new Map(); // publish id -> { room, msg } until its receipt
    this.earlyReceipts = new Map(); // receipts that beat their publish's resolution
    this.state = client.state;
    this.retryAt = 0;
    this.restored = 0;
    this.ticker = 0;
    this.retry = (msg) => this.publish(msg.room, msg);
  }

  async start() {
    const c = this.client;
    c.on("state", (s) => this.onState(s));
    c.on("presence", (p) => this.onPresence(p));
    c.on("receipt", (r) => this.onReceipt(r));
    c.on("deliveryRejected", (e) => this.onRejected(e));
    c.on("restored", () => {
      document.body.dataset.restored = String(++this.restored);
    });
    c.on("subscriptionLost", (e) =>
      this.system(this.roomOf(e.filter), `Lost this room: ${e.error.message}`),
    );
    c.on("error", (e) => this.system(this.current, `Error: ${e.message}`));
    // Leave at once when the tab goes: the others see it in presence without waiting for
    // the server to notice the socket is gone.
    addEventListener("pagehide", () => c.close());
    // Back from the back/forward cache the client is closed: start afresh.
    addEventListener("pageshow", (e) => e.persisted && location.reload());
    addEventListener("online", () => this.renderConnection());
    addEventListener("offline", () => this.renderConnection());
    this.wireUi();
    this.onState(c.state);

    for (const name of DEFAULT_ROOMS) this.room(name);
    await c.subscribe(ANNOUNCE_TOPIC, (m) => this.onAnnounce(m));
    await this.join("lobby", "");
  }

  // ---- rooms ----

  room(name) {
    let room = this.rooms.get(name);
    if (!room) {
      room = {
        name,
        topic: `chat/${name}`,
        joined: false,
        private: false,
        fingerprint: "",
        members: new Map(),
        messages: new Map(),
        unread: 0,
        list: h("ol", { class: "log", hidden: true, dataset: { room: name } }),
      };
      room.list.append(renderSystem(`Messages in ${name} show up here while you are in it.`));
      $("messages").append(room.list);
      this.rooms.set(name, room);
      this.renderRooms();
    }
    return room;
  }

  roomOf(topic) {
    return topic?.startsWith("chat/") ? this.rooms.get(topic.slice(5)) : undefined;
  }

  /** Joins (or re-keys) a room: no passphrase means the demo key every visitor has. */
  async join(name, passphrase) {
    const room = this.room(name);
    let note = "";
    if (passphrase) {
      const key = await deriveKey(passphrase, `demo/${name}`);
      this.client.setTopicKey(room.topic, key);
      room.private = true;
      room.fingerprint = keyFingerprint(key);
      note = `Private room: key ${room.fingerprint} (compare it with the others).`;
    } else if (room.fingerprint) {
      this.client.removeTopicKey(room.topic);
      room.private = false;
      room.fingerprint = "";
      note = "Now sealed with the demo key.";
    }
    if (!room.joined) {
      await this.client.subscribe(room.topic, (m) => this.onMessage(room, m), { presence: true });
      room.joined = true;
      note ||= "You joined.";
      if (!DEFAULT_ROOMS.includes(name)) {
        this.client
          .publish(ANNOUNCE_TOPIC, { room: name, private: room.private }, { qos: 0 })
          .catch(() => {});
      }
    }
    if (note) this.system(room, note);
    this.show(room);
  }

  show(room) {
    if (this.current) this.current.list.hidden = true;
    this.current = room;
    room.list.hidden = false;
    room.unread = 0;
    $("room-title").replaceChildren(icon(room.private ? "lock" : "hash"), ` ${room.name}`);
    $("room-info").textContent = room.private
      ? `private · key ${room.fingerprint}`
      : "demo key · every visitor can read it";
    $("text").placeholder = `Message ${room.private ? "private room " : "#"}${room.name}`;
    document.body.dataset.room = room.name;
    this.renderRooms();
    this.renderMembers();
    this.scroll(true);
    this.closeMenu();
  }

  // ---- messages ----

  async send(text) {
    const room = this.current;
    if (!room?.joined || !text) return;
    const msg = {
      msgId: randomId(),
      own: true,
      name: this.name,
      text,
      sentAt: Date.now(),
      status: "pending",
    };
    this.add(room, msg);
    this.scroll(true);
    await this.publish(room, msg);
  }

  /** Publishes (again) and follows it: pending, then sent once the server acked. */
  async publish(room, msg) {
    msg.status = "pending";
    msg.note = this.state.state === "connected" ? undefined : "waiting for the connection";
    this.update(msg);
    const { text, name, sentAt, msgId } = msg;
    try {
      const { id } = await this.client.publish(room.topic, { text, name, sentAt, msgId });
      msg.status = "sent";
      msg.note = undefined;
      this.sent.set(id, { room, msg });
      const early = this.earlyReceipts.get(id);
      if (early) {
        this.earlyReceipts.delete(id);
        this.onReceipt(early);
      }
    } catch (e) {
      msg.status = "failed";
      msg.note = `not sent: ${e?.message ?? e}`;
    }
    this.update(msg);
  }

  onMessage(room, m) {
    const data = readPayload(m);
    const envelope = m.envelope;
    const known = room.messages.get(data.msgId);
    if (known) {
      // Our own copy coming back (or a retried one): it carries what the server relayed.
      if (!(known.envelope instanceof Uint8Array)) {
        known.envelope = envelope;
        this.update(known);
      }
      return;
    }
    const own = m.publisher === this.client.clientId;
    this.add(room, { ...data, own, status: own ? "sent" : "received", envelope });
  }

  onRejected(e) {
    const room = this.roomOf(e.topic);
    if (!room) return;
    if (e.code !== "cannot_open" && e.code !== "no_key") {
      this.system(room, `A message was refused: ${e.message}`);
      return;
    }
    this.add(room, {
      msgId: `locked-${randomId()}`,
      own: false,
      locked: true,
      name: room.members.get(e.publisher) || "someone",
      sentAt: Date.now(),
      status: "locked",
      note: room.private ? "sealed with another passphrase" : "sealed with a key you do not have",
      envelope: e.envelope,
    });
  }

  onReceipt(r) {
    const entry = this.sent.get(r.id);
    if (!entry) {
      if (this.earlyReceipts.size > 100) this.earlyReceipts.clear();
      this.earlyReceipts.set(r.id, r);
      return;
    }
    this.sent.delete(r.id);
    const { msg } = entry;
    // We subscribe to the rooms we write in, so one of the subscribers is this tab.
    const others = Math.max(0, r.delivered - 1);
    const whom = others === 1 ? "1 other" : `${others} others`;
    if (r.status === "delivered") {
      msg.status = others > 0 ? "delivered" : "sent";
      msg.note = others > 0 ? `delivered to ${whom}` : "sent · nobody else is in the room";
    } else {
      msg.status = others > 0 ? "partial" : "failed";
      const reason = FAILURES[r.status] ?? FAILURES.unknown;
      msg.note = others > 0 ? `${r.failed} not delivered: ${reason}` : reason;
    }
    this.update(msg);
  }

  add(room, msg) {
    msg.room = room;
    room.messages.set(msg.msgId, msg);
    const atBottom = this.atBottom();
    room.list.append(renderMessage(msg, this.retry));
    if (room !== this.current) {
      room.unread += 1;
      this.renderRooms();
    } else {
      this.scroll(atBottom);
    }
  }

  update(msg) {
    renderMessage(msg, this.retry);
  }

  system(room, text) {
    if (!room) return;
    room.list.append(renderSystem(text));
    if (room === this.current) this.scroll(this.atBottom());
  }

  onAnnounce(m) {
    let data;
    try {
      data = m.json();
    } catch {
      return;
    }
    const name = typeof data?.room === "string" ? data.room : "";
    if (!ROOM_NAME.test(name)) return;
    const known = this.rooms.has(name);
    const room = this.room(name);
    if (!room.joined && data.private) room.private = true;
    if (!known) this.renderRooms();
  }

  // ---- presence ----

  onPresence(p) {
    const room = this.roomOf(p.filter);
    if (!room) return;
    if (p.kind === "snapshot") {
      room.members = new Map(p.members.map((m) => [m.clientId, m.displayName]));
    } else {
      for (const m of p.members) {
        if (p.kind === "join") room.members.set(m.clientId, m.displayName);
        else room.members.delete(m.clientId);
        this.system(room, `${m.displayName || "someone"} ${p.kind === "join" ? "joined" : "left"}`);
      }
    }
    if (room === this.current) this.renderMembers();
  }

  // ---- the connection ----

  onState(s) {
    this.state = s;
    document.body.dataset.connection = s.state;
    if (s.state === "reconnecting") this.retryAt = performance.now() + s.inMs;
    clearInterval(this.ticker);
    if (s.state === "reconnecting") this.ticker = setInterval(() => this.renderConnection(), 250);
    this.renderConnection();
  }

  renderConnection() {
    const [kind, text] = this.connectionLine();
    $("conn").dataset.state = kind;
    $("conn-text").textContent = text;
    $("conn-retry").hidden = this.state.state !== "reconnecting";
  }

  /** [data-state, words] for the connection line. */
  connectionLine() {
    const s = this.state;
    if (s.state === "connected") return ["connected", "connected"];
    if (s.state === "closed") return ["offline", `offline: ${s.message}`];
    if (!navigator.onLine) return ["offline", "offline: no network"];
    if (s.state === "connecting") {
      return ["connecting", s.attempt > 1 ? "reconnecting…" : "connecting…"];
    }
    const seconds = Math.ceil((this.retryAt - performance.now()) / 1000);
    return ["reconnecting", seconds > 0 ? `reconnecting in ${seconds} s` : "reconnecting…"];
  }

  // ---- the page ----

  wireUi() {
    $("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      const input = $("text");
      const text = input.value.trim();
      input.value = "";
      this.send(text);
    });
    $("conn-retry").addEventListener("click", () => this.client.reconnectNow());
    const cipher = $("show-cipher");
    cipher.checked = localStorage.getItem(CIPHER_KEY) === "1";
    const applyCipher = () => {
      $("app").classList.toggle("show-cipher", cipher.checked);
      localStorage.setItem(CIPHER_KEY, cipher.checked ? "1" : "0");
    };
    cipher.addEventListener("change", applyCipher);
    applyCipher();
    $("menu").addEventListener("click", () => this.toggleMenu());
    $("scrim").addEventListener("click", () => this.closeMenu());
    $("room-pass-new").addEventListener("click", () => {
      // 32 random bytes in base64: a passphrase nobody guesses. Share it out of band.
      $("room-pass").value = generateKey().replace(/=+$/, "");
    });
    $("room-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.submitRoom();
    });
  }

  async submitRoom() {
    const nameInput = $("room-name");
    const passInput = $("room-pass");
    const status = $("room-status");
    const name = nameInput.value.trim().toLowerCase().replace(/^#/, "");
    status.classList.remove("error");
    if (!ROOM_NAME.test(name)) {
      status.classList.add("error");
      status.textContent = "Use 1-32 letters, digits, - or _.";
      return;
    }
    const button = $("room-join");
    button.disabled = true;
    try {
      if (passInput.value) {
        status.textContent = "Deriving the room key…";
        await painted();
      }
      await this.join(name, passInput.value);
      nameInput.value = "";
      passInput.value = "";
      status.textContent = "";
      $("room-panel").open = false;
    } catch (err) {
      status.classList.add("error");
      status.textContent = `Could not join: ${err?.message ?? err}`;
    } finally {
      button.disabled = false;
    }
  }

  pick(room) {
    if (room.joined) return this.show(room);
    if (room.private) {
      $("room-panel").open = true;
      $("room-name").value = room.name;
      $("room-status").textContent = `#${room.name} is private: enter its passphrase.`;
      $("room-pass").focus();
      return;
    }
    this.join(room.name, "").catch((e) =>
      this.system(this.current, `Could not join: ${e.message}`),
    );
  }

  renderRooms() {
    renderRooms($("rooms"), this.rooms, this.current, (room) => this.pick(room));
  }

  renderMembers() {
    renderMembers($("members"), $("member-count"), this.current, this.client.clientId);
  }

  toggleMenu(open = !$("app").classList.contains("menu-open")) {
    $("app").classList.toggle("menu-open", open);
    $("scrim").hidden = !open;
    $("menu").setAttribute("aria-expanded", String(open));
  }

  closeMenu() {
    this.toggleMenu(false);
  }

  atBottom() {
    const box = $("messages");
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  scroll(toBottom) {
    if (!toBottom) return;
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
  }
}

/** { text, name, sentAt, msgId } from a message, whatever a peer (or another tool) sent. */
function readPayload(m) {
  let data;
  try {
    const text = m.text();
    try {
      data = JSON.parse(text);
    } catch {
      data = { text };
    }
  } catch {
    data = { text: `(${m.payload.length} bytes that are not text)` };
  }
  if (typeof data !== "object" || data === null) data = { text: JSON.stringify(data) };
  const name = typeof data.name === "string" ? data.name.trim().slice(0, 32) : "";
  return {
    text: String(data.text ?? "").slice(0, 4000),
    name: name || `client ${m.publisher.slice(0, 8)}`,
    sentAt: Number.isFinite(data.sentAt) ? data.sentAt : Date.now(),
    msgId:
      typeof data.msgId === "string" && data.msgId ? data.msgId.slice(0, 64) : `d-${m.deliveryId}`,
  };
}
