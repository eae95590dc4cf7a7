// forms.js — forms built from a field list, validated in the browser before anything is sent.
//
// A field: {name, label, type: "text" | "password" | "textarea" | "int" | "number" | "select" |
//   "checkbox" | "url", required, pattern (RegExp), patternMsg, min, max, maxlength, options:
//   [[value, label]], value, hint, placeholder, validate(value, values) -> message | null,
//   show(values) -> bool (hidden fields are neither validated nor sent)}.
import { h, clear, errorNote, okNote } from "./dom.js";

function inputFor(f, id) {
  const common = { id, name: f.name, testid: id, placeholder: f.placeholder };
  if (f.type === "textarea") return h("textarea", { ...common, rows: f.rows || 6, value: f.value ?? "" });
  if (f.type === "checkbox") return h("input", { ...common, type: "checkbox", checked: !!f.value });
  if (f.type === "select")
    return h(
      "select",
      common,
      (f.options || []).map(([v, l]) => h("option", { value: v, selected: String(f.value ?? "") === String(v) }, l)),
    );
  const type = f.type === "password" ? "password" : f.type === "int" || f.type === "number" ? "text" : "text";
  return h("input", {
    ...common,
    type,
    autocomplete: f.type === "password" ? "new-password" : "off",
    inputmode: f.type === "int" ? "numeric" : f.type === "number" ? "decimal" : undefined,
    value: f.value ?? "",
  });
}

function readValue(f, el) {
  if (f.type === "checkbox") return el.checked;
  const s = el.value.trim();
  if (f.type === "int" || f.type === "number") return s === "" ? null : Number(s);
  if (f.type === "select") return s === "" ? null : el.value;
  return f.type === "textarea" ? el.value : s;
}

function check(f, el, v, values) {
  const raw = f.type === "checkbox" ? "x" : el.value.trim();
  if (f.required && raw === "") return f.label + " is required";
  if (raw === "") return f.validate ? f.validate(v, values) : null;
  if (f.type === "int" && (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(v))) return f.label + " must be a whole number";
  if (f.type === "number" && !Number.isFinite(v)) return f.label + " must be a number";
  if ((f.type === "int" || f.type === "number") && f.min !== undefined && v < f.min) return f.label + " must be at least " + f.min;
  if ((f.type === "int" || f.type === "number") && f.max !== undefined && v > f.max) return f.label + " must be at most " + f.max;
  if (f.maxlength && raw.length > f.maxlength) return f.label + " is at most " + f.maxlength + " characters";
  if (f.pattern && !f.pattern.test(raw)) return f.patternMsg || f.label + " has the wrong format";
  if (f.type === "url" && !/^https?:\/\/[^\s/]+/i.test(raw)) return f.label + " must start with http:// or https://";
  return f.validate ? f.validate(v, values) : null;
}

// Returns {el, values(), inputs}. onSubmit(values) may throw an ApiError: it is shown as the
// API worded it. opts: {id, submit (button text), validate(values) -> message | null,
// done(result) -> string | void (a success note)}.
export function form(fields, onSubmit, opts = {}) {
  const id = opts.id || "form";
  const inputs = {};
  const errors = {};
  const rows = [];
  const wraps = {};
  for (const f of fields) {
    const iid = id + "-" + f.name;
    const el = inputFor(f, iid);
    inputs[f.name] = el;
    errors[f.name] = h("div", { class: "field-error", testid: iid + "-error" });
    const lab = h("label", { for: iid }, f.label, f.required ? h("span", { class: "req", title: "required" }, " *") : null);
    const wrap =
      f.type === "checkbox"
        ? h("div", { class: "field check" }, el, lab, f.hint ? h("div", { class: "hint" }, f.hint) : null, errors[f.name])
        : h("div", { class: "field" }, lab, el, f.hint ? h("div", { class: "hint" }, f.hint) : null, errors[f.name]);
    wraps[f.name] = wrap;
    rows.push(wrap);
  }
  const box = h("div", { class: "form-result", testid: id + "-result" });
  const button = h("button", { type: "submit", testid: id + "-submit" }, opts.submit || "Save");
  const el = h("form", { class: "form", id, novalidate: true }, rows, opts.extra || null, h("div", { class: "actions" }, button, opts.actions || null), box);

  function values() {
    const out = {};
    for (const f of fields) if (!f.show || f.show(rawValues())) out[f.name] = readValue(f, inputs[f.name]);
    return out;
  }
  function rawValues() {
    const out = {};
    for (const f of fields) out[f.name] = readValue(f, inputs[f.name]);
    return out;
  }
  function refresh() {
    const vals = rawValues();
    for (const f of fields) if (f.show) wraps[f.name].hidden = !f.show(vals);
  }
  for (const f of fields) inputs[f.name].addEventListener("change", refresh);
  refresh();

  el.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(box);
    const vals = values();
    let bad = false;
    for (const f of fields) {
      clear(errors[f.name]);
      inputs[f.name].classList.remove("invalid");
      if (f.show && !f.show(rawValues())) continue;
      const msg = check(f, inputs[f.name], vals[f.name], vals);
      if (msg) {
        bad = true;
        errors[f.name].textContent = msg;
        inputs[f.name].classList.add("invalid");
      }
    }
    const whole = !bad && opts.validate ? opts.validate(vals) : null;
    if (whole) {
      bad = true;
      box.appendChild(h("div", { class: "error", testid: id + "-invalid" }, whole));
    }
    if (bad) {
      box.appendChild(h("div", { class: "error", testid: "form-invalid" }, "Please correct the highlighted fields; nothing was sent."));
      return;
    }
    button.disabled = true;
    try {
      const res = await onSubmit(vals);
      const note = opts.done ? opts.done(res) : "Saved.";
      if (note) box.appendChild(okNote(note));
    } catch (e) {
      box.appendChild(errorNote(e));
    } finally {
      button.disabled = false;
    }
  });
  return { el, values, inputs, refresh };
}

// Only the members that are set (null/"" dropped), for creates; updates send what changed.
export function compact(o) {
  const out = {};
  for (const [k, v] of Object.entries(o)) if (v !== null && v !== "" && v !== undefined) out[k] = v;
  return out;
}

export const TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const NAME_ID = /^[A-Za-z0-9_-]{1,100}$/;
