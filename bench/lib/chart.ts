import type { BenchReport } from './report.js';

const ROW = 26;
const LEFT = 420;
const BAR_W = 360;
const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * An SVG chart of every comparison in `report`: for each case, slabcast's throughput as a multiple
 * of its peer's (left panel; above 1× is better) and its server CPU per operation as a fraction of the
 * peer's (right panel; below 1× is better). Log scale, so 0.1× and 10× sit at equal distances from 1×.
 * A bar is the median repeat's ratio; with several repeats a line across it runs from the lowest
 * repeat's to the highest's, so a row whose line crosses 1× is one the run could not separate.
 */
export function renderChart(report: BenchReport): string {
  const rows = report.scenarios.flatMap((s) => s.comparisons.map((c) => ({
    label: `${s.name} · ${c.case} · ${c.tool}`,
    peer: c.baseline,
    ops: c.opsPerSecRatio,
    cpu: c.cpuPerOpRatio,
    range: { ops: c.opsPerSecRange, cpu: c.cpuPerOpRange },
    caveat: c.caveat,
  })));
  const height = 70 + rows.length * ROW + 40;
  const width = LEFT + 2 * BAR_W + 80;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">slabcast vs peer, same run (${escape(report.machine.cpuModel)}, ${report.machine.cores} cores, Node ${escape(report.machine.node)})</text>`,
    `<text x="${LEFT}" y="45" font-weight="bold">throughput ratio (higher is better)</text>`,
    `<text x="${LEFT + BAR_W + 40}" y="45" font-weight="bold">server CPU per op ratio (lower is better)</text>`,
  ];
  // log10 scale from 0.1× to 100× for throughput, 0.01× to 10× for CPU.
  const scale = (v: number, lo: number, hi: number): number => (Math.log10(Math.min(Math.max(v, lo), hi)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo));
  const panels = [
    { x: LEFT, lo: 0.1, hi: 100, key: 'ops' as const, color: '#2b7bb9' },
    { x: LEFT + BAR_W + 40, lo: 0.01, hi: 10, key: 'cpu' as const, color: '#d9822b' },
  ];
  for (const p of panels) {
    const one = p.x + scale(1, p.lo, p.hi) * BAR_W;
    out.push(`<line x1="${one}" y1="55" x2="${one}" y2="${60 + rows.length * ROW}" stroke="#444" stroke-dasharray="3,3"/>`);
    out.push(`<text x="${one - 8}" y="${75 + rows.length * ROW}">1×</text>`);
  }
  rows.forEach((r, i) => {
    const y = 60 + i * ROW;
    out.push(`<text x="10" y="${y + 16}">${escape(r.label)} (vs ${escape(r.peer)})${r.caveat === '' ? '' : ' *'}</text>`);
    for (const p of panels) {
      const v = r[p.key];
      if (v === null) continue;
      const w = Math.max(2, scale(v, p.lo, p.hi) * BAR_W);
      out.push(`<rect x="${p.x}" y="${y + 4}" width="${w.toFixed(1)}" height="${ROW - 8}" fill="${p.color}"/>`);
      let labelX = p.x + w + 4;
      const range = r.range[p.key];
      if (range !== null) {
        const x1 = (p.x + scale(range[0], p.lo, p.hi) * BAR_W).toFixed(1);
        const x2 = (p.x + scale(range[1], p.lo, p.hi) * BAR_W).toFixed(1);
        const mid = y + ROW / 2;
        out.push(`<path class="range" d="M${x1} ${mid}H${x2}M${x1} ${mid - 4}V${mid + 4}M${x2} ${mid - 4}V${mid + 4}" stroke="#222" stroke-width="1.2" fill="none"/>`);
        labelX = Math.max(labelX, Number(x2) + 4);
      }
      out.push(`<text x="${labelX.toFixed(1)}" y="${y + 16}">${v >= 10 ? v.toFixed(0) : v.toFixed(2)}×</text>`);
    }
  });
  out.push(`<text x="10" y="${height - 12}" fill="#555">bars: the median repeat's ratio; lines: the lowest to the highest repeat. * the ratio has a caveat (client-bound or contended): see the report's tables</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
