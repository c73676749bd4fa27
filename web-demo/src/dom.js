// Small DOM and formatting helpers. Text always goes in through textContent, never as HTML:
// everything shown here may come from other people.

/** The element with this id (it must exist: index.html defines them all). */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el;
}

/** `h("li", { class: "x", dataset: { id: "1" } }, "text", child)` */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name in el && name !== "list") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  el.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return el;
}

/** A random id that needs no secure context (crypto.randomUUID does: plain-http LAN hosts). */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function hex(bytes, max) {
  const shown = bytes.subarray(0, max);
  const digits = Array.from(shown, (b) => b.toString(16).padStart(2, "0")).join(" ");
  return bytes.length > max ? `${digits} …` : digits;
}

export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** Resolves after the browser painted: lets a status line show before a blocking call. */
export function painted() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

const ICONS = {
  // Outline icons drawn here: emoji fonts are not everywhere (headless browsers, some Linux).
  lock: "M7 10V7a5 5 0 0 1 10 0v3M5 10h14v11H5z",
  hash: "M9 4 7 20M17 4l-2 16M4 9h17M3 15h17",
  clock: "M12 7v5l3 2M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z",
  dice: "M4 4h16v16H4zM9 9h.01M15 15h.01M15 9h.01M9 15h.01M12 12h.01",
};

/** An inline SVG icon (`lock`, `hash`, `clock`, `dice`), sized to the text around it. */
export function icon(name, label) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon icon-${name}`);
  if (label) svg.setAttribute("aria-label", label);
  else svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}
