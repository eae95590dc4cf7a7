// widget.spec.mjs — the chat widget in Chromium against the real pipeline (run by
// tests/integration/test_web_console.py, which passes AGENTHUB_SPEC_CONFIG):
//   {base, tenant, question, followup, xss, hostAllowed, hostToken, hostForeign, busyBase,
//    shortBase, shortTenant}
// Flows: the agent answers in the widget at / (streamed: more than one delta); the session
// survives a reload and a follow-up continues it; the widget embedded with one script tag on
// a second origin (token provider and data-token), the host page's CSS not leaking in, and
// refused on an origin the ingress does not list; a model answer with <script>, <img onerror>,
// a javascript: link and an onclick renders inert; 503 busy falls back to long-poll and says
// so; Vietnamese labels for vi-VN.
import { check, config, finish, launch, shot, step } from "./lib.mjs";

const cfg = config();
const ROOT_JS = "document.querySelector('.agenthub-widget') && " +
  "document.querySelector('.agenthub-widget').shadowRoot";

async function ready(page) {
  await page.waitForFunction(() => {
    const h = document.querySelector(".agenthub-widget");
    return h && h.shadowRoot && h.dataset.restored === "1";
  }, null, { timeout: 30000 });
}

async function state(page) {
  return page.evaluate(() => {
    const r = document.querySelector(".agenthub-widget").shadowRoot;
    const msgs = [...r.querySelectorAll("[data-testid=agenthub-msg-assistant]")];
    const last = msgs[msgs.length - 1];
    const s = r.querySelector("[data-testid=agenthub-status]");
    return {
      count: msgs.length,
      users: [...r.querySelectorAll("[data-testid=agenthub-msg-user]")].map((u) => u.textContent),
      text: last ? last.textContent : "",
      html: last ? last.innerHTML : "",
      deltas: last ? +last.dataset.deltas : 0,
      tools: last ? last.querySelectorAll("[data-testid=agenthub-tool]").length : 0,
      status: s.textContent,
      state: s.dataset.state || "",
      mode: s.dataset.mode || "",
      send: r.querySelector("[data-testid=agenthub-send]").textContent,
      placeholder: r.querySelector("[data-testid=agenthub-input]").placeholder,
    };
  });
}

async function ask(page, text, timeout = 90000) {
  const before = (await state(page)).count;
  await page.locator("[data-testid=agenthub-input]").fill(text);
  await page.locator("[data-testid=agenthub-send]").click();
  await page.waitForFunction((n) => {
    const r = document.querySelector(".agenthub-widget").shadowRoot;
    const s = r.querySelector("[data-testid=agenthub-status]");
    return r.querySelectorAll("[data-testid=agenthub-msg-assistant]").length > n &&
      ["done", "failed"].includes(s.dataset.state);
  }, before, { timeout });
  await page.waitForTimeout(100); // the last paint (16 ms throttle)
  return state(page);
}

const sessionKeys = (page) => page.evaluate(() => Object.keys(localStorage)
  .filter((k) => k.startsWith("agenthub:session:")).map((k) => [k, localStorage.getItem(k)]));

const b = await launch();
const dialogs = [];
b.page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });

await step("answer in the widget at /", async () => {
  const { page } = b;
  await page.goto(cfg.base + "/");
  await ready(page);
  check("the chat page asks for no token", await page.locator("input[type=password]").count() === 0);
  const s = await ask(page, cfg.question);
  check("the agent answered", s.state === "done" && s.text.includes("[stand-in]"), JSON.stringify(s));
  check("the answer streamed (more than one delta)", s.deltas > 1, "deltas=" + s.deltas);
  check("tool activity shown", s.tools >= 1, s.html);
  await shot(page, "widget-answer");
});

await step("session survives a reload; follow-up", async () => {
  const { page } = b;
  const before = await sessionKeys(page);
  check("session id kept in localStorage", before.length === 1, JSON.stringify(before));
  await page.reload();
  await ready(page);
  const restored = await state(page);
  check("the conversation is shown again after the reload",
    restored.users.includes(cfg.question) && restored.count >= 1, JSON.stringify(restored));
  const s = await ask(page, cfg.followup);
  check("the follow-up is answered", s.state === "done" && s.text.length > 0, JSON.stringify(s));
  const after = await sessionKeys(page);
  check("the follow-up continued the same session", JSON.stringify(after) === JSON.stringify(before),
    JSON.stringify({ before, after }));
  const sid = after[0] && after[0][1];
  const n = await page.evaluate(async ([tenant, sid]) => {
    const tok = await window.agenthubPageToken();
    const r = await fetch(`/api/${tenant}/sessions/${sid}/messages?limit=50`,
      { headers: { Authorization: "Bearer " + tok } });
    const j = await r.json();
    return (j.messages || []).length;
  }, [cfg.tenant, sid]);
  check("the session holds both turns (4 messages)", n >= 4, "messages=" + n);
  await shot(page, "widget-followup");
});

