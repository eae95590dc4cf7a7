// widget — the AgentHub chat widget, embeddable on any site with one tag:
//
//   <script src="https://agenthub.example/web/widget.js"
//           data-ingress="https://agenthub.example" data-tenant="demo"
//           data-token-provider="getAgentHubToken"></script>
//
// Attributes: data-ingress (the ingress URL; default: where widget.js came from), data-tenant,
// and the credential: data-token-provider (the name of a global function returning a token or
// a promise of one; called for every request, so it may refresh) or data-token (a short-lived
// token the host page fetched). Optional: data-target (CSS selector of the element to render
// into; default: right after the script tag), data-lang ("en"/"vi"; default:
// navigator.language), data-title.
//
// The widget renders into an open shadow root (the host page's CSS does not reach it, nor its
// CSS the page). The host page's origin must be in the ingress's INGRESS_CORS_ORIGINS.
// A chat: POST /api/{t}/chat, then the job's events over EventSource
// (GET /api/{t}/jobs/{id}/events?access_token=<ticket from POST /api/{t}/stream-token>).
// EventSource resumes a dropped connection by itself with Last-Event-ID. When the stream is
// refused (EventSource cannot say why) the widget fetches it once to learn the status: 200 is
// read as it is, 503/429 (busy) switches to long-poll (GET /api/{t}/jobs/{id}?wait=20), which
// the status line says. The session id is kept in localStorage per ingress, tenant and user,
// so a reload continues the conversation. DOM contract (tests rely on it): the input
// [data-testid=agenthub-input], the send button [data-testid=agenthub-send], every assistant
// answer [data-testid=agenthub-msg-assistant] (its data-deltas counts the deltas streamed into
// it), the status line [data-testid=agenthub-status].
import { labels, pickLang } from "../shared/i18n.js";
import { renderMarkdown } from "../shared/markdown.js";
import { readEventStream } from "../shared/sse.js";
import css from "../shared/widget.css";

const EVENTS = ["queued", "routed", "tool_call", "tool_result", "delta", "final", "error"];
const TERMINAL = new Set(["done", "error"]);
const HISTORY = 50; // messages shown again after a reload, the newest

function jwtSub(token) {
  try {
    const p = token.split(".")[1];
    const json = JSON.parse(atob(p.replace(/-/g, "+").replace(/_/g, "/")));
    return json.sub ? String(json.sub) : "user";
  } catch (e) {
    return token.startsWith("ahk_") ? "apikey:" + token.split("_")[1] : "user";
  }
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k) e.append(k);
  return e;
}

