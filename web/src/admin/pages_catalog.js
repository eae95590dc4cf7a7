// pages_catalog.js — agents (with their tools), tools (a form per base type, its input
// parameters, "test this tool"), output formats and LLM models.
import { get, post, patch, del, p, getAll } from "./api.js";
import { h, clear, table, card, errorNote, okNote, guarded, when, show, loading } from "./dom.js";
import { form, compact, NAME_ID } from "./forms.js";

const MAX_TOOLS = 5; // an agent uses at most 5 tools (agents/, tools/tool.h TOOL_MAX_PER_AGENT)

// A list + editor page: rows from listPath, a form for new and for the clicked row.
function crudPage(root, { title, listPath, idKey, columns, fields, toBody, extraEditor, canWrite, testid, nameOf }) {
  const list = h("div", {});
  const editor = h("div", {});
  root.append(card(title, list, canWrite ? h("div", { class: "actions" }, h("button", { type: "button", testid: testid + "-new", on: { click: () => open(null) } }, "New")) : null), editor);
  async function refresh() {
    clear(list).appendChild(loading());
    const r = await guarded(list, () => getAll(listPath));
    if (!r) return [];
    list.appendChild(table(columns, r.items || [], { testid: testid + "-table", rowAttrs: (row) => ({ class: "clickable", "data-name": nameOf(row), on: { click: () => open(row) } }) }));
    return r.items || [];
  }
  function open(row, note) {
    clear(editor);
    const f = form(
      fields(row),
      async (v) => {
        const b = toBody(v, row);
        const r = row ? await patch(listPath + "/" + encodeURIComponent(row[idKey]), b) : await post(listPath, b);
        await refresh();
        setTimeout(() => open(r, (row ? "Saved " : "Created ") + nameOf(r) + "."), 0);
        return r;
      },
      { id: testid + "-form", submit: row ? "Save" : "Create", done: () => null },
    );
    const box = h("div", {});
    if (note) box.appendChild(okNote(note));
    const delBtn = row && canWrite
      ? h("button", {
          type: "button",
          class: "danger",
          testid: testid + "-delete",
          on: {
            click: async () => {
              if (!confirm("Delete " + nameOf(row) + "?")) return;
              const ok = await guarded(box, () => del(listPath + "/" + encodeURIComponent(row[idKey])).then(() => true));
              if (ok) {
                clear(editor);
                refresh();
              }
            },
          },
        }, "Delete")
      : null;
    editor.appendChild(card(row ? "Edit " + nameOf(row) : "New", canWrite ? f.el : h("p", { class: "muted" }, "Read only for your role."), h("div", { class: "actions" }, delBtn), box));
    if (row && extraEditor) extraEditor(editor, row);
  }
  return { refresh, open };
}

// ---- agents -------------------------------------------------------------------------------
export async function agentsPage(root, ctx) {
  const [models, formats, tools] = await Promise.all([getAll("/api/admin/llm-models"), getAll("/api/admin/output-formats"), getAll("/api/admin/tools")]);
  const modelOpts = [["", "the tenant's configured model"], ...models.items.map((m) => [m.model_id, m.provider + " · " + m.model_name])];
  const fmtOpts = [["", "plain text (default)"], ...formats.items.map((f) => [f.format_id, f.name + " (" + f.format_type + ")"])];
  const page = crudPage(root, {
    title: "Agents",
    listPath: "/api/admin/agents",
    idKey: "agent_id",
    testid: "agents",
    nameOf: (a) => a.name,
    canWrite: true,
    columns: [
      { title: "Name", key: "name" },
      { title: "Description", key: "description" },
      { title: "Owner", render: (a) => a.owner_tenant_id || "platform catalog" },
      { title: "Output format", render: (a) => (formats.items.find((f) => f.format_id === a.output_format_id) || {}).name || "text" },
      { title: "Status", render: (a) => h("span", { class: "badge " + (a.is_active ? "on" : "off") }, a.is_active ? "active" : "inactive") },
    ],
    fields: (a) => [
      { name: "name", label: "Name", required: true, pattern: NAME_ID, patternMsg: "Name: letters, digits, - and _ only (1..100); it is the agent's Kafka topic", value: a ? a.name : "", hint: "e.g. AgentInventory" },
      { name: "description", label: "Description (the router reads it to choose the agent)", maxlength: 4000, value: a ? a.description : "" },
      { name: "prompt_template", label: "Prompt template", type: "textarea", required: true, maxlength: 100000, rows: 8, value: a ? a.prompt_template : "", hint: "The agent's system prompt." },
      { name: "llm_model_id", label: "LLM model", type: "select", options: modelOpts, value: a ? a.llm_model_id || "" : "" },
      { name: "output_format_id", label: "Output format", type: "select", options: fmtOpts, value: a ? a.output_format_id || "" : "" },
      { name: "is_active", label: "Active", type: "checkbox", value: a ? a.is_active : true },
    ],
    toBody: (v, a) => (a ? v : compact(v)),
    extraEditor: (editor, a) => editor.appendChild(agentTools(a, tools.items)),
  });
  await page.refresh();
}

