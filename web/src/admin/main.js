// web/src/admin/main.js — the admin panel (/admin): a console on the admin API, with forms
// and tables. Sign-in keeps the admin's token in sessionStorage (this tab only) and asks the
// ingress which role it has (GET /api/admin/whoami). Bundled into admin.js by web/build.mjs.
import { api, get, getToken, setToken, getAll } from "./api.js";
import { h, clear, errorNote } from "./dom.js";
import { tenantsPage, permissionsPage, llmConfigPage, apiKeysPage } from "./pages_tenants.js";
import { agentsPage, toolsPage, formatsPage, modelsPage } from "./pages_catalog.js";
import { knowledgePage, documentsPage, conversationsPage, systemPage } from "./pages_data.js";

const PAGES = [
  ["tenants", "Tenants", tenantsPage],
  ["permissions", "Permissions", permissionsPage],
  ["llm", "LLM config", llmConfigPage],
  ["keys", "API keys", apiKeysPage],
  ["agents", "Agents", agentsPage],
  ["tools", "Tools", toolsPage],
  ["formats", "Output formats", formatsPage],
  ["models", "LLM models", modelsPage],
  ["knowledge", "Knowledge base", knowledgePage],
  ["documents", "Documents (OCR)", documentsPage],
  ["conversations", "Conversations", conversationsPage],
  ["system", "Caches & audit", systemPage],
];

const $ = (id) => document.getElementById(id);

// What every page gets: who is signed in, the tenants it may manage, and a tenant picker.
const ctx = {
  who: null,
  tenants: [],
  isOperator() {
    return this.who && this.who.kind === "operator";
  },
  async loadTenants() {
    const r = await getAll("/api/admin/tenants");
    this.tenants = r.items || [];
    return this.tenants;
  },
  currentTenant() {
    const saved = sessionStorage.getItem("agenthub.admin.tenant");
    if (this.who && this.who.tenant_id) return this.who.tenant_id;
    if (saved && this.tenants.some((t) => t.tenant_id === saved)) return saved;
    return this.tenants.length ? this.tenants[0].tenant_id : "";
  },
  // A <select> of tenants; onChange(tenant) runs at once and on every change.
  tenantPicker(onChange) {
    const sel = h(
      "select",
      { testid: "tenant-picker", id: "tenant-picker" },
      this.tenants.map((t) => h("option", { value: t.tenant_id }, t.tenant_id + (t.name ? " — " + t.name : "") + (t.is_active === false ? " (disabled)" : ""))),
    );
    sel.value = this.currentTenant();
    sel.addEventListener("change", () => {
      sessionStorage.setItem("agenthub.admin.tenant", sel.value);
      onChange(sel.value);
    });
    const el = h("div", { class: "picker" }, h("label", { for: "tenant-picker" }, "Tenant "), sel);
    // pages check it after each await: an answer for a tenant no longer picked is dropped
    el.current = () => sel.value;
    queueMicrotask(() => onChange(sel.value));
    return el;
  },
  go(page) {
    location.hash = "#" + page;
  },
};

function showLogin(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  $("whoami").textContent = "";
  $("logout").hidden = true;
  clear($("login-error"));
  if (message) $("login-error").appendChild(message);
  $("login-token").focus();
}

async function signIn(token) {
  setToken(token);
  try {
    ctx.who = await get("/api/admin/whoami");
  } catch (e) {
    setToken("");
    showLogin(e.status === 403 ? errorNote({ status: 403, code: e.code, message: e.message + " (this token has no admin role)" }) : errorNote(e));
    return;
  }
  try {
    await ctx.loadTenants();
  } catch (e) {
    ctx.tenants = [];
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  const w = ctx.who;
  $("whoami").textContent =
    w.kind === "operator" ? "Platform operator " + w.sub : "Tenant admin of " + w.tenant_id + " (" + w.sub + (w.api_key ? ", API key" : "") + ")";
  $("whoami").dataset.role = w.kind;
  route();
}

function route() {
  if (!ctx.who) return;
  const key = (location.hash || "#tenants").slice(1);
  const page = PAGES.find((pg) => pg[0] === key) || PAGES[0];
  for (const b of $("nav").querySelectorAll("a")) b.classList.toggle("active", b.dataset.page === page[0]);
  const main = clear($("page"));
  main.appendChild(h("h1", { testid: "page-title" }, page[1]));
  const body = h("div", { testid: "page-" + page[0] });
  main.appendChild(body);
  Promise.resolve(page[2](body, ctx)).catch((e) => body.appendChild(errorNote(e)));
}

function init() {
  for (const [key, title] of PAGES) $("nav").appendChild(h("a", { href: "#" + key, "data-page": key, testid: "nav-" + key }, title));
  window.addEventListener("hashchange", route);
  window.addEventListener("agenthub-unauthorized", (ev) => {
    if (!ctx.who) return;
    setToken("");
    ctx.who = null;
    showLogin(errorNote({ status: 401, code: "unauthorized", message: ev.detail + ": the token expired or was revoked; sign in again" }));
  });
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("login-token").value.trim();
    clear($("login-error"));
    if (!t) {
      $("login-error").appendChild(h("div", { class: "error", testid: "form-invalid" }, "Paste an admin token first."));
      return;
    }
    if (/\s/.test(t) || !(t.split(".").length === 3 || t.startsWith("ahk_"))) {
      $("login-error").appendChild(h("div", { class: "error", testid: "form-invalid" }, "That is not a token: a JWT has three dot-separated parts, an API key starts with ahk_."));
      return;
    }
    $("login-token").value = "";
    signIn(t);
  });
  $("logout").addEventListener("click", () => {
    setToken("");
    ctx.who = null;
    history.replaceState(null, "", location.pathname); /* the next admin starts at Tenants */
    showLogin();
  });
  if (getToken()) signIn(getToken());
  else showLogin();
}

init();
export { api };
