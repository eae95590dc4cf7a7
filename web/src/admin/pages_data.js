// pages_data.js — a tenant's knowledge base (upload, list, delete, search preview), batch
// OCR documents (upload, live progress over SSE, extracted text), sessions and
// conversations, caches and the audit log.
import { get, post, del, p, getToken } from "./api.js";
import { h, clear, table, card, errorNote, okNote, guarded, when, show, loading } from "./dom.js";
import { form } from "./forms.js";

const readText = (file) => file.text();
function readBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

// ---- knowledge base -------------------------------------------------------------------
export async function knowledgePage(root, ctx) {
  const body = h("div", {});
  root.append(ctx.tenantPicker((t) => show_(t)), body);
  function show_(tenant) {
    clear(body);
    const list = h("div", {});
    const upStatus = h("div", {});
    const fileInput = h("input", { type: "file", multiple: true, accept: ".txt,.md,.csv,.json,.html,text/*", testid: "kb-files" });
    const upload = h("button", {
      type: "button",
      testid: "kb-upload",
      on: {
        click: async () => {
          clear(upStatus);
          const files = [...fileInput.files];
          if (!files.length) return upStatus.appendChild(h("div", { class: "error", testid: "form-invalid" }, "Choose one or more text files first."));
          const big = files.find((f) => f.size > 8 * 1024 * 1024);
          if (big) return upStatus.appendChild(h("div", { class: "error", testid: "form-invalid" }, big.name + " is larger than 8 MiB."));
          const docs = [];
          for (const f of files) {
            const text = await readText(f);
            if (!text.trim()) return upStatus.appendChild(h("div", { class: "error", testid: "form-invalid" }, f.name + " has no text."));
            docs.push({ source: f.name.slice(0, 200), title: f.name.slice(0, 200), text });
          }
          upload.disabled = true;
          const r = await guarded(upStatus, () => post("/api/admin/knowledge", { tenant_id: tenant, documents: docs }));
          upload.disabled = false;
          if (r) {
            upStatus.appendChild(okNote("Added " + r.documents.map((d) => d.doc_id + " (" + d.chunks + " chunks)").join(", ") + " with the " + r.embedder + " embedder."));
            fileInput.value = "";
            refresh();
          }
        },
      },
    }, "Upload");
    const pasted = form(
      [
        { name: "source", label: "Source name", required: true, maxlength: 200, hint: "How answers cite it, e.g. returns-policy.md" },
        { name: "text", label: "Text", type: "textarea", required: true, rows: 6 },
      ],
      async (v) => {
        const r = await post("/api/admin/knowledge", { tenant_id: tenant, source: v.source, title: v.source, text: v.text });
        refresh();
        return r;
      },
      { id: "kb-paste", submit: "Add text", done: (r) => "Added " + r.documents[0].doc_id + " (" + r.documents[0].chunks + " chunks)." },
    );
    const results = h("div", { testid: "kb-search-results" });
    const search = form(
      [
        { name: "query", label: "Question", required: true, maxlength: 2000, hint: "What a user would ask" },
        { name: "top_k", label: "Chunks (top_k)", type: "int", min: 1, max: 20, value: 4 },
      ],
      async (v) => {
        const r = await post("/api/admin/knowledge/search", { tenant_id: tenant, query: v.query, top_k: v.top_k || 4 });
        clear(results);
        if (!r.ok) return results.appendChild(h("div", { class: "error", testid: "kb-search-error" }, r.error)), r;
        results.appendChild(
          table(
            [
              { title: "Score", render: (x) => (typeof x.score === "number" ? x.score.toFixed(3) : show(x.score)) },
              { title: "Source", render: (x) => h("strong", {}, x.source) },
              { title: "Chunk", key: "chunk" },
              { title: "Text", render: (x) => h("div", { class: "content" }, x.text) },
            ],
            r.result.results || [],
            { testid: "kb-results-table", empty: "No chunks found: the knowledge base is empty, or nothing is similar enough." },
          ),
        );
        return r;
      },
      { id: "kb-search", submit: "Search", done: (r) => (r.ok ? "The RAG tool would get " + r.result.results.length + " chunks (" + r.elapsed_ms + " ms)." : null) },
    );
    body.append(
      card("Documents of " + tenant, list),
      h("div", { class: "grid2" },
        card("Upload files", h("p", { class: "hint" }, "Text files (.txt, .md, ...): each is split into chunks, embedded and stored in the tenant's knowledge base. A file with the same name replaces the earlier one."), fileInput, h("div", { class: "actions" }, upload), upStatus),
        card("Or paste text", pasted.el)),
      card("Search preview", h("p", { class: "hint" }, "The chunks, scores and sources the RAG tool would get for this question."), search.el, results),
    );
    async function refresh() {
      clear(list).appendChild(loading());
      const r = await guarded(list, () => get(p`/api/admin/knowledge?tenant_id=${tenant}`));
      if (!r) return;
      list.appendChild(
        table(
          [
            { title: "Source", key: "source" },
            { title: "Title", key: "title" },
            { title: "Chunks", key: "chunk_count" },
            { title: "Added", render: (d) => when(d.updated_at || d.created_at) },
            {
              title: "",
              render: (d) => h("button", {
                type: "button", class: "danger small", testid: "kb-delete-" + d.doc_id,
                on: { click: async () => { if (!confirm("Delete " + d.doc_id + " from the knowledge base?")) return; if (await guarded(list, () => del(p`/api/admin/knowledge/${tenant}/${d.doc_id}`).then(() => true))) refresh(); } },
              }, "Delete"),
            },
          ],
          r.items || [],
          { testid: "kb-table", empty: "No documents yet." },
        ),
      );
    }
    refresh();
  }
}

