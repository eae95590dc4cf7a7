// pages_tenants.js — tenants, the permissions matrix, a tenant's LLM config and its API keys.
import { get, post, patch, put, del, p, getToken, getAll } from "./api.js";
import { h, clear, table, card, errorNote, okNote, guarded, when, show, loading } from "./dom.js";
import { form, compact, TENANT_ID } from "./forms.js";

// ---- tenants ----------------------------------------------------------------------------
export async function tenantsPage(root, ctx) {
  const list = h("div", {});
  const editor = h("div", {});
  root.append(card("Tenants", list), editor);
  if (ctx.isOperator()) {
    const f = form(
      [
        { name: "tenant_id", label: "Tenant id", required: true, pattern: TENANT_ID, patternMsg: "Tenant id: letters, digits, - and _ only (1..64)", hint: "Fixed once created: appears in URLs and tokens" },
        { name: "name", label: "Display name", required: true, maxlength: 200 },
        { name: "is_active", label: "Active", type: "checkbox", value: true },
      ],
      (v) => post("/api/admin/tenants", v),
      { id: "tenant-create", submit: "Create tenant", done: (t) => (refresh(), "Tenant " + t.tenant_id + " created.") },
    );
    root.append(card("New tenant", f.el));
  }
  async function refresh() {
    clear(list).appendChild(loading());
    const items = await guarded(list, () => ctx.loadTenants());
    if (!items) return;
    list.appendChild(
      table(
        [
          { title: "Tenant id", key: "tenant_id" },
          { title: "Name", key: "name" },
          { title: "Status", render: (t) => h("span", { class: "badge " + (t.is_active ? "on" : "off") }, t.is_active ? "active" : "disabled") },
          { title: "Created", render: (t) => when(t.created_at) },
        ],
        items,
        { testid: "tenants-table", rowAttrs: (t) => ({ class: "clickable", "data-tenant": t.tenant_id, on: { click: () => edit(t) } }) },
      ),
    );
  }
  function edit(t, note) {
    clear(editor);
    const f = form(
      [{ name: "name", label: "Display name", required: true, maxlength: 200, value: t.name }],
      (v) => patch(p`/api/admin/tenants/${t.tenant_id}`, v),
      { id: "tenant-edit", submit: "Save name", done: () => (refresh(), "Saved.") },
    );
    const box = h("div", {});
    const actions = h("div", { class: "actions" });
    if (ctx.isOperator()) {
      actions.append(
        h("button", {
          type: "button",
          class: t.is_active ? "danger" : "",
          testid: "tenant-toggle-active",
          on: {
            click: async () => {
              const r = await guarded(box, () => patch(p`/api/admin/tenants/${t.tenant_id}`, { is_active: !t.is_active }));
              if (r) {
                refresh();
                edit(r, r.is_active ? "Tenant enabled." : "Tenant disabled: its users' requests are refused.");
              }
            },
          },
        }, t.is_active ? "Disable tenant" : "Enable tenant"),
        h("button", {
          type: "button",
          class: "danger",
          testid: "tenant-delete",
          on: {
            click: async () => {
              if (!confirm("Delete tenant " + t.tenant_id + " and all its data?")) return;
              const r = await guarded(box, () => del(p`/api/admin/tenants/${t.tenant_id}`).then(() => true));
              if (r) {
                clear(editor);
                refresh();
              }
            },
          },
        }, "Delete tenant"),
      );
    }
    const tryBtn = h("button", { type: "button", class: "secondary", testid: "tenant-try-chat", disabled: !t.is_active,
      on: { click: () => guarded(box, () => tryInChat(ctx, t.tenant_id)) } }, "Try in chat");
    actions.append(tryBtn);
    const links = h("div", { class: "actions" }, "Manage: ",
      [["permissions", "Permissions"], ["llm", "LLM config"], ["keys", "API keys"], ["knowledge", "Knowledge base"], ["conversations", "Conversations"]].map(([pg, label]) =>
        h("a", { href: "#" + pg, on: { click: () => sessionStorage.setItem("agenthub.admin.tenant", t.tenant_id) } }, label)),
    );
    if (note) box.appendChild(okNote(note));
    editor.appendChild(card("Tenant " + t.tenant_id, h("p", { class: "muted" }, "Status: " + (t.is_active ? "active" : "disabled") + " · created " + when(t.created_at)), f.el, actions, box, links));
  }
  await refresh();
}

