// dom.js — small DOM helpers. Text from the API always goes in as text nodes (textContent),
// never as HTML.

// h("div", {class: "x", on: {click: f}, testid: "y"}, child, "text", [more])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "testid") el.dataset.testid = v;
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (k === "disabled") el.disabled = !!v;
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// A value shown in a table cell: strings as they are, the rest as compact JSON text.
export function show(v) {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function when(ts) {
  if (!ts) return "—";
  const d = new Date(ts);
  return isNaN(d) ? String(ts) : d.toLocaleString();
}

// cols: [{title, render: row => node|string, key}]; rowAttrs(row) gives the <tr> attributes.
export function table(cols, rows, opts = {}) {
  if (!rows.length) return h("p", { class: "muted", testid: opts.testid ? opts.testid + "-empty" : undefined }, opts.empty || "Nothing here yet.");
  return h(
    "table",
    { testid: opts.testid },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c.title)))),
    h(
      "tbody",
      {},
      rows.map((row) =>
        h(
          "tr",
          opts.rowAttrs ? opts.rowAttrs(row) : {},
          cols.map((c) => h("td", {}, c.render ? c.render(row) : show(row[c.key]))),
        ),
      ),
    ),
  );
}

export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, children);
}

// An API error box: the status, the code and the message as the API worded them.
export function errorNote(e) {
  if (e && e.status !== undefined)
    return h("div", { class: "error", role: "alert", testid: "api-error" }, h("strong", {}, "Error " + (e.status || "") + " " + e.code + ": "), e.message);
  return h("div", { class: "error", role: "alert", testid: "api-error" }, String(e && e.message ? e.message : e));
}

export function okNote(text) {
  return h("div", { class: "ok", role: "status", testid: "ok-note" }, text);
}

// Runs fn, showing its error (or nothing) in box. Returns fn's result or undefined.
export async function guarded(box, fn) {
  clear(box);
  try {
    return await fn();
  } catch (e) {
    box.appendChild(errorNote(e));
    return undefined;
  }
}

export function loading() {
  return h("p", { class: "muted" }, "Loading…");
}