// ---- documents (batch OCR) ---------------------------------------------------------------
export async function documentsPage(root, ctx) {
  if (ctx.isOperator()) {
    root.appendChild(card("Documents", h("p", { testid: "documents-operator" }, "Batch OCR runs as a tenant's user: sign in with that tenant's admin token (or an admin API key) to upload documents and read their text. The platform operator's token is not valid on tenant routes.")));
    return;
  }
  const tenant = ctx.who.tenant_id;
  const live = h("div", {});
  const past = h("div", {});
  const status = h("div", {});
  const fileInput = h("input", { type: "file", multiple: true, accept: "image/*,.pdf,.tif,.tiff", testid: "docs-files" });
  const lang = h("select", { testid: "docs-lang" }, [["eng", "English"], ["vie", "Vietnamese"], ["eng+vie", "English + Vietnamese"]].map(([v, l]) => h("option", { value: v }, l)));
  const go = h("button", {
    type: "button",
    testid: "docs-upload",
    on: {
      click: async () => {
        clear(status);
        const files = [...fileInput.files];
        if (!files.length) return status.appendChild(h("div", { class: "error", testid: "form-invalid" }, "Choose one or more files first."));
        if (files.length > 20) return status.appendChild(h("div", { class: "error", testid: "form-invalid" }, "At most 20 files per batch."));
        const big = files.find((f) => f.size > 10 * 1024 * 1024);
        if (big) return status.appendChild(h("div", { class: "error", testid: "form-invalid" }, big.name + " is larger than 10 MiB."));
        go.disabled = true;
        const documents = [];
        for (const f of files) documents.push({ filename: f.name, content_type: f.type || "application/octet-stream", content_base64: await readBase64(f) });
        const b = await guarded(status, () => post(p`/api/${tenant}/documents`, { documents, lang: lang.value }));
        go.disabled = false;
        if (b) {
          fileInput.value = "";
          watch(b.batch_id, files.map((f) => f.name));
        }
      },
    },
  }, "Upload and recognise");
  root.append(
    card("Upload a batch", h("p", { class: "hint" }, "Images (PNG, JPEG, TIFF, ...) and PDFs; up to 20 files of 10 MiB. Progress arrives live, file by file."), h("div", { class: "actions" }, fileInput, h("label", {}, "Language "), lang, go), status),
    live,
    card("Earlier batches", past),
  );

  function watch(batchId, names) {
    const rows = {};
    const bar = h("div", {});
    const barWrap = h("div", { class: "progress" }, bar);
    const summary = h("p", { testid: "batch-summary" }, "Queued…");
    const tbody = h("tbody", {});
    const c = card("Batch " + batchId, barWrap, summary, h("table", { testid: "batch-files" }, h("thead", {}, h("tr", {}, h("th", {}, "File"), h("th", {}, "Status"), h("th", {}, "Text"))), tbody));
    c.dataset.batch = batchId;
    live.prepend(c);
    const row = (name) => {
      if (!rows[name]) {
        const st = h("td", { "data-status": "queued" }, "queued");
        const tx = h("td", {});
        tbody.appendChild(h("tr", { "data-file": name }, h("td", {}, name), st, tx));
        rows[name] = { st, tx };
      }
      return rows[name];
    };
    names.forEach(row);
    let done = 0;
    const total = names.length;
    const setBar = () => (bar.style.width = Math.round((100 * done) / Math.max(1, total)) + "%");
    async function finish() {
      const b = await guarded(summary, () => get(p`/api/${tenant}/documents/${batchId}`));
      if (!b) return;
      summary.textContent = "Batch " + b.status + ": " + b.succeeded + " recognised, " + b.failed + " failed, of " + b.total + ".";
      summary.dataset.status = b.status;
      for (const d of b.documents || []) {
        const r = row(d.filename);
        r.st.textContent = d.status + (d.error ? ": " + (d.error.message || d.error.code || show(d.error)) : "");
        r.st.dataset.status = d.status;
        clear(r.tx).appendChild(d.text ? h("details", {}, h("summary", {}, (d.text.length || 0) + " characters"), h("pre", { testid: "doc-text" }, d.text)) : document.createTextNode("—"));
      }
      done = total;
      setBar();
      refreshPast();
    }
    // EventSource cannot send a header: trade the token for a short-lived stream ticket.
    post(p`/api/${tenant}/stream-token`, {})
      .then((t) => {
        const es = new EventSource(p`/api/${tenant}/documents/${batchId}/events` + "?access_token=" + encodeURIComponent(t.stream_token));
        const onDoc = (ev) => {
          const d = JSON.parse(ev.data);
          const r = row(d.filename);
          r.st.textContent = d.status === "done" ? "done" : "error: " + (d.error || "");
          r.st.dataset.status = d.status;
          done++;
          setBar();
          summary.textContent = done + " of " + total + " files processed…";
        };
        es.addEventListener("document_done", onDoc);
        es.addEventListener("document_error", onDoc);
        es.addEventListener("batch_done", () => {
          es.close();
          finish();
        });
        es.onerror = () => {
          if (es.readyState === EventSource.CLOSED) finish();
        };
      })
      .catch((e) => {
        summary.appendChild(errorNote(e));
        finish();
      });
  }
  async function refreshPast() {
    clear(past).appendChild(loading());
    const r = await guarded(past, () => get(p`/api/${tenant}/documents`));
    if (!r) return;
    past.appendChild(
      table(
        [
          { title: "Batch", render: (b) => h("code", {}, b.batch_id) },
          { title: "Status", key: "status" },
          { title: "Files", render: (b) => b.succeeded + " / " + b.total + (b.failed ? " (" + b.failed + " failed)" : "") },
          { title: "Created", render: (b) => when(b.created_at) },
          { title: "", render: (b) => h("button", { type: "button", class: "secondary small", on: { click: () => watchDone(b.batch_id) } }, "Show text") },
        ],
        r.items || r.batches || [],
        { testid: "batches-table", empty: "No batches yet." },
      ),
    );
  }
  async function watchDone(id) {
    const b = await guarded(status, () => get(p`/api/${tenant}/documents/${id}`));
    if (!b) return;
    live.prepend(card("Batch " + id + " (" + b.status + ")", table(
      [
        { title: "File", key: "filename" },
        { title: "Status", key: "status" },
        { title: "Text", render: (d) => (d.text ? h("pre", {}, d.text) : d.error ? show(d.error) : "—") },
      ],
      b.documents || [],
    )));
  }
  refreshPast();
}