await step("model answer with markup renders inert", async () => {
  const { page } = b;
  const s = await ask(page, cfg.xss);
  check("the probe answer arrived", s.state === "done" && s.text.includes("Markup probe"), JSON.stringify(s));
  const probe = await page.evaluate(() => {
    const r = document.querySelector(".agenthub-widget").shadowRoot;
    const msgs = r.querySelectorAll("[data-testid=agenthub-msg-assistant]");
    const m = msgs[msgs.length - 1];
    return {
      flag: typeof window.__agenthub_xss,
      scripts: m.querySelectorAll("script").length,
      imgs: m.querySelectorAll("img").length,
      handlers: [...m.querySelectorAll("*")].filter((e) =>
        [...e.attributes].some((a) => a.name.startsWith("on"))).length,
      jsLinks: [...m.querySelectorAll("a")].filter((a) => /^\s*javascript:/i.test(a.getAttribute("href") || "")).length,
      links: [...m.querySelectorAll("a[href]")].map((a) => [a.getAttribute("href"), a.rel]),
      bold: m.querySelectorAll("strong").length,
      text: m.textContent,
    };
  });
  // give a late handler (an image error, a timer) the chance to fire
  await page.waitForTimeout(500);
  const flag = await page.evaluate(() => typeof window.__agenthub_xss);
  check("no script from the answer ran (window flag unset)", probe.flag === "undefined" && flag === "undefined", flag);
  check("no dialog opened", dialogs.length === 0, JSON.stringify(dialogs));
  check("no script, img or on* attribute in the DOM", probe.scripts === 0 && probe.imgs === 0 && probe.handlers === 0, JSON.stringify(probe));
  check("no javascript: link", probe.jsLinks === 0, JSON.stringify(probe.links));
  check("markdown still rendered (bold, safe link with rel=noopener)", probe.bold >= 1 &&
    probe.links.some(([h, rel]) => h === "https://example.com/docs" && rel.includes("noopener")), JSON.stringify(probe));
  check("the markup is shown as text", probe.text.includes("<script>") && probe.text.includes("onerror"), probe.text);
  await shot(page, "widget-xss");
});

await step("a long conversation shows its newest messages after a reload", async () => {
  const { page } = b;
  // cfg.longSession: the page user's session of 60 messages, "long turn 0..29" and their
  // answers (test_web_console.py wrote them); the widget is pointed at it, then reloaded
  const keys = await sessionKeys(page);
  await page.evaluate(([k, sid]) => localStorage.setItem(k, sid), [keys[0][0], cfg.longSession]);
  await page.reload();
  await ready(page);
  await page.waitForTimeout(100); // the last paint (16 ms throttle)
  const s = await state(page);
  const divider = await page.evaluate(() => document.querySelector(".agenthub-widget")
    .shadowRoot.querySelector(".divider").textContent);
  check("the newest 50 are shown: turns 5..29, not the oldest 0..24",
    s.users.length === 25 && s.users[0] === "long turn 5" && s.users[24] === "long turn 29" &&
    s.text.trim() === "answer 29", JSON.stringify({ users: s.users, text: s.text }));
  check("the divider says 10 older messages are not shown", /\b10\b/.test(divider), divider);
  await page.evaluate(([k, sid]) => localStorage.setItem(k, sid), keys[0]);
});

await step("a refused token on reload is said, after asking the provider once more", async () => {
  const { page } = b;
  // the page's provider now hands out the user's token with a broken signature
  const good = await page.evaluate(() => window.agenthubPageToken());
  const bad = good.slice(0, -4) + (good.endsWith("AAAA") ? "BBBB" : "AAAA");
  await page.route("**/web/demo-token.json", (r) => r.fulfill({ json: { tenant: cfg.tenant, token: bad } }));
  const refused = [];
  const seen = (resp) => { if (resp.status() === 401) refused.push(resp.url()); };
  page.on("response", seen);
  await page.reload();
  await ready(page);
  const s = await state(page);
  page.off("response", seen);
  await page.unroute("**/web/demo-token.json");
  check("the status names the failure, not an empty conversation",
    s.state === "historyFailed" && s.status.includes("Could not load"), JSON.stringify(s));
  check("the provider was asked again before giving up (two 401s)", refused.length === 2,
    JSON.stringify(refused));
  await page.reload();
  await ready(page);
  check("a good token again: the conversation is back", (await state(page)).users.length > 0);
});
await b.close();

