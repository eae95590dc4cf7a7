// web/build.mjs — builds the web console into static assets the ingress serves
// (INGRESS_WEB_ROOT). Run by compose/local/web-build; no outside request at run time.
//
//   node web/build.mjs [OUTDIR]        (default: build/web, relative to the repository)
//
// Each folder web/src/<page>/ that holds a main.js is one page: main.js and what it imports
// (our modules and the pinned npm packages) are bundled into OUTDIR/<page>.js; every other file
// of the folder (.html, .css, images) is copied into OUTDIR as it is. Files of web/src/shared/
// are modules to import, not a page.
import { build } from "esbuild";
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, "..", "build", "web"));
const src = join(here, "src");
mkdirSync(out, { recursive: true });

const pages = readdirSync(src).filter(
  (d) => statSync(join(src, d)).isDirectory() && existsSync(join(src, d, "main.js")),
);
for (const page of pages) {
  for (const f of readdirSync(join(src, page))) {
    const p = join(src, page, f);
    if (statSync(p).isFile() && !f.endsWith(".js")) copyFileSync(p, join(out, f));
  }
}
await build({
  entryPoints: Object.fromEntries(pages.map((p) => [p, join(src, p, "main.js")])),
  outdir: out,
  bundle: true,
  format: "iife",
  target: ["chrome100", "firefox100", "safari15"],
  minify: true,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
  loader: { ".css": "text" },
});
console.log(`web: built ${pages.join(", ")} into ${out}`);