function agentTools(agent, allTools) {
  const body = h("div", {});
  const c = card("Tools of " + agent.name, body);
  let rows = [];
  const status = h("div", {});
  async function load() {
    const r = await guarded(status, () => get(p`/api/admin/agents/${agent.agent_id}/tools`));
    if (!r) return;
    rows = (r.tools || []).map((t) => ({ tool_id: t.tool_id, name: t.name, priority: t.priority }));
    render();
  }
  function render() {
    clear(body);
    const over = rows.length > MAX_TOOLS;
    body.append(
      h("p", { class: "rules" + (over ? " over" : ""), testid: "agent-tools-rule" },
        rows.length + " of at most " + MAX_TOOLS + " tools. The agent uses at most " + MAX_TOOLS + " tools, lowest priority number first, and only those the tenant is permitted."),
    );
    body.append(
      table(
        [
          { title: "Tool", key: "name" },
          {
            title: "Priority (lower first)",
            render: (t) => {
              const i = h("input", { type: "text", inputmode: "numeric", value: String(t.priority), size: 5, testid: "agent-tool-priority-" + t.name });
              i.addEventListener("input", () => (t.priority = i.value));
              return i;
            },
          },
          { title: "", render: (t) => h("button", { type: "button", class: "secondary small", on: { click: () => { rows = rows.filter((x) => x !== t); render(); } } }, "Remove") },
        ],
        rows,
        { testid: "agent-tools-table", empty: "No tools assigned." },
      ),
    );
    const avail = allTools.filter((t) => !rows.some((r) => r.tool_id === t.tool_id) && (!t.owner_tenant_id || t.owner_tenant_id === agent.owner_tenant_id));
    const sel = h("select", { testid: "agent-tool-add-select" }, h("option", { value: "" }, "— add a tool —"), avail.map((t) => h("option", { value: t.tool_id }, t.name + " (" + t.base_type + ")")));
    const add = h("button", {
      type: "button",
      class: "secondary",
      testid: "agent-tool-add",
      disabled: rows.length >= MAX_TOOLS,
      title: rows.length >= MAX_TOOLS ? "At most " + MAX_TOOLS + " tools" : "",
      on: {
        click: () => {
          const t = allTools.find((x) => x.tool_id === sel.value);
          if (!t) return;
          const next = rows.reduce((m, r) => Math.max(m, Number(r.priority) || 0), 0) + 1;
          rows.push({ tool_id: t.tool_id, name: t.name, priority: next });
          render();
        },
      },
    }, "Add");
    const save = h("button", {
      type: "button",
      testid: "agent-tools-save",
      on: {
        click: async () => {
          clear(status);
          const bad = rows.find((r) => !/^\d+$/.test(String(r.priority).trim()));
          if (bad) return status.appendChild(h("div", { class: "error", testid: "form-invalid" }, "Priority of " + bad.name + " must be a whole number ≥ 0; nothing was sent."));
          if (rows.length > MAX_TOOLS) return status.appendChild(h("div", { class: "error", testid: "form-invalid" }, "An agent uses at most " + MAX_TOOLS + " tools; remove some. Nothing was sent."));
          const r = await guarded(status, () => post(p`/api/admin/agents/${agent.agent_id}/tools`, { tools: rows.map((x) => ({ tool_id: x.tool_id, priority: Number(x.priority) })) }));
          if (r) {
            rows = (r.tools || []).map((t) => ({ tool_id: t.tool_id, name: t.name, priority: t.priority }));
            render();
            status.appendChild(okNote("Tools saved."));
          }
        },
      },
    }, "Save tools");
    body.append(h("div", { class: "actions" }, sel, add, save), status);
  }
  load();
  return c;
}