// "Try in chat": the chat page at / (web/src/chat) takes its credential from sessionStorage
// "agenthub.chat.credential" = {tenant, token}. A tenant admin's own token is a tenant token;
// the operator has none, so a user API key of the tenant is made for it (1 hour; listed with
// the tenant's keys and audited like any other).
export async function tryInChat(ctx, tenant) {
  let token = getToken();
  if (ctx.isOperator()) {
    const k = await post(p`/api/admin/tenants/${tenant}/api-keys`, { name: "admin panel: try in chat", roles: ["user"], expires_in_s: 3600 });
    token = k.key;
  }
  sessionStorage.setItem("agenthub.chat.credential", JSON.stringify({ tenant, token }));
  location.href = "/";
}

// ---- permissions matrix -----------------------------------------------------------------
// With many tenants, agents and tools the whole matrix is neither readable nor cheap (one
// request per tenant): two filters narrow the rows and the columns, at most PERM_ROWS tenants
// and PERM_COLS agents and tools are shown at once, and a tenant's permissions are read when
// its row is first shown.
const PERM_ROWS = 25;
const PERM_COLS = 40;

export async function permissionsPage(root, ctx) {
  const box = h("div", {});
  const status = h("div", { testid: "perm-status" });
  const rowFilter = h("input", { type: "search", placeholder: "tenant id or name", testid: "perm-filter-tenants", "aria-label": "Filter tenants" });
  const colFilter = h("input", { type: "search", placeholder: "agent or tool name", testid: "perm-filter-columns", "aria-label": "Filter agents and tools" });
  const count = h("p", { class: "muted", testid: "perm-count" });
  root.append(
    h("p", { class: "muted" }, "Each box lets a tenant use an agent or a tool; a change is saved at once. Agents and tools owned by one tenant can only be given to that tenant (—)."),
    h("div", { class: "filters" }, h("label", {}, "Tenants ", rowFilter), " ", h("label", {}, "Agents and tools ", colFilter)),
    count,
    box,
    status,
  );
  const [agents, tools] = await Promise.all([getAll("/api/admin/agents"), getAll("/api/admin/tools")]);
  const tenants = await ctx.loadTenants();
  const perms = {}; // tenant id -> {"a:<id>" | "t:<id>": enabled}, read when first shown
  async function permsOf(t) {
    if (!perms[t.tenant_id]) {
      const r = await get(p`/api/admin/tenants/${t.tenant_id}/permissions`);
      const m = {};
      for (const a of r.agents || []) m["a:" + a.agent_id] = a.enabled;
      for (const x of r.tools || []) m["t:" + x.tool_id] = x.enabled;
      perms[t.tenant_id] = m;
    }
    return perms[t.tenant_id];
  }
  function cell(t, kind, obj) {
    const key = (kind === "agent" ? "a:" : "t:") + obj[kind + "_id"];
    if (obj.owner_tenant_id && obj.owner_tenant_id !== t.tenant_id) return h("td", { class: "muted", title: "owned by " + obj.owner_tenant_id }, "—");
    const cb = h("input", {
      type: "checkbox",
      checked: !!perms[t.tenant_id][key],
      testid: "perm-" + t.tenant_id + "-" + obj.name,
      title: (perms[t.tenant_id][key] ? "Revoke " : "Grant ") + obj.name + " for " + t.tenant_id,
    });
    cb.addEventListener("change", async () => {
      const want = cb.checked;
      cb.disabled = true;
      const r = await guarded(status, () => post(p`/api/admin/tenants/${t.tenant_id}/permissions`, { [kind + "_id"]: obj[kind + "_id"], enabled: want }));
      cb.disabled = false;
      if (r) {
        perms[t.tenant_id][key] = want;
        status.appendChild(okNote((want ? "Granted " : "Revoked ") + obj.name + (want ? " to " : " from ") + t.tenant_id + "."));
      } else cb.checked = !want;
    });
    return h("td", {}, cb);
  }
  const matches = (q, ...texts) => !q || texts.some((x) => (x || "").toLowerCase().includes(q));
  let drawn = 0; // the latest draw wins when filters change faster than permissions load
  async function draw() {
    const mine = ++drawn;
    const rq = rowFilter.value.trim().toLowerCase(), cq = colFilter.value.trim().toLowerCase();
    const rows = tenants.filter((t) => matches(rq, t.tenant_id, t.name));
    const shown = rows.slice(0, PERM_ROWS);
    const allAgs = agents.items.filter((a) => matches(cq, a.name));
    const allTls = tools.items.filter((x) => matches(cq, x.name));
    const ags = allAgs.slice(0, PERM_COLS);
    const tls = allTls.slice(0, PERM_COLS - ags.length);
    let failed = null;
    await Promise.all(shown.map((t) => permsOf(t).catch((e) => (failed = e))));
    if (mine !== drawn) return;
    clear(status);
    if (failed) status.appendChild(errorNote(failed));
    const ok = shown.filter((t) => perms[t.tenant_id]);
    count.textContent =
      (rows.length > shown.length ? "Showing " + shown.length + " of " + rows.length + " matching tenants: narrow the filter to see the others." : rows.length + " of " + tenants.length + " tenants.") +
      " " + ags.length + " of " + agents.items.length + " agents, " + tls.length + " of " + tools.items.length + " tools" +
      (ags.length + tls.length < allAgs.length + allTls.length ? " (" + (allAgs.length + allTls.length) + " match: narrow the filter to see the others)." : ".");
    const cols = [...ags.map((a) => ["agent", a]), ...tls.map((x) => ["tool", x])];
    clear(box).appendChild(
      card(
        "Tenants × agents and tools",
        h("div", { class: "scroll" },
          h("table", { class: "matrix", testid: "perm-matrix" },
            h("thead", {},
              h("tr", {}, h("th", { class: "rowhead" }, ""), h("th", { colspan: ags.length || 1 }, "Agents"), h("th", { colspan: tls.length || 1 }, "Tools")),
              h("tr", {}, h("th", { class: "rowhead" }, "Tenant"), cols.map(([, o]) => h("th", { title: o.description || "" }, o.name))),
            ),
            h("tbody", {}, ok.map((t) => h("tr", { testid: "perm-row-" + t.tenant_id }, h("td", { class: "rowhead" }, t.tenant_id), cols.map(([k, o]) => cell(t, k, o))))),
          ),
        ),
      ),
    );
  }
  let timer = null;
  for (const f of [rowFilter, colFilter])
    f.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(draw, 150);
    });
  await draw();
}

