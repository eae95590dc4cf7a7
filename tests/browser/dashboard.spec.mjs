// dashboard.spec.mjs — the monitoring dashboard (/monitor) in Chromium while
// tests/integration/test_web_console.py keeps a small chat load running. AGENTHUB_SPEC_CONFIG:
//   {base, waitS}
// Checks: every figure is drawn by uPlot (a canvas per chart); the charts move under load
// (more points, and the accepted-chats and latency values change); the router and agent
// processes are shown (their jobs in flight, their state) beside the ingress; the window
// switches to 1 h and 24 h, and stays there (a late answer for the old window is not drawn).
import { check, config, finish, launch, shot, step } from "./lib.mjs";

const cfg = config();
const b = await launch({ viewport: { width: 1400, height: 1000 } });
const { page } = b;

const read = () => page.evaluate(() => Object.fromEntries([...document.querySelectorAll("[data-testid^=chart-]")]
  .map((c) => [c.dataset.testid.slice(6), { points: +(c.dataset.points || 0), last: c.dataset.last || "",
    canvas: c.querySelectorAll("canvas").length, text: c.textContent.slice(0, 400) }])));

await step("dashboard charts move under load", async () => {
  await page.goto(cfg.base + "/monitor");
  await page.waitForFunction(() => {
    const c = document.querySelector("[data-testid=chart-chats]");
    return c && +(c.dataset.points || 0) >= 2;
  }, null, { timeout: 60000 });
  const first = await read();
  await page.waitForTimeout((cfg.waitS || 8) * 1000);
  const second = await read();
  for (const id of ["chats", "latency", "inflight", "sse", "errors", "lag"])
    check(`chart ${id} is drawn by uPlot`, second[id] && second[id].canvas >= 1, JSON.stringify(second[id]));
  check("accepted chats: more points", second.chats.points > first.chats.points, JSON.stringify([first.chats, second.chats]));
  check("latency: more points", second.latency.points > first.latency.points, JSON.stringify([first.latency, second.latency]));
  check("accepted chats/s is not flat zero", parseFloat(second.chats.last) > 0 || parseFloat(first.chats.last) > 0,
    JSON.stringify([first.chats, second.chats]));
  check("values changed", first.chats.last !== second.chats.last || first.latency.last !== second.latency.last,
    JSON.stringify([first.chats, first.latency, second.chats, second.latency]));
  check("the latency chart has the stages", /ingress accept/.test(second.latency.text) &&
    /router/.test(second.latency.text) && /agent/.test(second.latency.text) && /LLM/.test(second.latency.text),
    second.latency.text);
  check("jobs in flight per process include the router and the agent",
    /router/.test(second.inflight.text) && /agent/.test(second.inflight.text), second.inflight.text);
  const st = second.state ? second.state.text : "";
  check("process and dependency state shown", /router/.test(st) && /agent-0/.test(st) &&
    /postgres/.test(st) && /redis/.test(st) && /kafka/.test(st) && !/down/.test(st), st);
  await shot(page, "dashboard-5m");
});

await step("window 1 h and 24 h", async () => {
  for (const w of ["1h", "24h"]) {
    await page.locator(`[data-window="${w}"]`).click();
    await page.waitForFunction((w) => document.getElementById("status").textContent.startsWith("window " + w),
      w, { timeout: 30000 });
    // Stay a few 5 m refresh periods: an answer to the old window must not be drawn after.
    await page.waitForTimeout(5000);
    const s = await page.locator("#status").textContent();
    check(`window ${w} selected and kept`, s.startsWith("window " + w), s);
    await shot(page, "dashboard-" + w);
  }
});

await step("a late answer for the old window is dropped", async () => {
  // Hold every 5 m answer back 3 s, choose 5 m and at once 1 h: the 5 m answer lands after
  // the 1 h one and must not be drawn over it.
  await page.route(/metrics\/cluster\?window=5m/, async (route) => {
    await new Promise((r) => setTimeout(r, 3000));
    await route.continue();
  });
  await page.locator('[data-window="5m"]').click();
  await page.locator('[data-window="1h"]').click();
  await page.waitForTimeout(5000);
  const s = await page.locator("#status").textContent();
  check("1h kept after a late 5m answer", s.startsWith("window 1h"), s);
  await page.unroute(/metrics\/cluster\?window=5m/);
});

await b.close();
finish();