// ---- sessions and conversations --------------------------------------------------------
export async function conversationsPage(root, ctx) {
  const body = h("div", {});
  root.append(ctx.tenantPicker((t) => show_(t)), body);
  function show_(tenant) {
    clear(body);
    const list = h("div", {});
    const view = h("div", {});
    const f = form(
      [{ name: "user_id", label: "User (empty: every user)", maxlength: 128 }],
      async (v) => {
        const q = p`/api/admin/conversations?tenant_id=${tenant}` + (v.user_id ? p`&user_id=${v.user_id}` : "");
        const r = await get(q);
        clear(list).appendChild(
          table(
            [
              { title: "Last message", render: (s) => when(s.last_message_at || s.created_at) },
              { title: "User", key: "user_id" },
              { title: "Title", key: "title" },
              { title: "Messages", key: "message_count" },
              { title: "Last agent", key: "agent" },
              { title: "", render: (s) => (s.deleted ? h("span", { class: "badge off" }, "deleted") : "") },
            ],
            r.items || [],
            { testid: "sessions-table", empty: "No sessions.", rowAttrs: (s) => ({ class: "clickable", "data-session": s.session_id, on: { click: () => open(tenant, s.session_id, view) } }) },
          ),
        );
        return r;
      },
      { id: "sessions-find", submit: "Find sessions", done: (r) => { const n = (r.items || []).length; return n + (n === 1 ? " session." : " sessions."); } },
    );
    body.append(card("Sessions of " + tenant, f.el, list), view);
    f.el.requestSubmit();
  }
}

