// markdown.js — model and tool text to safe HTML: marked (GitHub-flavoured markdown) and then
// DOMPurify. Nothing from an answer can run script. Two layers: raw HTML in the answer is not
// markup at all (marked's html renderer escapes it, so "<script>" shows as text), and DOMPurify
// then keeps only plain formatting tags: no <script>, no event handler attributes, no
// javascript:/data: links, no <img>/<iframe>/<form>/<style> (an image would also be a request
// to some other host). Links open in a new tab with rel="noopener noreferrer".
import DOMPurify from "dompurify";
import { Marked } from "marked";

const escapeHtml = (s) =>
  String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: { html: (token) => escapeHtml(token.text ?? token.raw ?? "") },
});

const ALLOWED_TAGS = ["a", "p", "br", "hr", "strong", "b", "em", "i", "del", "s", "code", "pre",
  "blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead",
  "tbody", "tr", "th", "td", "span", "sup", "sub"];
const ALLOWED_ATTR = ["href", "title", "align", "start"];

let hooked = false;
function hook() {
  if (hooked) return;
  hooked = true;
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
  });
}

export function renderMarkdown(text) {
  hook();
  const html = marked.parse(String(text || ""), { async: false });
  return DOMPurify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#|\/(?!\/))/i,
    RETURN_TRUSTED_TYPE: false,
  });
}
