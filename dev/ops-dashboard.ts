/**
 * The ops dashboard: one self-contained HTML page (inline SVG, no script, no request to anywhere) drawn from the
 * results of docs/operations.md's queries, written by `npm run ops:report -- --html <file>`. Each chart reads one
 * named query; a chart whose query returned nothing says so instead of drawing an empty frame.
 */
type Row = Record<string, unknown>;

interface Series {
  name: string;
  values: Map<string, number>;
}

interface Chart {
  id: string;
  title: string;
  query: string;
  unit: "ms" | "ratio" | "count";
  series: Series[];
}

const palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"];
const esc = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
const num = (v: unknown) => {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
};

/** Rows grouped into one series per `key` value, `column` against the `hour` column. */
function seriesBy(rows: Row[], key: string | undefined, column: string, limit = 6): Series[] {
  const groups = new Map<string, Map<string, number>>();
  const weight = new Map<string, number>();
  for (const r of rows) {
    const name = key ? String(r[key] ?? "") : column;
    const values = groups.get(name) ?? new Map<string, number>();
    values.set(String(r.hour ?? ""), (values.get(String(r.hour ?? "")) ?? 0) + num(r[column]));
    groups.set(name, values);
    weight.set(name, (weight.get(name) ?? 0) + num(r.requests ?? r[column]));
  }
  return [...groups.entries()]
    .sort((a, b) => (weight.get(b[0]) ?? 0) - (weight.get(a[0]) ?? 0))
    .slice(0, limit)
    .map(([name, values]) => ({ name, values }));
}

function charts(results: Map<string, Row[]>): Chart[] {
  const rows = (q: string) => results.get(q) ?? [];
  const routes = seriesBy(rows("latency_by_route_hourly"), "route", "requests", 4).map((s) => s.name);
  const perRoute = routes.map<Chart>((route) => {
    const mine = rows("latency_by_route_hourly").filter((r) => r.route === route);
    return {
      id: `latency-${route}`,
      title: `Latency ${route} (p50 / p95 / p99)`,
      query: "latency_by_route_hourly",
      unit: "ms",
      series: ["p50_ms", "p95_ms", "p99_ms"].flatMap((c) => seriesBy(mine, undefined, c)),
    };
  });
  const queue = rows("queue_hourly");
  return [
    ...(perRoute.length > 0
      ? perRoute
      : [
          {
            id: "latency",
            title: "Latency per route",
            query: "latency_by_route_hourly",
            unit: "ms" as const,
            series: [],
          },
        ]),
    {
      id: "error-rate",
      title: "Error rate (5xx share)",
      query: "error_rate_hourly",
      unit: "ratio",
      series: seriesBy(rows("error_rate_hourly"), undefined, "error_rate"),
    },
    {
      id: "cache-hit-ratio",
      title: "Cache hit ratio",
      query: "cache_hit_ratio_hourly",
      unit: "ratio",
      series: seriesBy(rows("cache_hit_ratio_hourly"), undefined, "hit_ratio"),
    },
    {
      id: "rate-limited",
      title: "429s per tenant",
      query: "rate_limited_by_tenant",
      unit: "count",
      series: seriesBy(rows("rate_limited_by_tenant"), "tenant", "rate_limited"),
    },
    {
      id: "queue-outcomes",
      title: "Queue outcomes",
      query: "queue_hourly",
      unit: "count",
      series: ["acked", "retries", "dead_lettered", "errors"].flatMap((c) => seriesBy(queue, undefined, c)),
    },
    {
      id: "dead-letters",
      title: "Dead letters (arrivals on -dlq queues)",
      query: "dead_letters_hourly",
      unit: "count",
      series: seriesBy(rows("dead_letters_hourly"), "queue", "dead_letters"),
    },
  ];
}

const format = (unit: Chart["unit"], v: number) =>
  unit === "ratio"
    ? `${(v * 100).toFixed(v < 0.1 ? 2 : 1)} %`
    : unit === "ms"
      ? `${v.toFixed(v < 10 ? 1 : 0)} ms`
      : String(Math.round(v));