await step("embedded on a second origin", async () => {
  const e = await launch();
  try {
    const { page } = e;
    await page.goto(cfg.hostAllowed);
    await ready(page);
    const s = await ask(page, cfg.question);
    check("second origin (token provider): answered", s.state === "done" && s.text.includes("[stand-in]"), JSON.stringify(s));
    const look = await page.evaluate(() => {
      const r = document.querySelector(".agenthub-widget").shadowRoot;
      const m = r.querySelector("[data-testid=agenthub-msg-assistant]");
      const ta = r.querySelector("[data-testid=agenthub-input]");
      return { color: getComputedStyle(m).color, font: getComputedStyle(m).fontFamily,
        input: getComputedStyle(ta).display, hostColor: getComputedStyle(document.querySelector("h1")).color };
    });
    check("the host page's CSS does not leak into the widget", look.hostColor === "rgb(255, 0, 0)" &&
      look.color !== "rgb(255, 0, 0)" && look.input !== "none" && !/^serif/.test(look.font), JSON.stringify(look));
    await shot(page, "widget-second-origin");
    await page.goto(cfg.hostToken);
    await ready(page);
    const t = await ask(page, cfg.question);
    check("second origin (data-token): answered", t.state === "done" && t.text.includes("[stand-in]"), JSON.stringify(t));
    await page.goto(cfg.hostForeign);
    await ready(page);
    const f = await ask(page, cfg.question, 30000);
    check("an origin not in INGRESS_CORS_ORIGINS is refused", f.state === "failed" && !f.text.includes("[stand-in]"), JSON.stringify(f));
    check("... and the status says why it may be (not just \"Failed to fetch\")",
      f.status.includes("INGRESS_CORS_ORIGINS") && !f.status.includes("Failed to fetch"), f.status);
    await shot(page, "widget-foreign-origin");
  } finally {
    await e.close();
  }
});

await step("503 busy: long-poll fallback", async () => {
  const e = await launch();
  try {
    const { page } = e;
    const modes = [];
    await page.goto(cfg.busyBase + "/");
    await ready(page);
    await page.exposeFunction("__statusSeen", (t) => modes.push(t));
    await page.evaluate(() => {
      const s = document.querySelector(".agenthub-widget").shadowRoot
        .querySelector("[data-testid=agenthub-status]");
      new MutationObserver(() => window.__statusSeen(s.textContent)).observe(s,
        { childList: true, characterData: true, subtree: true });
    });
    const s = await ask(page, cfg.question);
    check("busy: answered by long-poll", s.state === "done" && s.text.includes("[stand-in]"), JSON.stringify(s));
    check("busy: the status line says long-poll", s.mode === "longpoll" && /long-poll/.test(s.status) &&
      modes.some((m) => /busy/.test(m)), JSON.stringify({ s, modes }));
    await shot(page, "widget-longpoll");
  } finally {
    await e.close();
  }
});

await step("a dropped stream resumes with Last-Event-ID", async () => {
  // shortBase: an ingress that ends every stream after 1 s (INGRESS_SSE_MAX_S=1)
  const e = await launch();
  try {
    const { page } = e;
    const seen = [];
    await page.goto(cfg.shortBase + "/");
    await ready(page);
    await page.exposeFunction("__statusSeen", (t) => seen.push(t));
    await page.evaluate(() => {
      const s = document.querySelector(".agenthub-widget").shadowRoot
        .querySelector("[data-testid=agenthub-status]");
      new MutationObserver(() => window.__statusSeen(s.dataset.state)).observe(s,
        { attributes: true, childList: true, characterData: true, subtree: true });
    });
    const s = await ask(page, cfg.question);
    check("resumed: answered", s.state === "done" && s.text.includes("[stand-in]"), JSON.stringify(s));
    check("resumed: the stream was dropped and resumed", seen.includes("reconnecting"), JSON.stringify(seen));
    const got = await page.evaluate(async (tenant) => {
      const r = document.querySelector(".agenthub-widget").shadowRoot;
      const m = [...r.querySelectorAll("[data-testid=agenthub-msg-assistant]")].pop();
      const tok = await window.agenthubPageToken();
      const j = await (await fetch(`/api/${tenant}/jobs/${m.dataset.job}`,
        { headers: { Authorization: "Bearer " + tok } })).json();
      const deltas = j.events.filter((x) => x.event === "delta");
      return { shown: +m.dataset.deltas, stored: deltas.length };
    }, cfg.shortTenant);
    check("resumed: every delta exactly once (no loss, no duplicate)", got.shown === got.stored && got.stored > 1,
      JSON.stringify(got));
    await shot(page, "widget-resumed");
  } finally {
    await e.close();
  }
});

await step("Vietnamese labels with vi-VN", async () => {
  const e = await launch({ locale: "vi-VN" });
  try {
    const { page } = e;
    await page.goto(cfg.base + "/");
    await ready(page);
    const s0 = await state(page);
    check("vi-VN: button, placeholder and status in Vietnamese",
      s0.send === "Gửi" && s0.placeholder.startsWith("Nhập") && s0.status === "Sẵn sàng", JSON.stringify(s0));
    const s = await ask(page, cfg.question);
    check("vi-VN: 'done' in Vietnamese", s.state === "done" && s.status === "Xong", JSON.stringify(s));
    await shot(page, "widget-vi");
  } finally {
    await e.close();
  }
});

finish();
