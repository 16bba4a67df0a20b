// Small self-contained SVG charts (strings, no DOM, no library) shared by the tutor's run chart and the
// browser benchmark's HTML report: grouped bars, stacked bars and lines with points.

export interface Series {
  name: string;
  color: string;
  values: number[];
}

export interface ChartSpec {
  title: string;
  /** One label per category (bars) or per x value (lines). */
  labels: string[];
  series: Series[];
  unit?: string;
  width?: number;
  height?: number;
}

const PAD = { left: 56, right: 12, top: 28, bottom: 46 };

function esc(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A "nice" upper bound for the axis: 1, 2 or 5 times a power of ten. */
function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function formatTick(v: number): string {
  if (v >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  return String(+v.toFixed(2));
}

function frame(spec: ChartSpec, maxValue: number, body: (x0: number, plotW: number, y: (v: number) => number) => string): string {
  const width = spec.width ?? 480;
  const height = spec.height ?? 240;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const top = niceMax(maxValue);
  // Round ticks: 2 splits in 4 (0.5 steps), 1, 5 and 10 in 5.
  const divisions = Math.round(top / 10 ** Math.floor(Math.log10(top))) === 2 ? 4 : 5;
  const y = (v: number) => PAD.top + plotH - (Math.max(0, v) / top) * plotH;
  let grid = '';
  for (let i = 0; i <= divisions; i++) {
    const v = (top * i) / divisions;
    grid += `<line x1="${PAD.left}" x2="${width - PAD.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`;
    grid += `<text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#555">${formatTick(v)}</text>`;
  }
  const legend = spec.series
    .map(
      (s, i) =>
        `<rect x="${PAD.left + i * 110}" y="${height - 14}" width="10" height="10" fill="${s.color}"/>` +
        `<text x="${PAD.left + i * 110 + 14}" y="${height - 5}" font-size="11" fill="#333">${esc(s.name)}</text>`,
    )
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(spec.title)}" class="chart">` +
    `<text x="${PAD.left}" y="16" font-size="13" font-weight="600" fill="#222">${esc(spec.title)}${spec.unit ? ` (${esc(spec.unit)})` : ''}</text>` +
    grid +
    body(PAD.left, plotW, y) +
    legend +
    '</svg>'
  );
}

function xLabels(labels: string[], x0: number, slot: number, bottom: number): string {
  const every = Math.max(1, Math.ceil(labels.length / 12));
  return labels
    .map((label, i) =>
      i % every ? '' : `<text x="${x0 + slot * (i + 0.5)}" y="${bottom + 14}" text-anchor="middle" font-size="10" fill="#555">${esc(label)}</text>`,
    )
    .join('');
}

/** Bars side by side per category, one per series. */
export function groupedBars(spec: ChartSpec): string {
  const max = Math.max(0, ...spec.series.flatMap((s) => s.values.filter(Number.isFinite)));
  return frame(spec, max, (x0, plotW, y) => {
    const slot = plotW / Math.max(1, spec.labels.length);
    const barW = (slot * 0.8) / Math.max(1, spec.series.length);
    let out = '';
    spec.labels.forEach((label, i) =>
      spec.series.forEach((s, j) => {
        const v = s.values[i];
        if (!Number.isFinite(v)) return;
        const x = x0 + slot * i + slot * 0.1 + barW * j;
        out += `<rect x="${x}" y="${y(v)}" width="${barW}" height="${y(0) - y(v)}" fill="${s.color}"><title>${esc(`${label} ${s.name}: ${formatTick(v)}${spec.unit ? ' ' + spec.unit : ''}`)}</title></rect>`;
      }),
    );
    return out + xLabels(spec.labels, x0, slot, y(0));
  });
}

/** One bar per category, the series stacked on top of each other. */
export function stackedBars(spec: ChartSpec): string {
  const totals = spec.labels.map((_, i) => spec.series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  return frame(spec, Math.max(0, ...totals), (x0, plotW, y) => {
    const slot = plotW / Math.max(1, spec.labels.length);
    let out = '';
    spec.labels.forEach((label, i) => {
      let base = 0;
      for (const s of spec.series) {
        const v = s.values[i] || 0;
        out += `<rect x="${x0 + slot * i + slot * 0.15}" y="${y(base + v)}" width="${slot * 0.7}" height="${y(base) - y(base + v)}" fill="${s.color}"><title>${esc(`${label} ${s.name}: ${formatTick(v)}`)}</title></rect>`;
        base += v;
      }
    });
    return out + xLabels(spec.labels, x0, slot, y(0));
  });
}

/** Lines with points, x positions evenly spaced by label. */
export function lines(spec: ChartSpec): string {
  const max = Math.max(0, ...spec.series.flatMap((s) => s.values.filter(Number.isFinite)));
  return frame(spec, max, (x0, plotW, y) => {
    const slot = plotW / Math.max(1, spec.labels.length);
    let out = '';
    for (const s of spec.series) {
      const points = s.values.map((v, i) => [x0 + slot * (i + 0.5), y(v)] as const).filter(([, py]) => Number.isFinite(py));
      out += `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${points.map((p) => p.join(',')).join(' ')}"/>`;
      out += points
        .map(
          ([px, py], i) =>
            `<circle cx="${px}" cy="${py}" r="3.5" fill="${s.color}"><title>${esc(`${spec.labels[i]} ${s.name}: ${formatTick(s.values[i])}`)}</title></circle>`,
        )
        .join('');
    }
    return out + xLabels(spec.labels, x0, slot, y(0));
  });
}

export const MODE_COLORS = { fasttts: '#1d4e89', baseline: '#e08a1e', generator: '#3a7d44', verifier: '#9b4dca' } as const;
