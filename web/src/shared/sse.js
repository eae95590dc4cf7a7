// sse.js — reads a text/event-stream from a fetch() Response (used when EventSource cannot
// tell why it failed: the widget then fetches the stream itself and sees the HTTP status).
// Calls onEvent({type, id, data}) per event; resolves when the stream ends.
export async function readEventStream(response, onEvent, signal) {
  const reader = response.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let ev = { type: "message", id: "", data: [] };
  for (;;) {
    if (signal && signal.aborted) break;
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.search(/\r\n|\n|\r/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf[nl] === "\r" && buf[nl + 1] === "\n" ? 2 : 1));
      if (line === "") {
        if (ev.data.length) onEvent({ type: ev.type, id: ev.id, data: ev.data.join("\n") });
        ev = { type: "message", id: ev.id, data: [] };
        continue;
      }
      if (line.startsWith(":")) continue;
      const c = line.indexOf(":");
      const field = c < 0 ? line : line.slice(0, c);
      let val = c < 0 ? "" : line.slice(c + 1);
      if (val.startsWith(" ")) val = val.slice(1);
      if (field === "event") ev.type = val;
      else if (field === "data") ev.data.push(val);
      else if (field === "id") ev.id = val;
    }
  }
}
