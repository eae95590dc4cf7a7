// figures.spec.mjs — the dashboard's arithmetic (web/src/monitor/figures.js) on known input,
// in Node (no browser): counter rates (with a reset), histogram percentiles interpolated as
// Prometheus's histogram_quantile does, gaps staying gaps.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { check, finish, ROOT } from "./lib.mjs";

const F = await import(pathToFileURL(join(ROOT, "web", "src", "monitor", "figures.js")).href);
const t = [0, 1, 2, 3, 4];

const r = F.rate([0, 2, 6, 1, null], t);
check("rate between neighbours", JSON.stringify(r) === JSON.stringify([null, 2, 4, 1, null]), JSON.stringify(r));
const r2 = F.rate([0, 2, 6, 8, 10], t, 2);
check("rate over k points", JSON.stringify(r2) === JSON.stringify([null, null, 3, 3, 2]), JSON.stringify(r2));

// 10 observations between points 0 and 1: 4 under 0.1, 4 in (0.1, 0.5], 2 in (0.5, 1]
const b = (le, v) => ({ labels: { le }, v });
const buckets = [b("0.1", [0, 4, 4]), b("0.5", [0, 8, 8]), b("1", [0, 10, 10]), b("+Inf", [0, 10, 10])];
const q50 = F.quantile(buckets, [0, 1, 2], 0.5);
check("p50 interpolated in its bucket", q50[0] === null && Math.abs(q50[1] - 0.2) < 1e-9 && q50[2] === null,
  JSON.stringify(q50));
const q95 = F.quantile(buckets, [0, 1, 2], 0.95);
check("p95 interpolated in its bucket", Math.abs(q95[1] - 0.875) < 1e-9, JSON.stringify(q95));
// two processes' buckets add up
const twice = F.quantile([...buckets, ...buckets], [0, 1, 2], 0.5);
check("buckets of several processes are summed", Math.abs(twice[1] - 0.2) < 1e-9, JSON.stringify(twice));

const figs = F.computeFigures({ step_s: 1, t, series: [
  { target: "ingress", name: "ingress_jobs_accepted_total", labels: {}, v: [0, 1, 2, 3, 4] },
  { target: "agent-0", name: "agenthub_stage_jobs_in_flight", labels: { stage: "agent" }, v: [0, 1, 2, 1, 0] },
  { target: "router", name: "agenthub_stage_consumer_lag_seconds", labels: { group: "g", topic: "x" }, v: [0, 0.5, null, 0, 0] },
] }, 0.95);
check("accepted chats/s (averaged over 10 s on the 1 s tier: no point yet)", figs.chats.series.length === 0,
  JSON.stringify(figs.chats));
check("jobs in flight per process", figs.inflight.series[0].label === "agent-0 (agent)" &&
  JSON.stringify(figs.inflight.series[0].values) === "[0,1,2,1,0]", JSON.stringify(figs.inflight));
check("lag by group and topic keeps its gap", JSON.stringify(figs.lag.series[0].values) === "[0,0.5,null,0,0]",
  JSON.stringify(figs.lag));
const coarse = F.computeFigures({ step_s: 10, t: [0, 10, 20], series: [
  { target: "ingress", name: "ingress_jobs_accepted_total", labels: {}, v: [0, 10, 30] }] }, 0.95);
check("accepted chats/s on a 10 s tier", JSON.stringify(coarse.chats.series[0].values) === "[null,1,2]",
  JSON.stringify(coarse.chats));
finish();