// ---- tools ------------------------------------------------------------------------------
const TYPES = [["HTTP_GET", "HTTP GET"], ["HTTP_POST", "HTTP POST"], ["RAG", "RAG (knowledge base search)"], ["OCR", "OCR (image to text)"]];
const isHttp = (v) => v.base_type === "HTTP_GET" || v.base_type === "HTTP_POST";
const PARAM_TYPES = ["string", "number", "integer", "boolean"];

// The input schema's parameters as rows {name, type, required, description, extra}; extra
// keeps what the editor does not show (enum, pattern, ...), so a save loses nothing.
function paramsOf(schema) {
  const props = (schema && schema.properties) || {};
  const req = (schema && schema.required) || [];
  return Object.entries(props).map(([name, s]) => {
    const { type, description, ...extra } = s || {};
    return { name, type: PARAM_TYPES.includes(type) ? type : "string", required: req.includes(name), description: description || "", extra };
  });
}
function schemaOf(params) {
  const s = { type: "object", properties: {}, required: [] };
  for (const q of params) {
    s.properties[q.name] = { ...q.extra, type: q.type };
    if (q.description) s.properties[q.name].description = q.description;
    if (q.required) s.required.push(q.name);
  }
  if (!s.required.length) delete s.required;
  return s;
}

function paramEditor(params) {
  const el = h("div", { class: "extra" });
  function render() {
    clear(el);
    el.append(
      h("h3", {}, "Input parameters (the tool's JSON Schema)"),
      h("p", { class: "hint" }, "What the model must supply when it calls the tool. Arguments are checked against these before any call."),
      table(
        [
          { title: "Name", render: (q) => { const i = h("input", { type: "text", value: q.name, testid: "param-name-" + params.indexOf(q) }); i.addEventListener("input", () => (q.name = i.value.trim())); return i; } },
          { title: "Type", render: (q) => { const s = h("select", { testid: "param-type-" + params.indexOf(q) }, PARAM_TYPES.map((t) => h("option", { value: t, selected: t === q.type }, t))); s.addEventListener("change", () => (q.type = s.value)); return s; } },
          { title: "Required", render: (q) => { const c = h("input", { type: "checkbox", checked: q.required, testid: "param-required-" + params.indexOf(q) }); c.addEventListener("change", () => (q.required = c.checked)); return c; } },
          { title: "Description", render: (q) => { const i = h("input", { type: "text", value: q.description, testid: "param-desc-" + params.indexOf(q) }); i.addEventListener("input", () => (q.description = i.value)); return i; } },
          { title: "", render: (q) => h("button", { type: "button", class: "secondary small", on: { click: () => { params.splice(params.indexOf(q), 1); render(); } } }, "Remove") },
        ],
        params,
        { testid: "params-table", empty: "No parameters." },
      ),
      h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", testid: "param-add", on: { click: () => { params.push({ name: "", type: "string", required: true, description: "", extra: {} }); render(); } } }, "Add parameter")),
      h("details", {}, h("summary", { class: "hint" }, "The JSON Schema this makes"), h("pre", { testid: "schema-preview" }, JSON.stringify(schemaOf(params), null, 2))),
    );
  }
  render();
  return el;
}

