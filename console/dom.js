/**
 * DOM helpers. Everything the console shows is built as nodes with text content — never as HTML
 * strings — so names and messages from the API cannot inject markup.
 */

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * @typedef {Node | string | number | null | undefined | false} Child
 * @typedef {Record<string, string | number | boolean | null | undefined | ((event: any) => void)>} Attrs
 */

/**
 * @param {Element} el
 * @param {Attrs} attrs
 */
function setAttrs(el, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.replace(/^on/, ""), value);
    else if (name === "class") el.setAttribute("class", String(value));
    else if (name === "value" && "value" in el) /** @type {HTMLInputElement} */ (el).value = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
}

/**
 * @param {Element} el
 * @param {Child[]} children
 */
function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "object" ? child : String(child));
  }
}

/**
 * An HTML element: `h("button", {type: "button", onclick: fn}, "Cancel")`.
 *
 * @param {string} tag
 * @param {Attrs} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, /** @type {Child[]} */ (children));
  return el;
}

/**
 * An SVG element.
 *
 * @param {string} tag
 * @param {Attrs} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {SVGElement}
 */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, /** @type {Child[]} */ (children));
  return /** @type {SVGElement} */ (el);
}

/** @param {number | null | undefined} ms */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  if (minutes < 60) return `${minutes} min ${seconds} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** @param {string | null | undefined} iso */
export function formatTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/** @param {number | null | undefined} rate  a share in [0, 1] */
export function formatRate(rate) {
  if (rate === null || rate === undefined) return "—";
  return `${(rate * 100).toFixed(rate === 1 || rate === 0 ? 0 : 1)} %`;
}

/** @param {string | null | undefined} id */
export function shortId(id) {
  return id ? id.slice(0, 8) : "—";
}

/**
 * A status badge: the colour is never the only signal, the status is written out.
 *
 * @param {string} status
 * @param {Attrs} [attrs]
 */
export function statusBadge(status, attrs = {}) {
  return h("span", { class: `badge status-${status}`, "data-status": status, ...attrs }, status);
}

/**
 * A `<dl>` of label / value pairs (values may be nodes; a third element gives the pair's attributes).
 *
 * @param {([string, Child | Child[]] | [string, Child | Child[], Attrs])[]} pairs
 * @param {Attrs} [attrs]
 */
export function definitionList(pairs, attrs = {}) {
  return h(
    "dl",
    { class: "facts", ...attrs },
    pairs.map(([label, value, pairAttrs]) =>
      h("div", pairAttrs ?? {}, h("dt", {}, label), h("dd", {}, value ?? "—")),
    ),
  );
}

/**
 * A table with a header row.
 *
 * @param {string[]} headers
 * @param {Node[]} rows
 * @param {Attrs} [attrs]
 */
export function table(headers, rows, attrs = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      attrs,
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          headers.map((label) => h("th", { scope: "col" }, label)),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}

/**
 * A status message with an ARIA role: `alert` for errors (announced at once), `status` otherwise.
 *
 * @param {"error" | "info" | "success"} kind
 * @param {Child | Child[]} message
 * @param {Attrs} [attrs]
 */
export function notice(kind, message, attrs = {}) {
  return h(
    "div",
    { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status", ...attrs },
    message,
  );
}
