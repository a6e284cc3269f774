// Small DOM helpers. Data is only ever placed with textContent / text nodes, never as HTML,
// so a task titled "<img src=x onerror=alert(1)>" is shown literally.

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * el("button", {className: "btn", text: "Save", attrs: {type: "button"}, on: {click: fn}}, child…)
 * Children may be nodes or strings (strings become text nodes).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = String(props.text);
  for (const [name, value] of Object.entries(props.attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const [name, value] of Object.entries(props.dataset || {})) node.dataset[name] = value;
  for (const [event, handler] of Object.entries(props.on || {})) {
    node.addEventListener(event, handler);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// Stroke icons drawn from fixed path data (no markup strings).
const ICONS = {
  trash: ["M4 7h16", "M9 7V4h6v3", "M6 7l1 13h10l1-13", "M10 11v6", "M14 11v6"],
  pencil: ["M4 20h4L19 9l-4-4L4 16z", "M13.5 6.5l4 4"],
  tool: [
    "M14.7 6.3a1 1 0 000 1.4l1.6 1.6a1 1 0 001.4 0l3.8-3.8a6 6 0 01-7.9 7.9l-6.9 6.9a2.1 2.1 0 01-3-3l6.9-6.9a6 6 0 017.9-7.9z",
  ],
  plus: ["M12 5v14", "M5 12h14"],
};

export function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon");
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

/** "just now", "5 min ago", "3 h ago", else a short date. */
export function relativeTime(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  const seconds = (Date.now() - when.getTime()) / 1000;
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return when.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

/** Remember which control had focus (by its data-focus key) so a re-render can restore it. */
export function focusKey() {
  const active = document.activeElement;
  return active && active.dataset ? active.dataset.focus || null : null;
}

export function restoreFocus(root, key) {
  if (!key) return false;
  const target = [...root.querySelectorAll("[data-focus]")].find((n) => n.dataset.focus === key);
  if (target) target.focus();
  return Boolean(target);
}