function checkParams(params) {
  const seen = new Set();
  for (const q of params) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(q.name)) return "Parameter name \"" + q.name + "\": letters, digits and _ only, not starting with a digit";
    if (seen.has(q.name)) return "Parameter \"" + q.name + "\" appears twice";
    seen.add(q.name);
  }
  return null;
}

// Header rows {name, value, secret(bool: stored and masked)}.
function headerEditor(headers) {
  const el = h("div", { class: "extra" });
  function render() {
    clear(el);
    el.append(
      h("h3", {}, "Headers"),
      h("p", { class: "hint" }, "Header values are secrets: stored encrypted, never shown again. Leave a stored value as it is to keep it, or type a new one to replace it."),
      table(
        [
          { title: "Header", render: (x) => { const i = h("input", { type: "text", value: x.name, testid: "header-name-" + headers.indexOf(x) }); i.addEventListener("input", () => (x.name = i.value.trim())); return i; } },
          { title: "Value", render: (x) => { const i = h("input", { type: "password", autocomplete: "new-password", value: "", placeholder: x.secret ? "stored — leave empty to keep" : "value", testid: "header-value-" + headers.indexOf(x) }); i.addEventListener("input", () => (x.value = i.value)); return i; } },
          { title: "", render: (x) => h("button", { type: "button", class: "secondary small", on: { click: () => { headers.splice(headers.indexOf(x), 1); render(); } } }, "Remove") },
        ],
        headers,
        { empty: "No headers." },
      ),
      h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", testid: "header-add", on: { click: () => { headers.push({ name: "", value: "", secret: false }); render(); } } }, "Add header")),
    );
  }
  render();
  return el;
}