/** One line chart as inline SVG: x = the hours present in any series, y from 0 to the largest value. */
function svg(chart: Chart): string {
  const width = 560;
  const height = 220;
  const pad = { left: 64, right: 12, top: 12, bottom: 36 };
  const xs = [...new Set(chart.series.flatMap((s) => [...s.values.keys()]))].sort();
  const max = Math.max(chart.unit === "ratio" ? 1 : 0, ...chart.series.flatMap((s) => [...s.values.values()])) || 1;
  const x = (i: number) =>
    pad.left +
    (xs.length <= 1 ? (width - pad.left - pad.right) / 2 : (i * (width - pad.left - pad.right)) / (xs.length - 1));
  const y = (v: number) => pad.top + (1 - v / max) * (height - pad.top - pad.bottom);
  const grid = [0, 0.5, 1]
    .map((f) => {
      const v = max * f;
      return `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/><text x="${pad.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#6b7280">${esc(format(chart.unit, v))}</text>`;
    })
    .join("");
  const labels = [0, xs.length - 1]
    .filter((i, k, a) => i >= 0 && a.indexOf(i) === k)
    .map(
      (i) =>
        `<text x="${x(i)}" y="${height - 14}" text-anchor="middle" font-size="11" fill="#6b7280">${esc(xs[i]?.slice(0, 16) ?? "")}</text>`,
    )
    .join("");
  const lines = chart.series
    .map((s, k) => {
      const color = palette[k % palette.length];
      const points = xs.flatMap((h, i) => (s.values.has(h) ? [[x(i), y(s.values.get(h) ?? 0)] as const] : []));
      const path = points.map(([px, py], i) => `${i === 0 ? "M" : "L"}${px.toFixed(1)},${py.toFixed(1)}`).join(" ");
      const dots = points
        .map(([px, py]) => `<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="3" fill="${color}"/>`)
        .join("");
      return `<g class="series" data-series="${esc(s.name)}"><path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>${dots}</g>`;
    })
    .join("");
  const legend = chart.series
    .map((s, k) => `<span class="key"><i style="background:${palette[k % palette.length]}"></i>${esc(s.name)}</span>`)
    .join("");
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(chart.title)}"><title>${esc(chart.title)}</title>${grid}${labels}${lines}</svg><div class="legend">${legend}</div>`;
}

export function dashboard(o: {
  dataset: string;
  hours: number;
  bucketMinutes: number;
  results: Map<string, Row[]>;
  alerts: string;
}): string {
  const figures = charts(o.results)
    .map((c) => {
      const body = c.series.some((s) => s.values.size > 0)
        ? svg(c)
        : `<p class="empty">No data for <code>${esc(c.query)}</code> in this window.</p>`;
      return `<figure data-chart="${esc(c.id)}"><figcaption>${esc(c.title)} <small>${esc(c.query)}</small></figcaption>${body}</figure>`;
    })
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgepay ops — ${esc(o.dataset)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#111827;background:#f9fafb}
h1{font-size:20px;margin:0 0 4px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:16px}
figure{margin:0;background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px}
figcaption{font-weight:600;margin-bottom:8px}figcaption small{color:#6b7280;font-weight:400;margin-left:6px}
.legend{display:flex;flex-wrap:wrap;gap:10px;font-size:12px;color:#374151}.key i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
pre{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px}.empty{color:#6b7280}
</style></head><body>
<h1>edgepay operations — ${esc(o.dataset)}</h1>
<p>Last ${o.hours} h, in ${o.bucketMinutes === 60 ? "hourly" : `${o.bucketMinutes}-minute`} buckets, weighted by <code>_sample_interval</code>. Queries: docs/operations.md.</p>
<h2>Alerts</h2><pre>${esc(o.alerts)}</pre>
<div class="grid">
${figures}
</div></body></html>
`;
}