function metaItem(label, value, testid) {
  if (value === undefined || value === null || value === "") return null;
  return h("span", { testid }, h("strong", {}, label + ": "), typeof value === "object" ? JSON.stringify(value) : String(value));
}

function toolEvents(events) {
  const calls = {};
  const order = [];
  for (const e of events || []) {
    const d = e.data || {};
    if (e.event === "tool_call") {
      calls[d.id] = { call: d };
      order.push(d.id);
    } else if (e.event === "tool_result") {
      (calls[d.id] = calls[d.id] || { call: { tool: d.tool } }).result = d;
      if (!order.includes(d.id)) order.push(d.id);
    }
  }
  return order.map((id) => {
    const { call, result } = calls[id];
    const failed = result && !result.ok;
    return h("div", { class: "toolcall" + (failed ? " failed" : ""), testid: "toolcall" },
      h("div", {}, h("strong", { testid: "toolcall-name" }, call.tool || "?"), call.auth ? h("span", { class: "muted" }, " · credential: " + call.auth) : null),
      h("div", {}, "Arguments:", table([{ title: "Name", key: "k" }, { title: "Value", render: (x) => show(x.v) }], Object.entries(call.arguments || {}).map(([k, v]) => ({ k, v })), { testid: "toolcall-args", empty: "none" })),
      result
        ? result.ok
          ? h("details", {}, h("summary", {}, "Result"), h("pre", { testid: "toolcall-result" }, JSON.stringify(result.result, null, 2)))
          : h("div", { class: "error", testid: "toolcall-error" }, result.error || "failed")
        : h("div", { class: "muted" }, "no result recorded"),
    );
  });
}

