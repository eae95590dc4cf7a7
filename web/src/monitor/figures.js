// figures.js — the dashboard's figures from the cluster history (GET
// /api/admin/metrics/cluster): {t, series:[{target, name, labels, v:[...]}]} with values as
// scraped. Counters become rates between neighbouring points (a counter that went down was
// reset: its new value is the increase); histogram buckets become a percentile of what was
// observed between neighbouring points, interpolated inside the bucket as Prometheus's
// histogram_quantile does. Pure functions: no DOM.

export function sumValues(list, n) {
  const out = new Array(n).fill(null);
  for (const s of list)
    for (let i = 0; i < n; i++)
      if (s.v[i] != null) out[i] = (out[i] || 0) + s.v[i];
  return out;
}

export function maxValues(list, n) {
  const out = new Array(n).fill(null);
  for (const s of list)
    for (let i = 0; i < n; i++)
      if (s.v[i] != null && (out[i] == null || s.v[i] > out[i])) out[i] = s.v[i];
  return out;
}

// Over k points back (k > 1 smooths the 1 s tier like a Prometheus rate over [k s]).
export function rate(values, t, k = 1) {
  return values.map((v, i) => {
    if (i < k || v == null || values[i - k] == null) return null;
    const dt = t[i] - t[i - k];
    if (!(dt > 0)) return null;
    const d = v - values[i - k];
    return (d >= 0 ? d : v) / dt;
  });
}

// Percentile q of the observations between neighbouring points of a set of bucket series.
export function quantile(buckets, t, q, k = 1) {
  const n = t.length;
  const byLe = new Map();
  for (const s of buckets) {
    const le = s.labels.le === "+Inf" ? Infinity : parseFloat(s.labels.le);
    if (Number.isNaN(le)) continue;
    if (!byLe.has(le)) byLe.set(le, []);
    byLe.get(le).push(s);
  }
  const les = [...byLe.keys()].sort((a, b) => a - b);
  const sums = les.map((le) => sumValues(byLe.get(le), n));
  const out = new Array(n).fill(null);
  for (let i = k; i < n; i++) {
    const counts = sums.map((v) => (v[i] == null || v[i - k] == null ? null : Math.max(0, v[i] - v[i - k])));
    if (counts.some((c) => c == null)) continue;
    const total = counts[counts.length - 1];
    if (!(total > 0) || les[les.length - 1] !== Infinity) continue;
    const rank = q * total;
    let j = counts.findIndex((c) => c >= rank);
    if (j < 0) j = counts.length - 1;
    if (les[j] === Infinity) { out[i] = les.length > 1 ? les[les.length - 2] : null; continue; }
    const lower = j === 0 ? 0 : les[j - 1];
    const below = j === 0 ? 0 : counts[j - 1];
    const inBucket = counts[j] - below;
    out[i] = inBucket > 0 ? lower + (les[j] - lower) * ((rank - below) / inBucket) : les[j];
  }
  return out;
}

function groupBy(list, keyOf) {
  const m = new Map();
  for (const s of list) {
    const k = keyOf(s);
    if (!m.has(k)) m.set(k, []);
    m.get(k).push(s);
  }
  return m;
}

export function computeFigures(j, q) {
  const t = j.t || [];
  const n = t.length;
  const all = j.series || [];
  const named = (name) => all.filter((s) => s.name === name);
  const nonEmpty = (series) => series.filter((s) => s.values.some((v) => v != null));
  const figs = { t };
  // the 1 s tier is averaged over 10 s; the coarser tiers over their own step
  const k = j.step_s > 0 && j.step_s < 10 ? Math.max(1, Math.round(10 / j.step_s)) : 1;
  const rate_ = (values) => rate(values, t, k);
  const quantile_ = (list) => quantile(list, t, q, k);

  figs.chats = { series: nonEmpty([{ label: "accepted chats/s",
    values: rate_(sumValues(named("ingress_jobs_accepted_total"), n)) }]) };

  const lat = [{ label: "ingress accept", values: quantile_(named("ingress_http_request_duration_seconds_bucket")) }];
  for (const [stage, list] of groupBy(named("agenthub_stage_job_seconds_bucket"), (s) => s.labels.stage || "?"))
    lat.push({ label: stage, values: quantile_(list) });
  lat.push({ label: "LLM", values: quantile_(named("llm_call_seconds_bucket")) });
  lat.push({ label: "tools", values: quantile_(named("tool_call_seconds_bucket")) });
  figs.latency = { series: nonEmpty(lat) };

  figs.lag = { series: nonEmpty([...groupBy(named("agenthub_stage_consumer_lag_seconds"),
    (s) => (s.labels.group || "?") + " · " + (s.labels.topic || "?"))].map(([label, list]) =>
    ({ label, values: maxValues(list, n) }))) };

  const http5xx = named("ingress_http_requests_total").filter((s) => /^5/.test(s.labels.status || ""));
  const llmErr = named("llm_calls_total").filter((s) => s.labels.status && s.labels.status !== "ok");
  figs.errors = { series: [
    { label: "HTTP 5xx/s", values: rate_(sumValues(http5xx, n)) },
    { label: "LLM errors/s", values: rate_(sumValues(llmErr, n)) },
    { label: "DLQ/s", values: rate_(sumValues(named("agenthub_stage_dead_letters_total"), n)) },
    { label: "refused streams/s", values: rate_(sumValues([...named("ingress_streams_refused_total"),
      ...named("ingress_streams_refused_caller_total")], n)) },
    { label: "publish failures/s", values: rate_(sumValues(named("ingress_publish_failures_total"), n)) },
  ].filter((s) => s.values.some((v) => v != null)) };

  figs.sse = { series: nonEmpty([...groupBy(named("ingress_sse_streams_open"), (s) => s.target)]
    .map(([label, list]) => ({ label, values: sumValues(list, n) }))) };

  figs.inflight = { series: nonEmpty([...groupBy(named("agenthub_stage_jobs_in_flight"),
    (s) => s.target + (s.labels.stage && s.labels.stage !== s.target ? " (" + s.labels.stage + ")" : ""))]
    .map(([label, list]) => ({ label, values: sumValues(list, n) }))) };

  figs.tokens = { series: nonEmpty([...groupBy(named("usage_tokens_total"), (s) => s.labels.tenant || "?")]
    .map(([label, list]) => ({ label, values: rate_(sumValues(list, n)) }))) };

  figs.cost = { series: nonEmpty([...groupBy(named("usage_cost_usd_total"), (s) => s.labels.tenant || "?")]
    .map(([label, list]) => ({ label, values: rate_(sumValues(list, n)).map((v) => (v == null ? null : v * 3600)) }))) };
  return figs;
}
