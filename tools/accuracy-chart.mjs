// The README's accuracy chart: accuracy against n (log scale) for each search method, greedy as a
// dashed line, from the rows tools/accuracy-table.mjs writes. Plain SVG, no dependencies.
// Usage: node tools/accuracy-chart.mjs bench-results/accuracy.json [more.json ...] --out docs/accuracy.svg
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const COLORS = { majority: '#8c8c8c', 'best-of-n': '#d08c2b', beam: '#1d4e89', dvts: '#3a9a5b' };
const NAMES = { majority: 'majority', 'best-of-n': 'best-of-N (PRM)', beam: 'beam search (PRM)', dvts: 'DVTS (PRM)' };

export function accuracyChartSvg(rows, title) {
  const W = 700,
    H = 360,
    L = 56,
    R = 220,
    T = 36,
    B = 44;
  const greedy = rows.find((r) => r.method === 'greedy');
  const methods = [...new Set(rows.filter((r) => r.method !== 'greedy').map((r) => r.method))];
  const ns = [...new Set(rows.filter((r) => r.method !== 'greedy').map((r) => r.n))].sort((a, b) => a - b);
  const lo = Math.log2(ns[0] ?? 1),
    hi = Math.log2(ns[ns.length - 1] ?? 2);
  const x = (n) => L + ((Math.log2(n) - lo) / Math.max(hi - lo, 1)) * (W - L - R);
  const y = (acc) => T + (1 - acc) * (H - T - B);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${L}" y="20" font-size="14" font-weight="bold">${title}</text>`,
  ];
  for (let a = 0; a <= 1.0001; a += 0.2) {
    out.push(
      `<line x1="${L}" x2="${W - R}" y1="${y(a)}" y2="${y(a)}" stroke="#e3e3e3"/>`,
      `<text x="${L - 8}" y="${y(a) + 4}" text-anchor="end">${Math.round(a * 100)}%</text>`,
    );
  }
  if (ns.length > 1) {
    for (const n of ns) out.push(`<text x="${x(n)}" y="${H - B + 18}" text-anchor="middle">${n}</text>`);
    out.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">n (samples / beams)</text>`);
  }
  let legendY = T + 10;
  const legend = (color, label, dashed) => {
    out.push(
      `<line x1="${W - R + 14}" x2="${W - R + 38}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="2.5"${dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${W - R + 44}" y="${legendY + 4}">${label}</text>`,
    );
    legendY += 20;
  };
  if (greedy) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(greedy.accuracy)}" y2="${y(greedy.accuracy)}" stroke="#c0392b" stroke-width="2" stroke-dasharray="6 4"/>`);
    legend('#c0392b', `greedy ${Math.round(greedy.accuracy * 100)}%`, true);
  }
  if (ns.length === 1) {
    // One n: a bar per method.
    const slot = (W - L - R) / Math.max(methods.length, 1);
    methods.forEach((m, i) => {
      const r = rows.find((x) => x.method === m);
      const color = COLORS[m] ?? '#444';
      const x0 = L + i * slot + slot * 0.2;
      out.push(
        `<rect x="${x0}" y="${y(r.accuracy)}" width="${slot * 0.6}" height="${y(0) - y(r.accuracy)}" fill="${color}"><title>${m} n = ${r.n}: ${(100 * r.accuracy).toFixed(1)}%</title></rect>`,
        `<text x="${x0 + slot * 0.3}" y="${y(r.accuracy) - 6}" text-anchor="middle">${(100 * r.accuracy).toFixed(1)}%</text>`,
      );
      legend(color, `${NAMES[m] ?? m}, n = ${r.n}`);
    });
    out.push('</svg>');
    return out.join('\n') + '\n';
  }
  for (const m of methods) {
    const pts = rows.filter((r) => r.method === m).sort((a, b) => a.n - b.n);
    const color = COLORS[m] ?? '#444';
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${pts.map((r) => `${x(r.n)},${y(r.accuracy)}`).join(' ')}"/>`);
    for (const r of pts)
      out.push(
        `<circle cx="${x(r.n)}" cy="${y(r.accuracy)}" r="3.5" fill="${color}"><title>${m} n = ${r.n}: ${(100 * r.accuracy).toFixed(1)}%</title></circle>`,
      );
    legend(color, NAMES[m] ?? m);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    options: { out: { type: 'string', default: 'docs/accuracy.svg' }, title: { type: 'string' } },
    allowPositionals: true,
  });
  // Later files win for the same (method, n): a rerun replaces a row.
  const byKey = new Map();
  let limit = 0;
  for (const file of positionals) {
    const data = JSON.parse(readFileSync(file, 'utf8'));
    limit = data.limit ?? limit;
    for (const r of data.rows) byKey.set(`${r.method}:${r.n}`, r);
  }
  const title = values.title ?? `Bundled models, first ${limit} test problems (engine, CPU route)`;
  writeFileSync(values.out, accuracyChartSvg([...byKey.values()], title));
  console.log(`wrote ${values.out} (${byKey.size} rows)`);
}