async function open(tenant, sessionId, view) {
  clear(view).appendChild(loading());
  const c = await guarded(view, () => get(p`/api/admin/conversations/${sessionId}?tenant_id=${tenant}`));
  if (!c) return;
  const msgs = (c.messages || []).map((m) => {
    const md = m.metadata || {};
    const tokens = md.tokens ? (md.tokens.input ?? "?") + " in / " + (md.tokens.output ?? "?") + " out" : null;
    const err = m.job_error || (m.job_status === "error" ? { message: "the job failed" } : null);
    const cites = md.citations && md.citations.length ? h("div", { testid: "msg-citations" }, h("strong", {}, "Citations: "), md.citations.map((x) => (typeof x === "object" ? x.source || JSON.stringify(x) : String(x))).join(", ")) : null;
    const failures = (m.events || []).filter((e) => e.event === "error").map((e) => h("div", { class: "error" }, "Error: " + ((e.data && (e.data.message || e.data.code)) || "")));
    return h("div", { class: "msg " + m.role, testid: "msg-" + m.role },
      h("div", { class: "meta" }, h("strong", {}, m.role), when(m.timestamp),
        metaItem("agent", md.agent || m.job_agent, "msg-agent"), metaItem("intent", md.intent || m.job_intent, "msg-intent"), metaItem("language", md.language),
        metaItem("model", md.llm_model), metaItem("tokens", tokens, "msg-tokens"), metaItem("latency", md.latency_ms !== undefined ? md.latency_ms + " ms" : m.role === "assistant" && m.job_latency_ms ? m.job_latency_ms + " ms (job)" : null, "msg-latency"),
        metaItem("cost", md.cost_usd !== undefined ? "$" + md.cost_usd : null), metaItem("fallback", md.fallback), metaItem("job", m.job_status)),
      h("div", { class: "content", testid: "msg-content" }, m.content),
      cites,
      err ? h("div", { class: "error", testid: "msg-error" }, "Error " + (err.code || "") + ": " + (err.message || "")) : null,
      failures,
      m.role === "assistant" ? toolEvents(m.events) : null,
      m.role === "assistant" && (!m.events || !m.events.length) && md.tool_calls && md.tool_calls.length ? h("div", { class: "muted" }, "Tools called: " + md.tool_calls.join(", ") + " (details expire with the job's events after 24 h)") : null,
    );
  });
  const omitted = c.messages_omitted ? h("p", { class: "muted", testid: "msg-omitted" }, c.messages_omitted + " earlier " + (c.messages_omitted === 1 ? "message is" : "messages are") + " not shown: the newest " + msgs.length + " are.") : null;
  clear(view).appendChild(card("Conversation " + sessionId, h("p", { class: "muted" }, "User " + c.user_id + " · started " + when(c.created_at) + (c.deleted ? " · deleted by the user" : "")), omitted, h("div", { testid: "conversation" }, msgs)));
}

// ---- caches and the audit log ------------------------------------------------------------
export async function systemPage(root, ctx) {
  const box = h("div", {});
  const reload = h("button", {
    type: "button",
    testid: "reload-caches",
    disabled: !ctx.isOperator(),
    on: { click: async () => { const r = await guarded(box, () => post("/api/admin/agents/reload", {})); if (r) box.appendChild(okNote("Caches reloaded: agents and their tools are read again on their next job.")); } },
  }, "Reload agent caches");
  root.append(card("Caches", h("p", { class: "hint" }, "Admin writes already invalidate what they change; this drops every cached agent and tool list (operator only)."), reload, box));
  const audit = h("div", {});
  root.append(card("Audit log (newest first)", audit));
  const r = await guarded(audit, () => get("/api/admin/audit?limit=100"));
  if (r)
    audit.appendChild(
      table(
        [
          { title: "When", render: (a) => when(a.at) },
          { title: "Who", render: (a) => a.actor_kind + " " + a.actor_sub + (a.actor_tenant ? " (" + a.actor_tenant + ")" : "") },
          { title: "Tenant", key: "tenant_id" },
          { title: "Action", render: (a) => a.method + " " + a.route },
          { title: "Status", key: "status" },
        ],
        r.items || [],
        { testid: "audit-table" },
      ),
    );
}
export { getToken };
