// The series chart: batch part and speed part as bars in two colours, the served value as a line,
// and the cutoff (or Kappa's handoff) as a vertical line. uPlot, served from node_modules.
import uPlot from './uPlot.esm.js';

const css = getComputedStyle(document.documentElement);
const colour = (name) => css.getPropertyValue(name).trim();

export class PartsChart {
  constructor(element) {
    this.element = element;
    this.lineMs = null;
    this.lineLabel = 'cutoff';
    this.range = [0, 1];
    // Side by side in each bucket, each from zero: batch left of the bucket's middle, speed right
    // (stacking would be right for count and sum only, not for min, max or avg).
    const bars = (align) => uPlot.paths.bars({ size: [0.45, 40, 1], align });
    this.plot = new uPlot(
      {
        width: this.width(),
        height: 300,
        scales: { x: { time: true, range: () => this.range } },
        series: [
          {},
          {
            label: 'batch part',
            stroke: colour('--batch'),
            fill: colour('--batch'),
            paths: bars(-1),
            points: { show: false },
          },
          {
            label: 'speed part',
            stroke: colour('--speed'),
            fill: colour('--speed'),
            paths: bars(1),
            points: { show: false },
          },
          {
            label: 'served',
            stroke: colour('--served'),
            width: 2,
            points: { show: true, size: 4 },
            spanGaps: false,
          },
        ],
        legend: { show: false },
        hooks: { draw: [(u) => this.drawLine(u)] },
      },
      [[], [], [], []],
      element,
    );
    new ResizeObserver(() => this.plot.setSize({ width: this.width(), height: 300 })).observe(element);
  }

  width() {
    return Math.max(300, this.element.clientWidth);
  }

  drawLine(u) {
    if (this.lineMs === null) {
      delete this.element.dataset.lineX;
      return;
    }
    const seconds = this.lineMs / 1000;
    const x = u.valToPos(seconds, 'x', true);
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = colour('--cutoff');
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.fillStyle = colour('--cutoff');
    ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
    ctx.fillText(
      `${this.lineLabel} ${new Date(this.lineMs).toLocaleTimeString()}`,
      x + 4 * devicePixelRatio,
      u.bbox.top + 14 * devicePixelRatio,
    );
    ctx.restore();
    // Where the line is, in CSS pixels, for whoever checks the page (the browser test does).
    this.element.dataset.lineX = String(u.valToPos(seconds, 'x'));
    this.element.dataset.plotWidth = String(u.bbox.width / devicePixelRatio);
  }

  /**
   * Shows buckets `[{start (ms), batch, speed, served}]` (values or null) `widthMs` wide over [fromMs, toMs),
   * with the vertical line at `lineMs` (null: none).
   */
  show({ buckets, widthMs, fromMs, toMs, lineMs, lineLabel }) {
    this.range = [fromMs / 1000, toMs / 1000];
    this.lineMs = lineMs;
    this.lineLabel = lineLabel;
    // Every bucket of the range, null where there is no data, so the line breaks at a gap
    // instead of joining buckets minutes apart. Each bucket sits at its middle on the axis.
    const byStart = new Map(buckets.map((b) => [b.start, b]));
    const grid = [];
    for (let start = Math.floor(fromMs / widthMs) * widthMs; start < toMs; start += widthMs)
      grid.push(byStart.get(start) ?? { start, batch: null, speed: null, served: null });
    const data = [
      grid.map((b) => (b.start + widthMs / 2) / 1000),
      grid.map((b) => b.batch),
      grid.map((b) => b.speed),
      grid.map((b) => b.served),
    ];
    const drawn = (i) => data[i].filter((v) => v !== null && v !== undefined).length;
    Object.assign(this.element.dataset, {
      lineMs: lineMs === null ? '' : String(lineMs),
      fromMs: String(fromMs),
      toMs: String(toMs),
      buckets: String(buckets.length),
      batchBuckets: String(drawn(1)),
      speedBuckets: String(drawn(2)),
    });
    this.plot.setData(data);
  }
}