class ChatWidget {
  constructor(mountPoint, cfg) {
    this.cfg = cfg;
    this.ingress = (cfg.ingress || location.origin).replace(/\/+$/, "");
    this.tenant = cfg.tenant || "";
    this.t = labels(pickLang(cfg.lang));
    this.busy = false;
    this.host = mountPoint;
    const root = mountPoint.attachShadow({ mode: "open" });
    root.append(el("style", { text: css }));
    const t = this.t;
    this.log = el("div", { class: "log", role: "log", "aria-live": "polite" });
    this.input = el("textarea", { "data-testid": "agenthub-input", rows: "2",
      placeholder: t("placeholder"), "aria-label": t("placeholder"), maxlength: "32000" });
    this.sendBtn = el("button", { "data-testid": "agenthub-send", type: "submit", text: t("send") });
    this.newBtn = el("button", { class: "link", type: "button", text: t("newChat") });
    this.status = el("div", { class: "status", "data-testid": "agenthub-status", text: t("ready") });
    const form = el("form", { class: "composer" }, this.input, this.sendBtn);
    root.append(el("div", { class: "box" },
      el("div", { class: "head" }, el("strong", { text: cfg.title || t("title") }), this.newBtn),
      this.log, this.status, form));
    form.addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); this.send(); }
    });
    this.newBtn.addEventListener("click", () => this.newConversation());
    this.restore();
  }

  // ---- credentials and HTTP ----------------------------------------------------------------
  async token() {
    const { tokenProvider, token } = this.cfg;
    if (tokenProvider) {
      const fn = window[tokenProvider];
      if (typeof fn !== "function") throw new Error(this.t("noCredential"));
      const v = await fn();
      if (!v) throw new Error(this.t("noCredential"));
      return String(v).trim();
    }
    if (token) return String(token).trim();
    throw new Error(this.t("noCredential"));
  }

  api(path) {
    return this.ingress + "/api/" + encodeURIComponent(this.tenant) + path;
  }

  async call(method, path, body) {
    let r;
    // A 401 with a token provider asks it once more: the token it gave may have expired
    // since (a page that was left open); a second 401 is the page's to fix.
    for (let attempt = 0; ; attempt++) {
      const tok = await this.token();
      this.user = jwtSub(tok);
      try {
        r = await fetch(this.api(path), {
          method,
          headers: Object.assign({ Authorization: "Bearer " + tok },
            body ? { "Content-Type": "application/json" } : {}),
          body: body ? JSON.stringify(body) : undefined,
        });
      } catch (e) {
        // the browser says only "Failed to fetch": no network, or a CORS refusal
        throw new Error(this.t("unreachable", this.ingress));
      }
      if (r.status !== 401 || !this.cfg.tokenProvider || attempt > 0) break;
    }
    let j = null;
    try { j = await r.json(); } catch (e) { j = null; }
    if (!r.ok) {
      const msg = (j && j.error && j.error.message) || "HTTP " + r.status;
      const err = new Error(msg);
      err.status = r.status;
      throw err;
    }
    return j;
  }

  sessionKey() {
    return "agenthub:session:" + this.ingress + ":" + this.tenant + ":" + (this.user || "user");
  }

  // ---- the conversation ----------------------------------------------------------------------
  setStatus(key, ...args) {
    this.status.textContent = this.t(key, ...args);
    this.status.dataset.state = key;
  }

  addUser(text) {
    this.log.append(el("div", { class: "msg user", "data-testid": "agenthub-msg-user", text }));
    this.scroll();
  }

  addAssistant() {
    const body = el("div", { class: "md" });
    const activity = el("ul", { class: "activity" });
    const sources = el("div", { class: "sources" });
    const msg = el("div", { class: "msg assistant", "data-testid": "agenthub-msg-assistant",
      "data-deltas": "0" }, activity, body, sources);
    this.log.append(msg);
    this.scroll();
    return { msg, body, activity, sources, text: "", deltas: 0, tools: {} };
  }

  scroll() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  paint(a) {
    if (a.painting) return;
    a.painting = true;
    setTimeout(() => {
      a.painting = false;
      a.body.innerHTML = renderMarkdown(a.text); // sanitized: see shared/markdown.js
      this.scroll();
    }, 16);
  }

  showCitations(a, cites) {
    if (!Array.isArray(cites) || !cites.length) return;
    a.sources.replaceChildren(el("div", { class: "label", text: this.t("sources") }));
    const ol = el("ol");
    for (const c of cites.slice(0, 10)) {
      const name = [c.title, c.source].filter(Boolean).join(" — ") || c.id || c.tool || "?";
      const score = typeof c.score === "number" ? " (" + c.score.toFixed(2) + ")" : "";
      ol.append(el("li", { "data-testid": "agenthub-citation", text: name + score }));
    }
    a.sources.append(ol);
  }

  onEvent(a, type, data, id) {
    if (id) a.lastId = id;
    if (a.seen && id) {
      if (a.seen.has(id)) return;
      a.seen.add(id);
    }
    const t = this.t;
    if (type === "queued") this.setStatus("queued");
    else if (type === "routed") this.setStatus("routed", (data && data.agent) || "?");
    else if (type === "tool_call") {
      const li = el("li", { class: "tool", "data-testid": "agenthub-tool",
        text: t("tool", (data && (data.tool || data.name)) || "?") + "…" });
      if (data && data.arguments) li.title = JSON.stringify(data.arguments);
      a.activity.append(li);
      li.dataset.tool = (data && (data.tool || data.name)) || "?";
      if (data && data.id) a.tools[data.id] = li;
    } else if (type === "tool_result") {
      const name = (data && (data.tool || data.name)) || "?";
      // its call: by id, else the last unfinished call of that tool, else a line of its own
      const li = (data && data.id && a.tools[data.id]) ||
        [...a.activity.querySelectorAll("li")].reverse()
          .find((x) => x.dataset.tool === name && !x.dataset.done) ||
        a.activity.appendChild(el("li", { class: "tool", "data-testid": "agenthub-tool" }));
      li.dataset.done = "1";
      li.textContent = t("tool", name) + ": " + (data && data.ok === false ? t("toolFailed") : t("toolOk"));
      li.classList.toggle("failed", !!(data && data.ok === false));
    } else if (type === "delta") {
      a.text += (data && data.text) || "";
      a.deltas++;
      a.msg.dataset.deltas = String(a.deltas);
      this.setStatus("answering");
      this.paint(a);
    } else if (type === "final") {
      const resp = data && (data.response ?? data.content);
      if (typeof resp === "string" && resp) a.text = resp;
      this.paint(a);
      this.showCitations(a, data && data.metadata && data.metadata.citations);
      this.finish(a, "done");
    } else if (type === "error") {
      const msg = (data && (data.message || data.error)) || "error";
      this.finish(a, "failed", typeof msg === "string" ? msg : JSON.stringify(msg));
    }
  }

  finish(a, key, arg) {
    if (a.finished) return;
    a.finished = true;
    if (a.es) a.es.close();
    if (a.ctl) a.ctl.abort();
    this.setStatus(key, arg);
    if (this.status.dataset.mode === "longpoll") this.status.textContent += " (long-poll)";
    if (key === "failed") a.msg.classList.add("error");
    this.busy = false;
    this.sendBtn.disabled = false;
  }

  async send() {
    const text = this.input.value.trim();
    if (!text || this.busy) return;
    this.busy = true;
    this.sendBtn.disabled = true;
    this.input.value = "";
    this.addUser(text);
    delete this.status.dataset.mode;
    this.setStatus("sending");
    const a = this.addAssistant();
    try {
      const tok = await this.token();
      this.user = jwtSub(tok);
      const body = { message: text };
      const sid = localStorage.getItem(this.sessionKey());
      if (sid) body.session_id = sid;
      const job = await this.call("POST", "/chat", body);
      localStorage.setItem(this.sessionKey(), job.session_id);
      a.job = job.job_id;
      a.msg.dataset.job = job.job_id;
      this.setStatus("queued");
      await this.stream(a);
    } catch (e) {
      this.finish(a, "failed", e.message || String(e));
    }
  }

  async ticket() {
    const j = await this.call("POST", "/stream-token");
    return j.stream_token;
  }

  eventsUrl(a, ticket) {
    let u = this.api("/jobs/" + encodeURIComponent(a.job) + "/events?access_token=" +
      encodeURIComponent(ticket));
    if (a.lastId) u += "&last_event_id=" + encodeURIComponent(a.lastId);
    return u;
  }

  async stream(a) {
    const ticket = await this.ticket();
    const es = new EventSource(this.eventsUrl(a, ticket));
    a.es = es;
    let opened = false;
    es.onopen = () => {
      opened = true;
      if (!a.finished && this.status.dataset.state === "reconnecting") this.setStatus("answering");
    };
    for (const type of EVENTS) {
      es.addEventListener(type, (e) => {
        // the browser's own "error" (connection trouble) is a plain Event without data
        if (type === "error" && typeof e.data !== "string") return;
        let data = null;
        try { data = JSON.parse(e.data); } catch (x) { data = e.data; }
        this.onEvent(a, type, data, e.lastEventId);
      });
    }
    es.onerror = () => {
      if (a.finished) return;
      if (es.readyState === EventSource.CONNECTING) {
        this.setStatus("reconnecting"); // EventSource resumes with Last-Event-ID by itself
        return;
      }
      es.close();
      this.recover(a, opened).catch((err) => this.finish(a, "failed", err.message || String(err)));
    };
  }

  // EventSource gave up (an HTTP error answer): fetch the stream once to see the status.
  async recover(a, opened) {
    a.tries = (a.tries || 0) + 1;
    const ticket = await this.ticket();
    const ctl = new AbortController();
    a.ctl = ctl;
    let r;
    try {
      r = await fetch(this.eventsUrl(a, ticket), { signal: ctl.signal,
        headers: { Accept: "text/event-stream" } });
    } catch (e) {
      if (a.finished) return;
      return this.longPoll(a);
    }
    if (r.status === 200) {
      this.setStatus(opened ? "answering" : this.status.dataset.state || "queued");
      await readEventStream(r, (ev) => {
        let data = null;
        try { data = JSON.parse(ev.data); } catch (x) { data = ev.data; }
        this.onEvent(a, ev.type, data, ev.id);
      }, ctl.signal).catch(() => {});
      if (!a.finished && a.tries < 5) return this.recover(a, true);
      if (!a.finished) return this.longPoll(a);
      return;
    }
    ctl.abort();
    if (r.status === 503 || r.status === 429) return this.longPoll(a);
    let msg = "HTTP " + r.status;
    try { const j = await r.json(); msg = (j.error && j.error.message) || msg; } catch (e) { /* */ }
    throw new Error(msg);
  }

  // Long-poll: GET /api/{t}/jobs/{id}?wait=20 until the job ends; its events come along.
  async longPoll(a) {
    this.setStatus("longpoll");
    this.status.dataset.mode = "longpoll";
    a.seen = a.seen || new Set();
    let pause = 0;
    while (!a.finished) {
      if (pause) await new Promise((res) => setTimeout(res, pause));
      let job;
      try {
        job = await this.call("GET", "/jobs/" + encodeURIComponent(a.job) + "?wait=20");
      } catch (e) {
        if (e.status === 503 || e.status === 429 || !e.status) { pause = 1000; continue; }
        throw e;
      }
      const evs = Array.isArray(job.events) ? job.events : [];
      for (const ev of evs) {
        if (a.finished) break;
        if (ev.event === "queued" || ev.event === "routed") continue; // status says long-poll
        this.onEvent(a, ev.event, ev.data, ev.id);
      }
      if (!a.finished && TERMINAL.has(job.status)) {
        if (job.response) {
          a.text = job.response;
          this.paint(a);
        }
        const err = job.error && typeof job.error === "object" ? job.error.message : job.error;
        this.finish(a, job.status === "done" ? "done" : "failed", err || job.status);
      }
      // the ingress answers at once when it holds no more waits: poll gently then
      pause = evs.length && !a.finished ? 0 : 500;
    }
  }

  // ---- session across reloads ---------------------------------------------------------------
  async restore() {
    try {
      await this.restoreHistory();
    } finally {
      this.host.dataset.restored = "1"; // tests wait for it before counting messages
    }
  }

  async restoreHistory() {
    try {
      const tok = await this.token();
      this.user = jwtSub(tok);
    } catch (e) {
      this.setStatus("failed", e.message);
      return;
    }
    const sid = localStorage.getItem(this.sessionKey());
    if (!sid) return;
    try {
      // The newest HISTORY messages, oldest first: the session says how many there are.
      const path = "/sessions/" + encodeURIComponent(sid);
      const ses = await this.call("GET", path);
      const total = Number(ses && ses.message_count) || 0;
      const skip = Math.max(0, total - HISTORY);
      const j = await this.call("GET", path + "/messages?limit=" + HISTORY + "&offset=" + skip);
      const msgs = (j && j.messages) || [];
      if (!msgs.length) return;
      this.log.append(el("div", { class: "divider", text: skip ? this.t("historySome", skip)
        : this.t("history") }));
      for (const m of msgs) {
        if (m.role === "user") this.addUser(m.content || "");
        else if (m.role === "assistant") {
          const a = this.addAssistant();
          a.text = m.content || "";
          a.finished = true;
          this.paint(a);
          this.showCitations(a, m.metadata && m.metadata.citations);
        }
      }
    } catch (e) {
      if (e.status === 404) localStorage.removeItem(this.sessionKey()); // gone: start afresh
      else this.setStatus("historyFailed", e.message); // a refused token says so, not silence
    }
  }

  newConversation() {
    if (this.busy) return;
    localStorage.removeItem(this.sessionKey());
    this.log.replaceChildren();
    this.setStatus("ready");
  }
}

function configOf(script) {
  const d = script.dataset;
  let ingress = d.ingress;
  if (!ingress && script.src) ingress = new URL(script.src, location.href).origin;
  return { ingress, tenant: d.tenant, tokenProvider: d.tokenProvider, token: d.token,
    lang: d.lang, title: d.title, target: d.target };
}

function mount(target, cfg) {
  const host = typeof target === "string" ? document.querySelector(target) : target;
  if (!host) throw new Error("agenthub widget: no element " + target);
  host.classList.add("agenthub-widget");
  const w = new ChatWidget(host, cfg || {});
  host.agenthub = w;
  return w;
}

window.AgentHubWidget = { mount };

const script = document.currentScript;
if (script && script.dataset && script.dataset.tenant) {
  const cfg = configOf(script);
  let host;
  if (cfg.target) host = document.querySelector(cfg.target);
  if (!host) {
    host = document.createElement("div");
    script.after(host);
  }
  mount(host, cfg);
}