// ---- a tenant's LLM config ------------------------------------------------------------------
export async function llmConfigPage(root, ctx) {
  const body = h("div", {});
  const models = (await getAll("/api/admin/llm-models")).items || [];
  const picker = ctx.tenantPicker((t) => show_(t));
  root.append(picker, body);
  const label = (m) => m.provider + " · " + m.model_name + (m.base_url ? " (" + m.base_url + ")" : "") + (m.is_active === false ? " [inactive]" : "");
  async function show_(tenant) {
    clear(body).appendChild(loading());
    let cfg = null;
    const err = h("div", {});
    try {
      cfg = await get(p`/api/admin/tenants/${tenant}/llm-config`);
    } catch (e) {
      if (e.status !== 404) err.appendChild(errorNote(e));
    }
    if (picker.current() !== tenant) return;
    clear(body);
    const state = cfg
      ? h("p", { testid: "llm-state" }, "Provider ", h("strong", {}, cfg.provider), ", model ", h("strong", {}, cfg.model_name), " · API key: ", h("strong", { testid: "llm-key-state" }, cfg.has_api_key ? "stored (never shown)" : "none"), " · updated " + when(cfg.updated_at))
      : h("p", { class: "muted", testid: "llm-state" }, "This tenant has no LLM configuration yet.");
    const opts = models.map((m) => [m.model_id, label(m)]);
    const providers = [...new Set(models.map((m) => m.provider))].sort();
    const f = form(
      [
        { name: "provider", label: "Provider", type: "select", options: [["", "any provider"], ...providers.map((x) => [x, x])], value: cfg ? cfg.provider : "", hint: "Narrows the model lists; the model decides the provider." },
        { name: "model_id", label: "Model (provider · model)", type: "select", required: true, options: [["", "— choose —"], ...opts], value: cfg ? cfg.model_id : "" },
        { name: "fallback_model_id", label: "Fallback model", type: "select", options: [["", "none"], ...opts], value: cfg ? cfg.fallback_model_id || "" : "", validate: (v, all) => (v && v === all.model_id ? "The fallback must differ from the model" : null) },
        { name: "rate_limit_rpm", label: "Rate limit (LLM calls per minute)", type: "int", min: 1, max: 1000000, value: cfg ? cfg.rate_limit_rpm : 60 },
        { name: "temperature", label: "Temperature", type: "number", min: 0, max: 2, value: cfg ? cfg.temperature : "" },
        { name: "max_tokens", label: "Max output tokens", type: "int", min: 1, max: 1000000, value: cfg ? cfg.max_tokens : "" },
        { name: "api_key", label: "Provider API key", type: "password", maxlength: 4096, placeholder: cfg && cfg.has_api_key ? "stored — leave empty to keep it" : "the provider's key", hint: "Write-only: stored encrypted, never shown again." },
        { name: "remove_key", label: "Remove the stored key", type: "checkbox", show: () => !!(cfg && cfg.has_api_key) },
      ],
      async (v) => {
        const b = { model_id: v.model_id, fallback_model_id: v.fallback_model_id, rate_limit_rpm: v.rate_limit_rpm ?? 60 };
        if (v.temperature !== null) b.temperature = v.temperature;
        if (v.max_tokens !== null) b.max_tokens = v.max_tokens;
        if (v.api_key) b.api_key = v.api_key;
        else if (v.remove_key) b.api_key = null;
        const r = await put(p`/api/admin/tenants/${tenant}/llm-config`, b);
        f.inputs.api_key.value = "";
        return r;
      },
      { id: "llm-form", submit: "Save LLM config", validate: (v) => (v.api_key && v.remove_key ? "Either give a new key or remove the stored one, not both" : null), done: (r) => (setTimeout(() => show_(tenant), 800), "Saved: " + r.provider + " · " + r.model_name + (r.has_api_key ? " with a stored key" : " without a key") + ".") },
    );
    // the provider choice narrows both model lists to that provider's models
    const narrow = () => {
      const prov = f.inputs.provider.value;
      for (const sel of [f.inputs.model_id, f.inputs.fallback_model_id])
        for (const o of sel.options) {
          const m = models.find((x) => x.model_id === o.value);
          o.hidden = !!(m && prov && m.provider !== prov);
        }
    };
    f.inputs.provider.addEventListener("change", narrow);
    narrow();
    body.append(card("LLM configuration of " + tenant, err, state, f.el));
    body.dataset.tenant = tenant;
  }
}

