import type { SoakSample, SoakSummary } from './soak';

/**
 * The soak's plot as a self-contained SVG (no plotting dependency): RSS and the data dir's size
 * over time on one axis (MB), the speed layer's lag in records on a second one, and the two
 * windows the target compares shaded.
 */
export function rssPlotSvg(samples: readonly SoakSample[], summary: SoakSummary): string {
  const width = 900;
  const height = 420;
  const left = 70;
  const right = 80;
  const top = 50;
  const bottom = 50;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const tMax = Math.max(60, ...samples.map((s) => s.t));
  const mbMax = niceCeil(Math.max(1, ...samples.flatMap((s) => [s.rssMb, s.dataDirMb])));
  const lagMax = niceCeil(Math.max(10, ...samples.map((s) => s.speedLagRecords)));
  const x = (t: number) => left + (t / tMax) * plotW;
  const yMb = (v: number) => top + plotH - (v / mbMax) * plotH;
  const yLag = (v: number) => top + plotH - (v / lagMax) * plotH;
  const line = (pick: (s: SoakSample) => number, y: (v: number) => number) =>
    samples.map((s, i) => `${i === 0 ? 'M' : 'L'}${x(s.t).toFixed(1)},${y(pick(s)).toFixed(1)}`).join(' ');
  const warm = summary.warmupMinutes * 60;
  const windowS = summary.windowMinutes * 60;
  const lastT = samples.length > 0 ? samples[samples.length - 1].t : 0;
  const band = (from: number, to: number, label: string) =>
    `<rect x="${x(from).toFixed(1)}" y="${top}" width="${Math.max(0, x(to) - x(from)).toFixed(1)}" height="${plotH}" fill="#eef3fb"/>` +
    `<text x="${((x(from) + x(to)) / 2).toFixed(1)}" y="${top + 14}" text-anchor="middle" font-size="11" fill="#555">${label}</text>`;
  const ticks = (n: number) => Array.from({ length: n + 1 }, (_, i) => i / n);
  const grid = ticks(5)
    .map((f) => {
      const y = top + plotH - f * plotH;
      return (
        `<line x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}" stroke="#ddd"/>` +
        `<text x="${left - 6}" y="${y + 4}" text-anchor="end" font-size="11">${Math.round(f * mbMax)}</text>` +
        `<text x="${left + plotW + 6}" y="${y + 4}" font-size="11" fill="#b45309">${Math.round(f * lagMax)}</text>`
      );
    })
    .join('');
  const xTicks = ticks(6)
    .map((f) => {
      const t = f * tMax;
      return `<text x="${x(t).toFixed(1)}" y="${top + plotH + 18}" text-anchor="middle" font-size="11">${(t / 60).toFixed(0)}</text>`;
    })
    .join('');
  const title =
    `npm start -- --rate ${summary.rate}: RSS ${summary.soak_rss_mb_start} -> ${summary.soak_rss_mb_end} MB ` +
    `(max ${summary.soak_rss_mb_max}); last/first ${summary.windowMinutes}-min window ${summary.lastToFirstRatio}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${left}" y="22" font-size="14">${escape(title)}</text>
${windowS > 0 ? band(warm, warm + windowS, 'first window') + band(lastT - windowS, lastT, 'last window') : ''}
${grid}${xTicks}
<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>
<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>
<text x="${left + plotW / 2}" y="${height - 10}" text-anchor="middle" font-size="12">minutes</text>
<text x="16" y="${top + plotH / 2}" font-size="12" transform="rotate(-90 16 ${top + plotH / 2})" text-anchor="middle">MB</text>
<text x="${width - 14}" y="${top + plotH / 2}" font-size="12" fill="#b45309" transform="rotate(90 ${width - 14} ${top + plotH / 2})" text-anchor="middle">speed lag (records)</text>
<path d="${line((s) => s.rssMb, yMb)}" fill="none" stroke="#1d4ed8" stroke-width="2"/>
<path d="${line((s) => s.dataDirMb, yMb)}" fill="none" stroke="#15803d" stroke-width="1.5" stroke-dasharray="5 3"/>
<path d="${line((s) => s.speedLagRecords, yLag)}" fill="none" stroke="#b45309" stroke-width="1"/>
<g font-size="12"><rect x="${left + 10}" y="${top + 22}" width="12" height="3" fill="#1d4ed8"/><text x="${left + 28}" y="${top + 27}">RSS of the runtime (MB)</text>
<rect x="${left + 10}" y="${top + 38}" width="12" height="3" fill="#15803d"/><text x="${left + 28}" y="${top + 43}">data dir on disk (MB)</text>
<rect x="${left + 10}" y="${top + 54}" width="12" height="3" fill="#b45309"/><text x="${left + 28}" y="${top + 59}">speed lag (records, right axis)</text></g>
</svg>
`;
}

function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
