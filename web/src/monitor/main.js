// monitor — the monitoring dashboard at /monitor: uPlot time series from
// GET /api/admin/metrics/cluster (the ingress's in-memory history of every process's
// Prometheus metrics; ingress/cluster_metrics.h). Values come as scraped (counters and
// histogram buckets cumulative): rates and percentiles are computed here between neighbouring
// points, so each window's step (1 s, 10 s, 5 min) is the averaging interval.
//
// Credential: a platform operator token, from sessionStorage "agenthub.operator.token" (the
// admin panel may set it), else the demo's /web/demo-token.json "operator_token" (make run),
// else a sign-in field.
import uPlot from "uplot";
import uplotCss from "uplot/dist/uPlot.min.css";
import { computeFigures } from "./figures.js";

const style = document.createElement("style");
style.textContent = uplotCss;
document.head.append(style);

const $ = (id) => document.getElementById(id);
const grid = $("grid");
const statusEl = $("status");
let token = null;
let win = "5m";
let timer = null;
const charts = {};

const PALETTE = ["#2d6cdf", "#e5484d", "#12a594", "#f76b15", "#8e4ec6", "#ffc53d", "#0090ff",
  "#30a46c", "#d6409f", "#6e56cf", "#978365", "#3e63dd"];

const CARDS = [
  { id: "chats", title: "Accepted chats", unit: "/s" },
  { id: "latency", title: "Latency by stage", unit: "s", pct: true },
  { id: "lag", title: "Consumer lag by group and topic", unit: "s" },
  { id: "errors", title: "Errors, DLQ and refused streams", unit: "/s" },
  { id: "sse", title: "Open SSE streams", unit: "" },
  { id: "inflight", title: "Jobs in flight per process", unit: "" },
  { id: "tokens", title: "LLM tokens per tenant", unit: "/s" },
  { id: "cost", title: "LLM cost per tenant", unit: "USD/h" },
];

function setStatus(text, err) {
  statusEl.textContent = text;
  statusEl.className = err ? "error" : "";
}

async function credential() {
  const s = sessionStorage.getItem("agenthub.operator.token");
  if (s) return s;
  try {
    const r = await fetch("/web/demo-token.json", { cache: "no-store" });
    if (r.ok) {
      const j = await r.json();
      if (j.operator_token) return j.operator_token;
    }
  } catch (e) { /* no demo credential */ }
  return null;
}

function card(def) {
  const c = document.createElement("div");
  c.className = "card";
  c.dataset.testid = "chart-" + def.id;
  c.setAttribute("data-testid", "chart-" + def.id);
  const h = document.createElement("h3");
  h.textContent = def.title + " ";
  const sub = document.createElement("span");
  sub.className = "sub";
  sub.textContent = def.unit ? "(" + def.unit + ")" : "";
  h.append(sub);
  const body = document.createElement("div");
  body.className = "plot";
  c.append(h, body);
  grid.append(c);
  return { el: c, body, plot: null, key: "" };
}

function fmtTime(step) {
  return step >= 300 ? "{HH}:{mm}" : "{HH}:{mm}:{ss}";
}

function draw(def, fig, t, step) {
  const slot = charts[def.id] || (charts[def.id] = card(def));
  const names = fig.series.map((s) => s.label);
  const key = names.join("\u0001") + "|" + step;
  const width = Math.max(300, slot.el.clientWidth - 24);
  if (!fig.series.length || !t.length) {
    if (slot.plot) { slot.plot.destroy(); slot.plot = null; }
    slot.body.innerHTML = "";
    const e = document.createElement("div");
    e.className = "empty";
    e.textContent = "no data yet";
    slot.body.append(e);
    slot.key = "";
    slot.el.dataset.points = "0";
    return;
  }
  const data = [t, ...fig.series.map((s) => s.values)];
  if (!slot.plot || slot.key !== key) {
    if (slot.plot) slot.plot.destroy();
    slot.body.innerHTML = "";
    slot.plot = new uPlot({
      width,
      height: 200,
      series: [{ value: fmtTime(step) }, ...fig.series.map((s, i) => ({
        label: s.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false,
        points: { show: false },
        value: (u, v) => (v == null ? "–" : +v.toPrecision(4) + (def.unit ? " " + def.unit : "")),
      }))],
      axes: [{ values: undefined }, { size: 56 }],
      scales: { x: { time: true } },
      legend: { live: true },
    }, data, slot.body);
    slot.key = key;
  } else {
    slot.plot.setData(data);
  }
  // for tests and screen readers: how many points are drawn, and the latest total
  let points = 0, last = null;
  for (const s of fig.series) {
    points += s.values.filter((v) => v != null).length;
    for (let i = s.values.length - 1; i >= 0; i--)
      if (s.values[i] != null) { last = (last || 0) + s.values[i]; break; }
  }
  slot.el.dataset.points = String(points);
  slot.el.dataset.last = last == null ? "" : String(last);
  slot.el.setAttribute("aria-label", def.title + ": " + points + " points");
}

