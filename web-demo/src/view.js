// Rendering: message bubbles, the room list, the member list. No state lives here.

import { clock, h, hex, icon } from "./dom.js";

/** How many bytes of an envelope the ciphertext view shows. */
const CIPHER_BYTES = 48;

const TICKS = {
  pending: [() => icon("clock"), "waiting to be sent"],
  sent: ["✓", "sent: the server has it"],
  delivered: ["✓✓", "delivered"],
  partial: ["✓✓", "delivered to some, not all"],
  failed: ["!", "not delivered"],
};

/**
 * Creates or refreshes the element of a message. `msg` is the chat's record:
 * { msgId, own, locked, name, text, sentAt, status, note, envelope, el }.
 */
export function renderMessage(msg, onRetry) {
  const el = msg.el ?? (msg.el = h("li", { dataset: { msgId: msg.msgId } }));
  el.className = `msg ${msg.own ? "own" : "other"}${msg.locked ? " locked" : ""}`;
  el.dataset.status = msg.status;
  const bubble = h("div", { class: "bubble" });
  if (!msg.own) bubble.append(h("span", { class: "author" }, msg.name));
  bubble.append(
    msg.locked
      ? h("p", { class: "text" }, icon("lock"), " encrypted message you cannot read")
      : h("p", { class: "text" }, msg.text),
  );
  const meta = h(
    "div",
    { class: "meta" },
    h("time", { dateTime: iso(msg.sentAt) }, clock(msg.sentAt)),
  );
  if (msg.own) {
    const [mark, label] = TICKS[msg.status] ?? ["", ""];
    const title = msg.note ?? label;
    const shown = typeof mark === "function" ? mark() : mark;
    meta.append(h("span", { class: "ticks", title, "aria-label": title }, shown));
    if (msg.status === "failed" || msg.status === "partial") {
      meta.append(h("span", { class: "note" }, msg.note ?? label));
      meta.append(
        h("button", { class: "retry link", type: "button", onclick: () => onRetry(msg) }, "Retry"),
      );
    }
  } else if (msg.locked) {
    meta.append(h("span", { class: "note" }, msg.note));
  }
  bubble.append(meta, renderCipher(msg));
  el.replaceChildren(bubble);
  return el;
}

/** What the server relayed: shown under each bubble while the ciphertext switch is on. */
function renderCipher(msg) {
  const box = h("div", { class: "cipher" });
  if (msg.envelope instanceof Uint8Array) {
    box.append(
      h("span", { class: "label" }, `relayed ciphertext · ${msg.envelope.length} bytes`),
      h("code", {}, hex(msg.envelope, CIPHER_BYTES)),
    );
  } else if (msg.own) {
    box.append(
      h(
        "span",
        { class: "label" },
        "sealed here; the relayed bytes show when your copy comes back",
      ),
    );
  }
  return box;
}

export function renderSystem(text) {
  return h("li", { class: "system" }, text);
}

/** The room list: joined rooms first, then rooms others announced. */
export function renderRooms(list, rooms, current, onPick) {
  const sorted = [...rooms.values()].sort(
    (a, b) => Number(b.joined) - Number(a.joined) || a.name.localeCompare(b.name),
  );
  list.replaceChildren(
    ...sorted.map((room) =>
      h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: `room${room === current ? " active" : ""}${room.joined ? " joined" : ""}`,
            dataset: { room: room.name },
            "aria-current": room === current ? "true" : null,
            title: room.joined ? null : room.private ? "private: needs its passphrase" : "join",
            onclick: () => onPick(room),
          },
          h("span", { class: "hash" }, icon(room.private ? "lock" : "hash")),
          h("span", { class: "name" }, room.name),
          room.unread > 0
            ? h(
                "span",
                { class: "badge", "aria-label": `${room.unread} unread` },
                String(room.unread),
              )
            : null,
          room.joined ? null : h("span", { class: "hint" }, "join"),
        ),
      ),
    ),
  );
}

export function renderMembers(list, count, room, selfId) {
  const members = room ? [...room.members] : [];
  members.sort(([, a], [, b]) => a.localeCompare(b));
  count.textContent = room ? `(${members.length})` : "";
  list.replaceChildren(
    ...members.map(([clientId, name]) =>
      h(
        "li",
        { dataset: { clientId, name }, title: `client ${clientId}` },
        h("span", { class: "dot", "aria-hidden": "true" }),
        name || "anonymous",
        clientId === selfId ? h("span", { class: "you" }, " (you)") : null,
      ),
    ),
  );
}

function iso(ms) {
  return new Date(ms).toISOString();
}
