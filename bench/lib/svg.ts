import type { ScenarioResult } from "./runner";

/**
 * A dependency-free SVG: two horizontal bar charts side by side (throughput, p99 latency), one row per scenario of
 * the no-latency pass. Small and diff-friendly, so it can be committed next to latest.md.
 */
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

interface Panel {
  title: string;
  value: (r: ScenarioResult) => number;
  format: (n: number) => string;
  color: string;
}

const panels: Panel[] = [
  {
    title: "req/s (higher is better)",
    value: (r) => r.load.rps,
    format: (n) => Math.round(n).toString(),
    color: "#2f7ed8",
  },
  {
    title: "p99 latency, ms (lower is better)",
    value: (r) => r.load.latency.p99,
    format: (n) => n.toFixed(1),
    color: "#e4572e",
  },
];

/** `footer`: extra lines under the charts (the acceptance targets, one per line). */
export function renderSvg(rows: ScenarioResult[], subtitle: string, footer: string[] = []): string {
  const labelW = 120;
  const panelW = 300;
  const gap = 40;
  const rowH = 26;
  const top = 66;
  const width = labelW + panels.length * (panelW + gap);
  const footerTop = top + rows.length * rowH + 24;
  const height = footerTop + (footer.length ? footer.length * 18 + 10 : -8);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="8" y="18" font-size="14" font-weight="bold">edgepay benchmark</text>`,
    `<text x="8" y="34" fill="#555">${esc(subtitle)}</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${labelW - 8}" y="${y + 16}" text-anchor="end">${esc(r.name)}</text>`);
  });
  panels.forEach((p, k) => {
    const x0 = labelW + k * (panelW + gap);
    const max = Math.max(...rows.map(p.value), 1e-9);
    parts.push(`<text x="${x0}" y="${top - 8}" font-weight="bold">${esc(p.title)}</text>`);
    rows.forEach((r, i) => {
      const v = p.value(r);
      const w = Math.max(1, Math.round((v / max) * (panelW - 60)));
      const y = top + i * rowH;
      parts.push(
        `<rect x="${x0}" y="${y + 4}" width="${w}" height="${rowH - 8}" fill="${p.color}"/>`,
        `<text x="${x0 + w + 4}" y="${y + 16}">${esc(p.format(v))}</text>`,
      );
    });
  });
  footer.forEach((line, i) => {
    const y = footerTop + i * 18;
    const color = line.startsWith("✗") ? "#c0392b" : line.startsWith("✓") ? "#1e8449" : "#333";
    const weight = i === 0 ? ' font-weight="bold"' : "";
    parts.push(`<text x="8" y="${y}" fill="${color}"${weight}>${esc(line)}</text>`);
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