// ---- tenant API keys ----------------------------------------------------------------------
export async function apiKeysPage(root, ctx) {
  const body = h("div", {});
  root.append(ctx.tenantPicker((t) => show_(t)), body);
  async function show_(tenant) {
    clear(body);
    const list = h("div", {});
    const once = h("div", {});
    const f = form(
      [
        { name: "name", label: "Name", required: true, maxlength: 100, hint: "What the key is for, e.g. the application using it" },
        { name: "admin", label: "Admin role (manages this tenant too)", type: "checkbox" },
        { name: "expires_days", label: "Expires after (days)", type: "int", min: 1, max: 3650, hint: "Empty: never" },
      ],
      async (v) => {
        const b = { name: v.name, roles: v.admin ? ["user", "admin"] : ["user"] };
        if (v.expires_days) b.expires_in_s = v.expires_days * 86400;
        const k = await post(p`/api/admin/tenants/${tenant}/api-keys`, b);
        clear(once).appendChild(
          card("New key " + k.prefix,
            h("p", {}, h("strong", {}, "Copy it now: it is shown this once and cannot be read again.")),
            h("div", { class: "secret-once", testid: "apikey-once" }, k.key),
            h("div", { class: "actions" },
              h("button", { type: "button", class: "secondary", on: { click: () => navigator.clipboard && navigator.clipboard.writeText(k.key) } }, "Copy"),
              h("button", { type: "button", class: "secondary", testid: "apikey-once-dismiss", on: { click: () => clear(once) } }, "I have copied it")),
          ),
        );
        refresh();
        return k;
      },
      { id: "apikey-form", submit: "Create key", done: (k) => "Key " + k.prefix + " created." },
    );
    body.append(once, card("API keys of " + tenant, list), card("New API key", f.el));
    async function refresh() {
      clear(list).appendChild(loading());
      const r = await guarded(list, () => get(p`/api/admin/tenants/${tenant}/api-keys`));
      if (!r) return;
      list.appendChild(
        table(
          [
            { title: "Key", render: (k) => h("code", {}, k.prefix + "_…") },
            { title: "Name", key: "name" },
            { title: "Roles", render: (k) => (k.roles || []).join(", ") },
            { title: "Created", render: (k) => when(k.created_at) + (k.created_by ? " by " + k.created_by : "") },
            { title: "Expires", render: (k) => when(k.expires_at) },
            { title: "Last used", render: (k) => when(k.last_used_at) },
            {
              title: "Status",
              render: (k) =>
                k.revoked_at
                  ? h("span", { class: "badge off", testid: "apikey-revoked-" + k.key_id }, "revoked " + when(k.revoked_at))
                  : h("button", {
                      type: "button",
                      class: "danger small",
                      testid: "apikey-revoke-" + k.key_id,
                      on: {
                        click: async () => {
                          if (!confirm("Revoke key " + k.prefix + "? Clients using it are refused within seconds.")) return;
                          const ok = await guarded(list, () => del(p`/api/admin/tenants/${tenant}/api-keys/${k.key_id}`).then(() => true));
                          if (ok) refresh();
                        },
                      },
                    }, "Revoke"),
            },
          ],
          r.items || [],
          { testid: "apikeys-table", empty: "No API keys yet." },
        ),
      );
    }
    refresh();
  }
}
export { show, compact };
