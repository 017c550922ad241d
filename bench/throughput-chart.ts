/**
 * An SVG bar chart of records/s by batch size: bare base64 + JSON.parse beside the speed
 * handler's whole CPU path, from the metrics of one bench run (no charting dependency).
 */
export interface ThroughputPoint {
  readonly batchSize: number;
  readonly bareParse: number;
  readonly handler: number;
}

const WIDTH = 640;
const HEIGHT = 320;
const MARGIN = { top: 40, right: 20, bottom: 50, left: 90 };

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

export function throughputChart(points: readonly ThroughputPoint[], title: string): string {
  const max = Math.max(1, ...points.flatMap((p) => [p.bareParse, p.handler]));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const group = plotW / Math.max(1, points.length);
  const bar = group / 3;
  const y = (v: number) => MARGIN.top + plotH - (v / max) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="14">${escape(title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    parts.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 6}" y="${y(v) + 4}" text-anchor="end">${Math.round(v).toLocaleString('en-US')}</text>`,
    );
  }
  points.forEach((p, i) => {
    const x0 = MARGIN.left + i * group + bar / 2;
    parts.push(
      `<rect x="${x0}" y="${y(p.bareParse)}" width="${bar}" height="${MARGIN.top + plotH - y(p.bareParse)}" fill="#9aa5b1"/>`,
      `<rect x="${x0 + bar}" y="${y(p.handler)}" width="${bar}" height="${MARGIN.top + plotH - y(p.handler)}" fill="#2f6fdf"/>`,
      `<text x="${x0 + bar}" y="${HEIGHT - MARGIN.bottom + 18}" text-anchor="middle">batch ${p.batchSize.toLocaleString('en-US')}</text>`,
    );
  });
  const legendY = HEIGHT - 12;
  parts.push(
    `<rect x="${MARGIN.left}" y="${legendY - 10}" width="12" height="12" fill="#9aa5b1"/>`,
    `<text x="${MARGIN.left + 18}" y="${legendY}">bare base64 + JSON.parse</text>`,
    `<rect x="${MARGIN.left + 200}" y="${legendY - 10}" width="12" height="12" fill="#2f6fdf"/>`,
    `<text x="${MARGIN.left + 218}" y="${legendY}">speed handler (records/s)</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}
