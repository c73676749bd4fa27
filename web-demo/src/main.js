// The join screen: pick a name, derive the demo key, connect, then hand over to the chat.

import init, { connect, deriveKey } from "fastport-wasm";
import { Chat } from "./chat.js";
import { $, painted } from "./dom.js";
import "./style.css";

/** The public demo session every fastport-server creates unless told not to. */
const SESSION = { session: "demo", password: "demo" };

/**
 * Rooms without a passphrase are sealed with a key derived from this passphrase, which every
 * copy of this page knows: the server still cannot read them, but every visitor can. A real
 * app shares its keys out of band and never ships them in the page.
 */
const DEMO_PASSPHRASE = "fastPort demo: a key every visitor of this page knows";

const FOOTNOTE =
  "Demo: everyone here joins the session “demo”. Rooms without a passphrase share one key " +
  "derived from a passphrase built into this page, so every visitor can read them (the server " +
  "cannot). A private room's key is derived from its passphrase in your browser. In a real " +
  "app keys are shared out of band, never through the server. Nothing is stored: you see " +
  "what is sent while you are here.";

const NAME_KEY = "fastport-demo:name";

/** The server's WebSocket endpoint, on the host that served this page. */
function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

const wasmReady = init();

for (const el of document.querySelectorAll("[data-footnote]")) el.textContent = FOOTNOTE;

const form = $("join-form");
const nameInput = $("join-name");
const status = $("join-status");
const button = $("join-button");
nameInput.value = localStorage.getItem(NAME_KEY) ?? "";

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = nameInput.value.trim().replace(/\s+/g, " ");
  if (!name) return nameInput.focus();
  button.disabled = true;
  status.classList.remove("error");
  let client;
  try {
    status.textContent = "Deriving the demo key…";
    await wasmReady;
    await painted(); // without WebCrypto (plain http off localhost) deriveKey blocks: paint first
    const key = await deriveKey(DEMO_PASSPHRASE, "demo/chat");
    status.textContent = "Connecting…";
    client = await connect({
      url: socketUrl(),
      ...SESSION,
      key,
      displayName: name,
      backoff: { initialMs: 500, maxMs: 8000 },
    });
    localStorage.setItem(NAME_KEY, name);
    status.textContent = "";
    $("join").hidden = true;
    $("app").hidden = false;
    await new Chat(client, { name }).start();
  } catch (e) {
    client?.close();
    $("app").hidden = true;
    $("join").hidden = false;
    status.classList.add("error");
    status.textContent = `Could not join: ${e?.message ?? e}`;
    button.disabled = false;
  }
});