export async function toolsPage(root, ctx) {
  const list = h("div", {});
  const editor = h("div", {});
  root.append(card("Tools", list, h("div", { class: "actions" }, h("button", { type: "button", testid: "tools-new", on: { click: () => open(null) } }, "New tool"))), editor);
  let items = [];
  async function refresh() {
    clear(list).appendChild(loading());
    const r = await guarded(list, () => getAll("/api/admin/tools"));
    if (!r) return;
    items = r.items || [];
    list.appendChild(
      table(
        [
          { title: "Name", key: "name" },
          { title: "Type", key: "base_type" },
          { title: "Endpoint / settings", render: (t) => (t.config && t.config.endpoint) || (t.base_type === "RAG" ? "top " + ((t.config && t.config.top_k) || 4) + " chunks" : "—") },
          { title: "Headers", render: (t) => Object.keys((t.config && t.config.headers) || {}).map((k) => k + ": ********").join(", ") || "—" },
          { title: "Status", render: (t) => h("span", { class: "badge " + (t.is_active ? "on" : "off") }, t.is_active ? "active" : "inactive") },
        ],
        items,
        { testid: "tools-table", rowAttrs: (t) => ({ class: "clickable", "data-name": t.name, on: { click: () => open(t) } }) },
      ),
    );
  }
  function open(t, note) {
    clear(editor);
    const cfg = (t && t.config) || {};
    const params = paramsOf(t ? t.input_schema : { type: "object", properties: {} });
    const headers = Object.keys(cfg.headers || {}).map((k) => ({ name: k, value: "", secret: true }));
    const pEd = paramEditor(params);
    const hEd = headerEditor(headers);
    const fields = [
      { name: "name", label: "Name", required: true, pattern: /^[A-Za-z0-9_-]{1,64}$/, patternMsg: "Name: letters, digits, - and _ only (1..64); the model calls the tool by it", value: t ? t.name : "" },
      { name: "base_type", label: "Type", type: "select", required: true, options: TYPES, value: t ? t.base_type : "HTTP_GET" },
      { name: "description", label: "Description (the model reads it)", maxlength: 4000, value: t ? t.description : "" },
      { name: "endpoint", label: "Endpoint URL template", type: "url", required: true, maxlength: 2048, value: cfg.endpoint || "", show: isHttp, hint: "Parameters in braces, e.g. https://erp.example/api/debt/{mst}" },
      { name: "body_template", label: "Body template (JSON with {placeholders})", type: "textarea", rows: 4, value: typeof cfg.body_template === "object" ? JSON.stringify(cfg.body_template) : cfg.body_template || "", show: (v) => v.base_type === "HTTP_POST", hint: "Empty: the arguments are sent as a JSON object" },
      { name: "timeout_ms", label: "Timeout (ms)", type: "int", min: 1, max: 120000, value: cfg.timeout_ms ?? "", show: isHttp },
      { name: "max_response_bytes", label: "Largest response (bytes)", type: "int", min: 1, value: cfg.max_response_bytes ?? "", show: isHttp },
      { name: "inject_jwt", label: "Send a per-call tool token to the backend", type: "checkbox", value: cfg.inject_jwt, show: isHttp },
      { name: "jwt_audience", label: "Token audience", maxlength: 256, value: cfg.jwt_audience || "", show: (v) => isHttp(v) && v.inject_jwt },
      { name: "allowed_hosts", label: "Private hosts it may reach (host:port, comma-separated)", value: cfg.allowed_hosts || "", show: (v) => isHttp(v) && ctx.isOperator(), hint: "The SSRF guard refuses private addresses except these (operator only).", validate: (s) => (s && s.split(",").some((e) => !/^[A-Za-z0-9.*_[\]:-]+:\d{1,5}$/.test(e.trim())) ? "Each entry is host:port" : null) },
      { name: "top_k", label: "Chunks returned (top_k)", type: "int", min: 1, max: 100, value: cfg.top_k ?? 4, show: (v) => v.base_type === "RAG" },
      { name: "similarity_threshold", label: "Similarity threshold (0..1)", type: "number", min: 0, max: 1, value: cfg.similarity_threshold ?? "", show: (v) => v.base_type === "RAG" },
      { name: "collection", label: "Collection suffix (optional)", pattern: /^[A-Za-z0-9]([A-Za-z0-9_-]{0,62}[A-Za-z0-9])?$/, patternMsg: "Collection: letters, digits, - and _ (1..64)", value: cfg.collection || "", show: (v) => v.base_type === "RAG" },
      { name: "supported_formats", label: "Supported formats (comma-separated)", value: (cfg.supported_formats || []).join(", "), show: (v) => v.base_type === "OCR", hint: "e.g. png, jpeg, tiff" },
      { name: "language", label: "OCR language", value: cfg.language || "", show: (v) => v.base_type === "OCR", hint: "e.g. eng or eng+vie" },
      { name: "is_active", label: "Active", type: "checkbox", value: t ? t.is_active : true },
    ];
    const f = form(
      fields,
      async (v) => {
        const c = {};
        if (isHttp(v)) {
          c.endpoint = v.endpoint;
          if (v.body_template) c.body_template = v.body_template;
          if (v.timeout_ms !== null) c.timeout_ms = v.timeout_ms;
          if (v.max_response_bytes !== null) c.max_response_bytes = v.max_response_bytes;
          if (v.inject_jwt) c.inject_jwt = true;
          if (v.inject_jwt && v.jwt_audience) c.jwt_audience = v.jwt_audience;
          if (v.allowed_hosts) c.allowed_hosts = v.allowed_hosts.split(",").map((s) => s.trim()).join(",");
          else if (cfg.allowed_hosts && !ctx.isOperator()) c.allowed_hosts = cfg.allowed_hosts;
          if (headers.length) {
            c.headers = {};
            for (const x of headers) c.headers[x.name] = x.value ? x.value : cfg.headers[x.name];
          }
        } else if (v.base_type === "RAG") {
          if (v.top_k !== null) c.top_k = v.top_k;
          if (v.similarity_threshold !== null) c.similarity_threshold = v.similarity_threshold;
          if (v.collection) c.collection = v.collection;
        } else {
          if (v.supported_formats) c.supported_formats = v.supported_formats.split(",").map((s) => s.trim()).filter(Boolean);
          if (v.language) c.language = v.language;
        }
        const b = { name: v.name, base_type: v.base_type, description: v.description || "", config: c, input_schema: schemaOf(params), is_active: v.is_active };
        const r = t ? await patch(p`/api/admin/tools/${t.tool_id}`, b) : await post("/api/admin/tools", b);
        await refresh();
        setTimeout(() => open(r, (t ? "Saved " : "Created ") + r.name + "."), 0);
        return r;
      },
      {
        id: "tool-form",
        submit: t ? "Save tool" : "Create tool",
        extra: h("div", { class: "extra" }, hEd, pEd),
        validate: (v) => {
          const bad = checkParams(params);
          if (bad) return bad;
          if (isHttp(v)) {
            for (const x of headers) {
              if (!/^[A-Za-z0-9-]{1,64}$/.test(x.name)) return "Header name \"" + x.name + "\": letters, digits and - only";
              if (!x.value && !x.secret) return "Header " + x.name + " needs a value";
            }
            const names = [...v.endpoint.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]);
            const missing = names.find((n) => !params.some((q) => q.name === n));
            if (missing) return "The endpoint uses {" + missing + "}: add a parameter of that name";
            if (v.body_template && v.body_template.trim().startsWith("{")) {
              try { JSON.parse(v.body_template.replace(/"?\{[A-Za-z0-9_]+\}"?/g, "0")); } catch { return "The body template is not JSON (placeholders aside)"; }
            }
          }
          return null;
        },
        done: () => null,
      },
    );
    // the type select shows its own fields; the header editor only for HTTP
    const showH = () => (hEd.hidden = !isHttp(f.values()));
    f.inputs.base_type.addEventListener("change", showH);
    showH();
    const box = h("div", {});
    if (note) box.appendChild(okNote(note));
    editor.appendChild(
      card(t ? "Tool " + t.name : "New tool", f.el, t ? h("div", { class: "actions" }, h("button", {
        type: "button", class: "danger", testid: "tool-delete",
        on: { click: async () => { if (!confirm("Delete tool " + t.name + "?")) return; if (await guarded(box, () => del(p`/api/admin/tools/${t.tool_id}`).then(() => true))) { clear(editor); refresh(); } } },
      }, "Delete tool")) : null, box),
    );
    if (t) editor.appendChild(toolTest(t, ctx));
  }
  await refresh();
}

