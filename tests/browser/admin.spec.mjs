// tests/browser/admin.spec.mjs — clicks through the admin panel (/admin) in Debian's Chromium
// driven by playwright-core, against a running pipeline (tests/integration/test_web_admin.py
// starts it and passes, in the environment):
//   ADMIN_URL          the ingress, e.g. http://127.0.0.1:PORT
//   OPERATOR_TOKEN     a platform operator token
//   TENANT_ADMIN_TOKEN a tenant admin token of ADMIN_TENANT (the demo tenant)
//   ADMIN_TENANT       that tenant
//   NEW_TENANT         the id of the tenant this test creates; NEW_USER_TOKEN a user token of it
//   ERP_URL            the stand-in ERP (the new tool's backend); LLM_MODEL, LLM_BASE_URL the stand-in's
//   KB_FILE, DOC_FILES (comma-separated) files to upload; SHOTS the screenshot folder
// One line per check ("ok - ..." / "not ok - ..."); exit status 1 when any failed.
import { createRequire } from "node:module";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(new URL("../../web/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const E = process.env;
const URL_ = E.ADMIN_URL;
const SHOTS = E.SHOTS || "var/screenshots";
const T = E.NEW_TENANT;
const SUFFIX = T.replace(/[^A-Za-z0-9]/g, "");
const AGENT = "AgentWeb" + SUFFIX;
const TOOL = "web_debt_" + SUFFIX;
mkdirSync(SHOTS, { recursive: true });

let failed = 0;
let n = 0;
function ok(cond, what, detail) {
  n++;
  if (cond) console.log("ok " + n + " - " + what);
  else {
    failed++;
    console.log("not ok " + n + " - " + what + (detail !== undefined ? " :: " + String(detail).slice(0, 600) : ""));
  }
  return cond;
}
async function check(what, fn) {
  try {
    const r = await fn();
    return ok(r !== false, what, r === false ? "false" : undefined);
  } catch (e) {
    return ok(false, what, e && e.stack ? e.stack : e);
  }
}
const shot = (page, name) => page.screenshot({ path: join(SHOTS, "admin-" + name + ".png"), fullPage: true });

const browser = await chromium.launch({
  executablePath: E.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
const page = await context.newPage();
page.setDefaultTimeout(30000);
const consoleErrors = [];
page.on("pageerror", (e) => consoleErrors.push(String(e)));
// answers with an error status are logged by Chromium too; those are expected here
page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && consoleErrors.push(m.text()));
const sent = [];
page.on("request", (r) => sent.push(r.method() + " " + new URL(r.url()).pathname));

async function nav(key) {
  await page.click(`[data-testid=nav-${key}]`);
  await page.waitForSelector(`[data-testid=page-${key}]`);
}
async function pickTenant(t) {
  await page.selectOption("[data-testid=tenant-picker]", t);
}

try {
  // ---- sign in --------------------------------------------------------------------------
  await page.goto(URL_ + "/admin");
  await check("the sign-in form is shown", async () => page.isVisible("[data-testid=login-token]"));
  await shot(page, "login");
  await page.fill("[data-testid=login-token]", "not a token");
  await page.click("[data-testid=login-submit]");
  await check("a malformed token is refused before anything is sent", async () => {
    await page.waitForSelector("#login-error [data-testid=form-invalid]");
    return !sent.some((s) => s.includes("/api/admin/whoami"));
  });
  await page.fill("[data-testid=login-token]", E.OPERATOR_TOKEN);
  await page.click("[data-testid=login-submit]");
  await page.waitForSelector("[data-testid=page-tenants]");
  await check("the operator's role is named", async () => (await page.textContent("[data-testid=whoami]")).startsWith("Platform operator"));
  await check("the token is kept in sessionStorage, not in the page", async () =>
    (await page.evaluate(() => sessionStorage.getItem("agenthub.admin.token"))) === E.OPERATOR_TOKEN &&
    !(await page.content()).includes(E.OPERATOR_TOKEN));

  // ---- tenants: validation, create, an API error as worded, edit ------------------------------
  await page.waitForSelector("[data-testid=tenants-table]");
  const before = sent.length;
  await page.fill("[data-testid=tenant-create-tenant_id]", "bad id!");
  await page.fill("[data-testid=tenant-create-name]", "Web test");
  await page.click("[data-testid=tenant-create-submit]");
  await check("form validation blocks a bad tenant id and says why", async () => {
    const msg = await page.textContent("[data-testid=tenant-create-tenant_id-error]");
    return msg.includes("letters, digits") && !sent.slice(before).some((s) => s === "POST /api/admin/tenants");
  });
  await page.fill("[data-testid=tenant-create-tenant_id]", T);
  await page.fill("[data-testid=tenant-create-name]", "Web test " + T);
  await page.click("[data-testid=tenant-create-submit]");
  await page.waitForSelector(`[data-testid=tenants-table] tr[data-tenant="${T}"]`);
  await check("a tenant is created through the form and listed", async () => true);
  // the same id again: the API's 409 shown as it is worded
  await page.fill("[data-testid=tenant-create-tenant_id]", T);
  await page.fill("[data-testid=tenant-create-name]", "again");
  await page.click("[data-testid=tenant-create-submit]");
  await check("an API error is shown as the API worded it", async () => {
    const t = await page.textContent("#tenant-create [data-testid=api-error]");
    return t.includes("409") && t.includes("conflict") && t.includes("a resource with that name or id already exists") ? true : (console.log("# got: " + t), false);
  });
  await page.click(`[data-testid=tenants-table] tr[data-tenant="${T}"]`);
  await page.fill("[data-testid=tenant-edit-name]", "Web test tenant " + T);
  await page.click("[data-testid=tenant-edit-submit]");
  await page.waitForSelector("#tenant-edit [data-testid=ok-note]");
  await check("a tenant is renamed", async () => (await page.textContent(`tr[data-tenant="${T}"]`)).includes("Web test tenant"));
  await page.click("[data-testid=tenant-toggle-active]");
  await page.waitForSelector("text=Tenant disabled");
  await check("a tenant is disabled", async () => (await page.textContent(`tr[data-tenant="${T}"]`)).includes("disabled"));
  await page.click("[data-testid=tenant-toggle-active]");
  await page.waitForSelector("text=Tenant enabled.");
  await check("and enabled again", async () => (await page.textContent(`tr[data-tenant="${T}"]`)).includes("active"));
  await shot(page, "tenants");

  // ---- a tool: a form for its type, its parameters, a test call ------------------------------
  await nav("tools");
  await page.waitForSelector("[data-testid=tools-table]");
  await page.click("[data-testid=tools-new]");
  await page.fill("[data-testid=tool-form-name]", TOOL);
  await page.selectOption("[data-testid=tool-form-base_type]", "HTTP_GET");
  await page.fill("[data-testid=tool-form-description]", "Retrieve a customer's debt by tax code MST");
  await page.fill("[data-testid=tool-form-endpoint]", E.ERP_URL + "/api/debt/{mst}");
  await page.fill("[data-testid=tool-form-allowed_hosts]", new URL(E.ERP_URL).host);
  await page.click("[data-testid=tool-form-submit]");
  await check("validation: the endpoint's {mst} needs a parameter", async () =>
    (await page.textContent("#tool-form [data-testid=tool-form-invalid]")).includes("{mst}"));
  await page.click("[data-testid=param-add]");
  await page.fill("[data-testid=param-name-0]", "mst");
  await page.fill("[data-testid=param-desc-0]", "tax code MST, 10 digits");
  const headerSecret = "hdr-secret-" + SUFFIX;
  await page.click("[data-testid=header-add]");
  await page.fill("[data-testid=header-name-0]", "X-Api-Key");
  await page.fill("[data-testid=header-value-0]", headerSecret);
  await page.click("[data-testid=tool-form-submit]");
  await page.waitForSelector(`[data-testid=tools-table] tr[data-name="${TOOL}"]`);
  await check("an HTTP GET tool is created with its input schema", async () => (await page.textContent("[data-testid=schema-preview]")).includes('"mst"'));
  await page.waitForSelector("[data-testid=header-value-0]");
  await check("a header value is write-only: stored, never shown again", async () =>
    !(await page.content()).includes(headerSecret) &&
    (await page.getAttribute("[data-testid=header-value-0]", "placeholder")).startsWith("stored") &&
    (await page.textContent(`tr[data-name="${TOOL}"]`)).includes("X-Api-Key: ********"));
  await page.fill("[data-testid=tool-form-description]", "Retrieve a customer's debt by tax code MST (edited)");
  await page.click("[data-testid=tool-form-submit]");
  await page.waitForSelector(`text=Saved ${TOOL}.`);
  await check("the tool is saved again keeping its stored header", async () =>
    (await page.getAttribute("[data-testid=header-value-0]", "placeholder")).startsWith("stored"));
  await page.fill("[data-testid=tool-test-mst]", "0123456789");
  await page.selectOption("[data-testid=tool-test-tenant]", E.ADMIN_TENANT);
  await page.click("[data-testid=tool-test-submit]");
  await page.waitForSelector("[data-testid=tool-test-ok], [data-testid=tool-test-error]");
  await check("\"test this tool\" runs one call and shows its result", async () => {
    const t = await page.textContent("[data-testid=tool-test-output]");
    return t.includes("succeeded") && t.includes("0123456789") ? true : (console.log("# got: " + t), false);
  });
  await page.fill("[data-testid=tool-test-mst]", "");
  await page.click("[data-testid=tool-test-submit]");
  await check("the test form asks for a required argument before calling", async () =>
    (await page.textContent("[data-testid=tool-test-mst-error]")).includes("required"));
  await shot(page, "tools");
  // a RAG tool: its own form, and a test call that searches the demo tenant's knowledge base
  await page.click("[data-testid=tools-new]");
  await page.selectOption("[data-testid=tool-form-base_type]", "RAG");
  await check("the RAG form hides the HTTP fields", async () =>
    !(await page.isVisible("[data-testid=tool-form-endpoint]")) && (await page.isVisible("[data-testid=tool-form-top_k]")));
  await page.fill("[data-testid=tool-form-name]", "web_kb_" + SUFFIX);
  await page.fill("[data-testid=tool-form-top_k]", "3");
  await page.click("[data-testid=param-add]");
  await page.fill("[data-testid=param-name-0]", "query");
  await page.click("[data-testid=tool-form-submit]");
  await page.waitForSelector(`[data-testid=tools-table] tr[data-name="web_kb_${SUFFIX}"]`);
  await page.fill("[data-testid=tool-test-query]", "How many days do I have to return goods?");
  await page.selectOption("[data-testid=tool-test-tenant]", E.ADMIN_TENANT);
  await page.click("[data-testid=tool-test-submit]");
  await page.waitForSelector("[data-testid=tool-test-ok], [data-testid=tool-test-error]");
  await check("a RAG tool is created and its test call returns chunks with sources", async () => {
    const t = await page.textContent("[data-testid=tool-test-output]");
    return t.includes("succeeded") && t.includes('"source"') && t.includes('"score"') ? true : (console.log("# got: " + t.slice(0, 400)), false);
  });

  // ---- an agent with the tool --------------------------------------------------------------
  await nav("agents");
  await page.waitForSelector("[data-testid=agents-table]");
  await page.click("[data-testid=agents-new]");
  await page.fill("[data-testid=agents-form-name]", AGENT);
  await page.fill("[data-testid=agents-form-description]", "Customer debt by tax code MST for the web test");
  await page.fill("[data-testid=agents-form-prompt_template]", "You are " + AGENT + ". Look up the customer's debt with the tool.");
  await page.click("[data-testid=agents-form-submit]");
  await page.waitForSelector(`[data-testid=agents-table] tr[data-name="${AGENT}"]`);
  await page.waitForSelector("[data-testid=agent-tools-rule]");
  await check("the agent is created; the at-most-5 rule is shown", async () => (await page.textContent("[data-testid=agent-tools-rule]")).includes("0 of at most 5"));
  const toolOpt = await page.$$eval("[data-testid=agent-tool-add-select] option", (os, name) => (os.find((o) => o.textContent.startsWith(name + " ")) || {}).value, TOOL);
  await page.selectOption("[data-testid=agent-tool-add-select]", toolOpt);
  await page.click("[data-testid=agent-tool-add]");
  await page.fill(`[data-testid=agent-tool-priority-${TOOL}]`, "x1");
  await page.click("[data-testid=agent-tools-save]");
  await check("a bad priority is refused before sending", async () => (await page.textContent("[data-testid=form-invalid]")).includes("whole number"));
  await page.fill(`[data-testid=agent-tool-priority-${TOOL}]`, "1");
  await page.click("[data-testid=agent-tools-save]");
  await page.waitForSelector("text=Tools saved.");
  await check("the tool is assigned with its priority", async () => (await page.textContent("[data-testid=agent-tools-rule]")).includes("1 of at most 5"));
  await shot(page, "agents");

  // ---- permissions matrix ----------------------------------------------------------------
  await nav("permissions");
  await page.waitForSelector("[data-testid=perm-matrix]");
  await check("at most 25 tenants are shown at once, and the count says how many there are", async () => {
    const text = await page.textContent("[data-testid=perm-count]");
    const rows = await page.$$eval("[data-testid=perm-matrix] tbody tr", (rs) => rs.length);
    const m = /^Showing (\d+) of (\d+) matching tenants/.exec(text) || /^(\d+) of (\d+) tenants\./.exec(text);
    return m && Number(m[1]) === rows && rows <= 25 && (rows === Number(m[2]) || (rows === 25 && text.startsWith("Showing")));
  });
  // many tenants: the filter narrows the rows to the one being set up
  await page.fill("[data-testid=perm-filter-tenants]", T);
  await page.waitForFunction((t) => {
    const rows = document.querySelectorAll("[data-testid=perm-matrix] tbody tr");
    return rows.length === 1 && rows[0].dataset.testid === "perm-row-" + t;
  }, T);
  await check("the tenant filter shows that tenant's row alone and says so", async () =>
    /^1 of \d+ tenants\./.test(await page.textContent("[data-testid=perm-count]")));
  // and the column filter to the new agent and tool (the matrix shows at most 40 columns)
  await page.fill("[data-testid=perm-filter-columns]", SUFFIX);
  await page.waitForSelector(`[data-testid=perm-${T}-${TOOL}]`);
  for (const name of [AGENT, TOOL]) {
    await page.check(`[data-testid=perm-${T}-${name}]`);
    await page.waitForSelector(`text=Granted ${name} to ${T}.`);
  }
  await check("agent and tool granted in place in the matrix", async () =>
    (await page.isChecked(`[data-testid=perm-${T}-${AGENT}]`)) && (await page.isChecked(`[data-testid=perm-${T}-${TOOL}]`)));
  await page.fill("[data-testid=perm-filter-columns]", AGENT);
  await page.waitForSelector(`[data-testid=perm-${T}-${TOOL}]`, { state: "detached" });
  await check("the column filter keeps the matching agent and drops the tool, still granted", async () =>
    (await page.isChecked(`[data-testid=perm-${T}-${AGENT}]`)) && /^1 of \d+ tenants\. 1 of \d+ agents, 0 of \d+ tools\.$/.test(await page.textContent("[data-testid=perm-count]")));
  await page.fill("[data-testid=perm-filter-columns]", SUFFIX);
  await page.waitForSelector(`[data-testid=perm-${T}-${TOOL}]`);
  await shot(page, "permissions");

  // ---- LLM config: the key is write-only ---------------------------------------------------
  await nav("llm");
  await page.waitForSelector("[data-testid=llm-form-model_id]");
  await pickTenant(T);
  await page.waitForSelector(`[data-testid=page-llm] [data-tenant="${T}"] [data-testid=llm-form-model_id]`);
  await page.selectOption("[data-testid=llm-form-provider]", "openai_compatible");
  await check("choosing a provider narrows the models to its own", async () => {
    const shown = await page.$$eval("[data-testid=llm-form-model_id] option", (os) => os.filter((o) => o.value && !o.hidden).map((o) => o.textContent));
    return shown.length > 0 && shown.every((t) => t.startsWith("openai_compatible ·"));
  });
  const modelVal = await page.$$eval("[data-testid=llm-form-model_id] option", (os, m) => (os.find((o) => o.textContent.includes(m)) || {}).value, E.LLM_MODEL + " (" + E.LLM_BASE_URL + ")");
  await page.fill("[data-testid=llm-form-rate_limit_rpm]", "0");
  await page.selectOption("[data-testid=llm-form-model_id]", modelVal);
  await page.click("[data-testid=llm-form-submit]");
  await check("validation: rate_limit_rpm must be at least 1", async () => (await page.textContent("[data-testid=llm-form-rate_limit_rpm-error]")).includes("at least 1"));
  await page.fill("[data-testid=llm-form-rate_limit_rpm]", "600");
  const secret = "sk-webadmin-secret-" + SUFFIX;
  await page.fill("[data-testid=llm-form-api_key]", secret);
  await page.click("[data-testid=llm-form-submit]");
  await page.waitForSelector("#llm-form [data-testid=ok-note]");
  await page.waitForSelector(`[data-tenant="${T}"] >> text=stored (never shown)`);
  await check("the LLM config is saved; the key is stored and never shown again", async () =>
    !(await page.content()).includes(secret) && (await page.inputValue("[data-testid=llm-form-api_key]")) === "");
  await shot(page, "llm-config");

  // ---- API keys: shown once, listed, revoked -------------------------------------------------
  await nav("keys");
  await pickTenant(T);
  await page.fill("[data-testid=apikey-form-name]", "web test key");
  await page.click("[data-testid=apikey-form-submit]");
  const key = (await (await page.waitForSelector("[data-testid=apikey-once]")).textContent()).trim();
  await check("a new API key is shown once", async () => /^ahk_[0-9a-f]{16}_/.test(key));
  await shot(page, "api-keys");
  await page.click("[data-testid=apikey-once-dismiss]");
  await nav("tenants");
  await nav("keys");
  await page.waitForSelector("[data-testid=apikeys-table]");
  await check("the key is listed but never shown again", async () => !(await page.content()).includes(key));
  const keyId = key.split("_")[1];
  page.once("dialog", (d) => d.accept());
  await page.click(`[data-testid=apikey-revoke-${keyId}]`);
  await page.waitForSelector(`[data-testid=apikey-revoked-${keyId}]`);
  await check("the key is revoked", async () => true);

  // ---- knowledge base: upload, find in the search preview --------------------------------------
  await nav("knowledge");
  await pickTenant(T);
  await page.setInputFiles("[data-testid=kb-files]", E.KB_FILE);
  await page.click("[data-testid=kb-upload]");
  await page.waitForSelector("text=chunks) with the");
  const kbName = E.KB_FILE.split("/").pop();
  await page.waitForSelector(`[data-testid=kb-table] >> text=${kbName}`);
  await check("a knowledge document is uploaded and listed", async () => true);
  await page.fill("[data-testid=kb-search-query]", "What is the refund window for damaged parcels?");
  await page.click("[data-testid=kb-search-submit]");
  await page.waitForSelector("[data-testid=kb-results-table], [data-testid=kb-search-error], [data-testid=kb-results-table-empty]");
  await check("the search preview finds it, with score and source", async () => {
    const t = await page.textContent("[data-testid=kb-search-results]");
    return t.includes(kbName) && /0\.\d{3}/.test(t) ? true : (console.log("# got: " + t), false);
  });
  await shot(page, "knowledge");
  page.once("dialog", (d) => d.accept());
  await page.click(`[data-testid="kb-delete-${kbName}"]`);
  await page.waitForSelector("[data-testid=kb-table-empty]");
  await check("a knowledge document is deleted", async () => true);

  // ---- the new agent answers a chat; its conversation shows the tool call ----------------------
  // "Try in chat" (tenant editor) hands the chat page at / a credential of the tenant (for the
  // operator, a one-hour user API key). The chat widget (web/src/widget, helper "webui") has the
  // DOM contract [data-testid=agenthub-input], agenthub-send, agenthub-msg-assistant.
  const question = "What is the debt for MST 0123456789?";
  await nav("tenants");
  await page.click(`[data-testid=tenants-table] tr[data-tenant="${T}"]`);
  await page.click("[data-testid=tenant-try-chat]");
  await page.waitForURL(URL_ + "/");
  await check("\"Try in chat\" hands the chat page a credential of the tenant", async () => {
    const c = JSON.parse(await page.evaluate(() => sessionStorage.getItem("agenthub.chat.credential")));
    return c.tenant === T && /^ahk_/.test(c.token);
  });
  const sessionId = null;
  await check("the chat page at / shows the chat widget", async () =>
    !!(await page.waitForSelector("[data-testid=agenthub-input]", { timeout: 15000 }).catch(() => null)));
  await page.fill("[data-testid=agenthub-input]", question);
  await page.click("[data-testid=agenthub-send]");
  await check("the new agent answers in the chat widget", async () => {
    // (playwright's locators also reach into the widget's shadow root)
    const msg = page.locator("[data-testid=agenthub-msg-assistant]", { hasText: "[stand-in]" }).first();
    await msg.waitFor({ timeout: 60000 });
    return (await msg.textContent()).includes("0123456789");
  });
  await shot(page, "chat-widget");
  await page.goto(URL_ + "/admin#conversations");
  await page.waitForSelector("[data-testid=page-conversations]");
  await pickTenant(T);
  // the widget's session is the tenant's newest (its only one)
  const rowSel = sessionId ? `[data-testid=sessions-table] tr[data-session="${sessionId}"]` : "[data-testid=sessions-table] tbody tr";
  await page.waitForSelector(rowSel);
  await page.click(rowSel);
  await page.waitForSelector("[data-testid=msg-assistant]");
  await check("the conversation shows the answer with its agent and tokens", async () => {
    const t = await page.textContent("[data-testid=msg-assistant]");
    return t.includes(AGENT) && t.includes("tokens") && t.includes("[stand-in]") ? true : (console.log("# got: " + t), false);
  });
  await check("the conversation shows the tool call with its arguments and result", async () => {
    const name = await page.textContent("[data-testid=toolcall-name]");
    const args = await page.textContent("[data-testid=toolcall-args]");
    const res = await page.$("[data-testid=toolcall-result]");
    return name === TOOL && args.includes("0123456789") && !!res;
  });
  await shot(page, "conversations");

  // ---- caches, audit, catalog pages ------------------------------------------------------
  await nav("system");
  await page.click("[data-testid=reload-caches]");
  await page.waitForSelector("text=Caches reloaded");
  await check("caches are reloaded", async () => true);
  await page.waitForSelector("[data-testid=audit-table]");
  await check("the audit log lists the writes just made", async () => (await page.textContent("[data-testid=audit-table]")).includes("/api/admin/tenants/" + T));
  await shot(page, "system");
  await nav("formats");
  await page.waitForSelector("[data-testid=formats-table]");
  await check("output formats are listed", async () => (await page.textContent("[data-testid=formats-table]")).includes("markdown"));
  await shot(page, "output-formats");
  await nav("models");
  await page.waitForSelector("[data-testid=models-table]");
  await page.click("[data-testid=models-new]");
  await page.fill("[data-testid=models-form-model_name]", "web-model-" + SUFFIX);
  await page.fill("[data-testid=models-form-base_url]", "ftp://nowhere");
  await page.click("[data-testid=models-form-submit]");
  await check("a model's base URL is validated", async () => (await page.textContent("[data-testid=models-form-base_url-error]")).includes("http"));
  await page.fill("[data-testid=models-form-base_url]", "");
  await page.click("[data-testid=models-form-submit]");
  await page.waitForSelector(`[data-testid=models-table] >> text=web-model-${SUFFIX}`);
  await check("an LLM model is created", async () => true);
  await shot(page, "llm-models");

  // ---- a tenant admin: its role, its tenant only, batch OCR with live progress ------------------
  await page.click("[data-testid=logout]");
  await page.fill("[data-testid=login-token]", E.TENANT_ADMIN_TOKEN);
  await page.click("[data-testid=login-submit]");
  await page.waitForSelector("[data-testid=page-tenants]");
  await check("a tenant admin's role is named", async () => (await page.textContent("[data-testid=whoami]")).includes("Tenant admin of " + E.ADMIN_TENANT));
  await page.waitForSelector("[data-testid=tenants-table]");
  await check("a tenant admin sees only its own tenant", async () => {
    const rows = await page.$$eval("[data-testid=tenants-table] tbody tr", (rs) => rs.map((r) => r.dataset.tenant));
    return rows.length === 1 && rows[0] === E.ADMIN_TENANT;
  });
  await nav("documents");
  const files = E.DOC_FILES.split(",");
  await page.setInputFiles("[data-testid=docs-files]", files);
  await page.click("[data-testid=docs-upload]");
  await page.waitForSelector("[data-testid=batch-summary][data-status]", { timeout: 120000 });
  await check("a batch's progress is followed to its end", async () => {
    const s = await page.textContent("[data-testid=batch-summary]");
    const st = await page.$$eval("[data-testid=batch-files] tbody td[data-status]", (ts) => ts.map((t) => t.dataset.status));
    return s.includes("of " + files.length) && st.length === files.length && st.every((x) => x === "done" || x === "error") ? true : (console.log("# got: " + s + " " + st), false);
  });
  await check("the progress came over the batch's event stream (SSE)", async () =>
    sent.some((x) => /^GET \/api\/[^/]+\/documents\/[0-9a-f-]{36}\/events$/.test(x)));
  await check("the extracted text can be read", async () => {
    const texts = await page.$$eval("[data-testid=doc-text]", (ps) => ps.map((p) => p.textContent));
    return texts.length > 0 && texts.some((t) => t.trim().length > 10);
  });
  await shot(page, "documents");
  // a token that stops working (expired, revoked) sends the admin back to the sign-in form
  await page.evaluate(() => sessionStorage.setItem("agenthub.admin.token", "e30.e30.invalid"));
  await nav("tenants");
  await page.waitForSelector("#login-error [data-testid=api-error]");
  await check("a refused token leads back to sign-in, with the API's words", async () =>
    (await page.textContent("#login-error")).includes("invalid token") && (await page.isVisible("[data-testid=login-token]")));
  await check("no script errors on the page", async () => (consoleErrors.length === 0 ? true : (console.log("# " + consoleErrors.join("\n# ")), false)));
} catch (e) {
  ok(false, "the flow ran to its end", e && e.stack ? e.stack : e);
  try {
    await shot(page, "failure");
  } catch {}
} finally {
  await browser.close();
}
console.log(`${n - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
