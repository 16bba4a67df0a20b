// The browser benchmark's outputs: a JSON file with every record and a summary per (mode, n), and a
// self-contained HTML report (inline CSS and SVG, no scripts, no network) with the charts.
import { MODE_COLORS, groupedBars, lines, stackedBars } from '../../demo/charts.ts';
import type { BenchRecord } from '../pages/bench.ts';

export interface BenchRun {
  generatedAt: string;
  browser: string;
  adapter: string;
  loadMs: number;
  options: Record<string, unknown>;
  records: BenchRecord[];
}

export interface SummaryRow {
  mode: string;
  n: number;
  problems: number;
  accuracy: number;
  latency_ms_median: number;
  latency_ms_mean: number;
  goodput_mean: number;
  precise_goodput_mean: number;
  generator_ms_mean: number;
  verifier_ms_mean: number;
  tokens_speculative: number;
  tokens_speculative_accepted: number;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

export function summarize(records: BenchRecord[]): SummaryRow[] {
  const keys = [...new Set(records.map((r) => `${r.n}|${r.mode}`))];
  return keys.map((key) => {
    const [n, mode] = key.split('|');
    const rs = records.filter((r) => r.mode === mode && r.n === Number(n));
    return {
      mode,
      n: Number(n),
      problems: rs.length,
      accuracy: rs.filter((r) => r.correct).length / rs.length,
      latency_ms_median: median(rs.map((r) => r.metrics.latency_ms)),
      latency_ms_mean: mean(rs.map((r) => r.metrics.latency_ms)),
      goodput_mean: mean(rs.map((r) => r.metrics.goodput)),
      precise_goodput_mean: mean(rs.map((r) => r.metrics.precise_goodput)),
      generator_ms_mean: mean(rs.map((r) => r.metrics.generator_ms)),
      verifier_ms_mean: mean(rs.map((r) => r.metrics.verifier_ms)),
      tokens_speculative: rs.reduce((s, r) => s + r.metrics.tokens_speculative, 0),
      tokens_speculative_accepted: rs.reduce((s, r) => s + r.metrics.tokens_speculative_accepted, 0),
    };
  });
}

function esc(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const fmt = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : '—');

export function renderReport(run: BenchRun, summary: SummaryRow[]): string {
  const modes = [...new Set(run.records.map((r) => r.mode))];
  const ns = [...new Set(run.records.map((r) => r.n))].sort((a, b) => a - b);
  const color = (mode: string) => MODE_COLORS[mode as keyof typeof MODE_COLORS] ?? '#888';
  const row = (mode: string, n: number) => summary.find((s) => s.mode === mode && s.n === n);

  const largestN = ns[ns.length - 1];
  const problemIds = [...new Set(run.records.filter((r) => r.n === largestN).map((r) => r.id))];
  const latencyChart = groupedBars({
    title: `Latency per problem, n = ${largestN}`,
    unit: 'ms',
    labels: problemIds.map((id) => id.replace(/^.*-/, '#')),
    width: 640,
    series: modes.map((mode) => ({
      name: mode,
      color: color(mode),
      values: problemIds.map((id) => run.records.find((r) => r.id === id && r.mode === mode && r.n === largestN)?.metrics.latency_ms ?? NaN),
    })),
  });
  const goodputChart = lines({
    title: 'Goodput against n (mean over problems)',
    unit: 'tokens/s',
    labels: ns.map((n) => `n=${n}`),
    width: 640,
    series: modes.flatMap((mode) => [{ name: `${mode} goodput`, color: color(mode), values: ns.map((n) => row(mode, n)?.goodput_mean ?? NaN) }]),
  });
  const splitLabels = ns.flatMap((n) => modes.map((mode) => `${mode} n=${n}`));
  const splitChart = stackedBars({
    title: 'Generator / verifier time (mean per problem)',
    unit: 'ms',
    labels: splitLabels,
    width: 640,
    series: [
      { name: 'generator', color: MODE_COLORS.generator, values: ns.flatMap((n) => modes.map((m) => row(m, n)?.generator_ms_mean ?? NaN)) },
      { name: 'verifier', color: MODE_COLORS.verifier, values: ns.flatMap((n) => modes.map((m) => row(m, n)?.verifier_ms_mean ?? NaN)) },
    ],
  });

  const ratioRows = ns
    .map((n) => {
      const base = row('baseline', n);
      const fast = row('fasttts', n);
      if (!base || !fast) return '';
      return `<tr><td>${n}</td><td>${fmt(base.latency_ms_median / fast.latency_ms_median, 2)}×</td><td>${fmt(fast.precise_goodput_mean / base.precise_goodput_mean, 2)}×</td></tr>`;
    })
    .join('');
  const summaryRows = summary
    .map(
      (s) =>
        `<tr><td>${esc(s.mode)}</td><td>${s.n}</td><td>${s.problems}</td><td>${fmt(s.accuracy * 100, 0)}%</td>` +
        `<td>${fmt(s.latency_ms_median, 0)}</td><td>${fmt(s.goodput_mean)}</td><td>${fmt(s.precise_goodput_mean)}</td>` +
        `<td>${fmt(s.generator_ms_mean, 0)}</td><td>${fmt(s.verifier_ms_mean, 0)}</td><td>${s.tokens_speculative_accepted}/${s.tokens_speculative}</td></tr>`,
    )
    .join('');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>fasttts-web browser benchmark</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1000px; padding: 0 1rem; color: #1d2230; }
h1 { font-size: 1.4rem; } table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
td, th { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; } th { background: #f0f0ea; }
td:first-child { text-align: left; } .charts { display: grid; gap: 1rem; } .charts svg { width: 100%; max-width: 720px; height: auto; }
.meta { color: #555; font-size: 0.9rem; } .note { background: #fff6dd; padding: 0.5rem 0.8rem; border-radius: 6px; font-size: 0.9rem; }
</style></head><body>
<h1>fasttts-web: baseline and FastTTS in the browser</h1>
<p class="meta" id="adapter">WebGPU adapter: <b>${esc(run.adapter)}</b></p>
<p class="meta">Browser: ${esc(run.browser)} · generated ${esc(run.generatedAt)} · model load ${fmt(run.loadMs / 1000, 1)} s ·
options: ${esc(JSON.stringify(run.options))}</p>
<p class="note">Measured wall-clock times on this device through the public worker API (createEngine). On a CPU WebGPU route
(llvmpipe, SwiftShader) cost grows linearly with batch size, so these numbers say nothing about speed on a real GPU.</p>
<h2>Ratios (FastTTS against baseline)</h2>
<table><tr><th>n</th><th>latency speed-up (median)</th><th>precise goodput gain (mean)</th></tr>${ratioRows}</table>
<h2>Summary</h2>
<table><tr><th>mode</th><th>n</th><th>problems</th><th>accuracy</th><th>latency median (ms)</th><th>goodput (tok/s)</th>
<th>precise goodput</th><th>generator (ms)</th><th>verifier (ms)</th><th>speculative kept</th></tr>${summaryRows}</table>
<h2>Charts</h2>
<div class="charts">${latencyChart}${goodputChart}${splitChart}</div>
</body></html>
`;
}