// "Test this tool": one call with given arguments, through the agents' own tool code.
function toolTest(t, ctx) {
  const params = paramsOf(t.input_schema);
  const out = h("div", { testid: "tool-test-output" });
  const tenantSel = h("select", { testid: "tool-test-tenant" }, ctx.tenants.map((x) => h("option", { value: x.tenant_id }, x.tenant_id)));
  tenantSel.value = ctx.currentTenant();
  const fields = params.map((q) => ({
    name: q.name,
    label: q.name + " (" + q.type + ")" + (q.description ? " — " + q.description : ""),
    type: q.type === "integer" ? "int" : q.type === "number" ? "number" : q.type === "boolean" ? "checkbox" : "text",
    required: q.required && q.type !== "boolean",
    pattern: q.extra && q.extra.pattern ? new RegExp(q.extra.pattern) : undefined,
    patternMsg: q.name + " must match " + (q.extra && q.extra.pattern),
  }));
  const f = form(
    fields,
    async (v) => {
      const args = {};
      for (const q of params) if (v[q.name] !== null && v[q.name] !== "") args[q.name] = v[q.name];
      clear(out).appendChild(loading());
      const r = await post(p`/api/admin/tools/${t.tool_id}/test`, { tenant_id: tenantSel.value, arguments: args });
      clear(out);
      out.append(
        r.ok
          ? h("div", { class: "ok", testid: "tool-test-ok" }, "The call succeeded in " + r.elapsed_ms + " ms.")
          : h("div", { class: "error", testid: "tool-test-error" }, r.error),
        r.ok ? h("pre", { testid: "tool-test-result" }, JSON.stringify(r.result, null, 2)) : null,
      );
      return r;
    },
    { id: "tool-test", submit: "Run the tool", done: () => null, extra: h("div", { class: "field" }, h("label", {}, "As tenant"), tenantSel) },
  );
  f.el.addEventListener("submit", () => clear(out)); // an earlier answer never stands for this one
  return card("Test this tool", h("p", { class: "hint" }, "Runs one call with these arguments, as an agent of the chosen tenant would (schema checks, SSRF guard, secrets, timeouts)."), f.el, out);
}