function drawState(j) {
  let slot = charts.state;
  if (!slot) {
    slot = charts.state = card({ id: "state", title: "Processes and dependencies", unit: "" });
  }
  const tbl = document.createElement("table");
  const row = (a, b, ok, extra) => {
    const tr = document.createElement("tr");
    const td1 = document.createElement("td");
    td1.textContent = a;
    const td2 = document.createElement("td");
    td2.textContent = b;
    td2.className = ok ? "ok" : "down";
    const td3 = document.createElement("td");
    td3.textContent = extra || "";
    tr.append(td1, td2, td3);
    tbl.append(tr);
  };
  for (const tg of j.targets || [])
    row(tg.name, tg.up ? "up" : "down", tg.up, tg.error || tg.url);
  for (const [dep, st] of Object.entries(j.dependencies || {}))
    row(dep, st, st === "ok", "ingress /ready");
  slot.body.replaceChildren(tbl);
  slot.el.dataset.points = String((j.targets || []).length);
}

// Each request carries a number and its window. An answer is dropped when the window changed
// while it was on the wire (a 5 m refresh answering after the operator chose 1 h) or when a
// newer answer was already drawn; a slow answer is still drawn if nothing newer came first.
let asked = 0;
let shown = 0;

async function refresh() {
  if (!token) return;
  const mine = ++asked;
  const w = win;
  const stale = () => w !== win || mine < shown;
  let j;
  try {
    const r = await fetch("/api/admin/metrics/cluster?window=" + w, {
      headers: { Authorization: "Bearer " + token },
    });
    j = await r.json().catch(() => null);
    if (stale()) return;
    shown = mine;
    if (!r.ok) {
      const msg = (j && j.error && j.error.message) || "HTTP " + r.status;
      setStatus(msg, true);
      if (r.status === 401 || r.status === 403) showSignin();
      return;
    }
  } catch (e) {
    if (!stale()) setStatus(String(e), true);
    return;
  }
  const pct = parseFloat($("pct").value);
  const figs = computeFigures(j, pct);
  for (const def of CARDS) draw(def, figs[def.id], figs.t, j.step_s);
  drawState(j);
  setStatus("window " + j.window + ", step " + j.step_s + " s, " + j.t.length + " points · " +
    new Date().toLocaleTimeString());
}

function schedule() {
  clearInterval(timer);
  const every = win === "5m" ? 2000 : win === "1h" ? 10000 : 60000;
  timer = setInterval(refresh, every);
  refresh();
}

function showSignin() {
  $("signin").style.display = "block";
}

$("signin").addEventListener("submit", (e) => {
  e.preventDefault();
  const v = $("optoken").value.trim();
  if (!v) return;
  token = v;
  sessionStorage.setItem("agenthub.operator.token", v);
  $("signin").style.display = "none";
  schedule();
});

for (const b of document.querySelectorAll("[data-window]")) {
  b.addEventListener("click", () => {
    win = b.dataset.window;
    for (const o of document.querySelectorAll("[data-window]"))
      o.setAttribute("aria-pressed", String(o === b));
    schedule();
  });
}
$("pct").addEventListener("change", refresh);

credential().then((t) => {
  token = t;
  if (!token) {
    setStatus("sign in with an operator token", true);
    showSignin();
    return;
  }
  schedule();
});
