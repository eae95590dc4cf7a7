// tests/browser/lib.mjs — the shared harness of the browser tests (tests/browser/*.spec.mjs):
// Debian's Chromium (/usr/bin/chromium, or AGENTHUB_CHROMIUM) driven by playwright-core from
// web/node_modules (npm, pinned by web/package-lock.json), a fresh profile under $TMPDIR,
// screenshots into var/screenshots/ (or AGENTHUB_SCREENSHOTS).
//
//   import { launch, check, shot, step, config, finish } from "./lib.mjs";
//   const b = await launch({ locale: "vi-VN" });     // { context, page, close() }
//   check("the answer streamed", deltas > 1, `deltas=${deltas}`);
//   await shot(b.page, "widget-answer");             // var/screenshots/widget-answer.png
//   finish();                                        // exit 1 if any check failed
//
// A spec gets its parameters as JSON in AGENTHUB_SPEC_CONFIG (config()). Each check prints one
// line, "ok - name" or "FAIL - name: detail"; step() runs a flow and turns an exception into a
// failed check, so one broken flow does not hide the others.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const pw = await import(pathToFileURL(join(ROOT, "web", "node_modules", "playwright-core",
  "index.mjs")).href);
export const chromium = pw.chromium;

export const SCREENSHOTS = process.env.AGENTHUB_SCREENSHOTS || join(ROOT, "var", "screenshots");
const failures = [];
let checks = 0;

export function config() {
  try {
    return JSON.parse(process.env.AGENTHUB_SPEC_CONFIG || "{}");
  } catch (e) {
    throw new Error("AGENTHUB_SPEC_CONFIG is not JSON: " + e.message);
  }
}

// One Chromium with its own profile in $TMPDIR; options go to launchPersistentContext
// (locale, viewport, ...). close() ends the browser and removes the profile.
export async function launch(opts = {}) {
  const profile = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "agenthub-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.AGENTHUB_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
    ...opts,
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(opts.timeout || 30000);
  const consoleLines = [];
  page.on("console", (m) => consoleLines.push(m.type() + ": " + m.text()));
  page.on("pageerror", (e) => consoleLines.push("pageerror: " + e.message));
  return {
    context,
    page,
    console: consoleLines,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function check(name, ok, detail = "") {
  checks++;
  if (ok) {
    console.log("ok - " + name);
  } else {
    failures.push(name);
    console.log("FAIL - " + name + (detail ? ": " + String(detail).slice(0, 2000) : ""));
  }
  return !!ok;
}

export async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    check(name, false, (e && e.stack) || String(e));
  }
}

export async function shot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, name + ".png");
  await page.screenshot({ path, fullPage: true });
  console.log("screenshot " + path);
  return path;
}

export function finish() {
  console.log(`${checks - failures.length}/${checks} checks passed`);
  if (failures.length || checks === 0) {
    console.log("failed: " + (failures.join("; ") || "no check ran"));
    process.exit(1);
  }
  process.exit(0);
}
