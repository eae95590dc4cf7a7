// chat — the page at /: the chat widget (widget.js), embedded with one script tag as any site
// would. Its credential comes from a token provider on this page, in this order:
//   1. sessionStorage "agenthub.chat.credential" = {"tenant","token"} — set by the admin panel
//      (same origin) to try a tenant's agents;
//   2. /web/demo-token.json = {"tenant","token"} — written by `make run` (compose/local/demo)
//      into the demo's own web root, a plain user token of tenant "demo" (demo only: the file
//      is served to whoever can reach the demo's loopback port);
// otherwise the page says how to give it one. It never asks for a pasted token.
const note = document.getElementById("note");

async function credential() {
  try {
    const c = JSON.parse(sessionStorage.getItem("agenthub.chat.credential") || "null");
    if (c && c.tenant && c.token) return { ...c, from: "session" };
  } catch (e) { /* not JSON: ignore */ }
  try {
    const r = await fetch("/web/demo-token.json", { cache: "no-store" });
    if (r.ok) {
      const c = await r.json();
      if (c && c.tenant && c.token) return { tenant: c.tenant, token: c.token, from: "demo" };
    }
  } catch (e) { /* no demo credential */ }
  return null;
}

function show(text, code) {
  note.textContent = text;
  if (code) {
    const c = document.createElement("code");
    c.textContent = code;
    note.append(" ", c);
  }
}

credential().then((c) => {
  if (!c) {
    show("No credential for this page. `make run` serves a demo one; from the admin panel, " +
      "\u201cTry in chat\u201d opens a tenant here; on your own site embed:",
      '<script src="…/web/widget.js" data-tenant="T" data-token-provider="getToken"></script>');
    return;
  }
  show(c.from === "demo" ? "Tenant \u201c" + c.tenant + "\u201d (demo user)."
    : "Tenant \u201c" + c.tenant + "\u201d.");
  // the token provider the widget calls for each request
  window.agenthubPageToken = async () => c.token;
  const s = document.createElement("script");
  s.src = "/web/widget.js";
  s.dataset.tenant = c.tenant;
  s.dataset.tokenProvider = "agenthubPageToken";
  s.dataset.target = "#chat";
  s.dataset.ingress = location.origin;
  document.body.append(s);
});