// ---- output formats and LLM models ---------------------------------------------------------
export async function formatsPage(root, ctx) {
  const w = ctx.isOperator();
  const pg = crudPage(root, {
    title: "Output formats",
    listPath: "/api/admin/output-formats",
    idKey: "format_id",
    testid: "formats",
    nameOf: (f) => f.name,
    canWrite: w,
    columns: [
      { title: "Name", key: "name" },
      { title: "Type", key: "format_type" },
      { title: "Description", key: "description" },
      { title: "Updated", render: (f) => when(f.updated_at) },
    ],
    fields: (f) => [
      { name: "name", label: "Name", required: true, maxlength: 100, value: f ? f.name : "" },
      { name: "format_type", label: "Type", type: "select", required: true, options: [["text", "text"], ["markdown", "markdown"], ["json", "json"], ["table", "table"]], value: f ? f.format_type : "markdown" },
      { name: "description", label: "Description", maxlength: 4000, value: f ? f.description || "" : "" },
      { name: "template", label: "Template", type: "textarea", maxlength: 100000, value: f ? f.template || "" : "" },
    ],
    toBody: (v) => ({ ...v, description: v.description || null, template: v.template || null }),
  });
  await pg.refresh();
}

export async function modelsPage(root, ctx) {
  const w = ctx.isOperator();
  const pg = crudPage(root, {
    title: "LLM models",
    listPath: "/api/admin/llm-models",
    idKey: "model_id",
    testid: "models",
    nameOf: (m) => m.provider + " · " + m.model_name,
    canWrite: w,
    columns: [
      { title: "Provider", key: "provider" },
      { title: "Model", key: "model_name" },
      { title: "Base URL", key: "base_url" },
      { title: "Context", key: "context_window" },
      { title: "$ in / out per M tokens", render: (m) => show(m.input_cost_per_mtok) + " / " + show(m.output_cost_per_mtok) },
      { title: "Status", render: (m) => h("span", { class: "badge " + (m.is_active ? "on" : "off") }, m.is_active ? "active" : "inactive") },
    ],
    fields: (m) => [
      { name: "provider", label: "Provider", type: "select", required: true, options: ["openai", "anthropic", "gemini", "openrouter", "openai_compatible"].map((x) => [x, x]), value: m ? m.provider : "openai" },
      { name: "model_name", label: "Model name", required: true, maxlength: 200, value: m ? m.model_name : "" },
      { name: "base_url", label: "Base URL", type: "url", maxlength: 2048, value: m ? m.base_url || "" : "", hint: "Required for openai_compatible (vLLM, Ollama, llama.cpp server)" },
      { name: "context_window", label: "Context window (tokens)", type: "int", min: 1, value: m ? m.context_window ?? "" : "" },
      { name: "max_output_tokens", label: "Max output tokens", type: "int", min: 1, value: m ? m.max_output_tokens ?? "" : "" },
      { name: "input_cost_per_mtok", label: "Input $ per M tokens", type: "number", min: 0, value: m ? m.input_cost_per_mtok ?? "" : "" },
      { name: "output_cost_per_mtok", label: "Output $ per M tokens", type: "number", min: 0, value: m ? m.output_cost_per_mtok ?? "" : "" },
      { name: "is_active", label: "Active", type: "checkbox", value: m ? m.is_active : true },
    ],
    toBody: (v, m) => (m ? v : compact(v)),
  });
  await pg.refresh();
}
export { errorNote };
