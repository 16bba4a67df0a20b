// Latency and goodput of every run in this browser, FastTTS beside the baseline, kept in localStorage
// so the chart survives a reload.
import { MODE_COLORS, groupedBars } from './charts.ts';
import type { SolveResult } from '../src/api/types.ts';

export interface RunRecord {
  label: string;
  mode: 'fasttts' | 'baseline';
  method: string;
  n: number;
  latencyMs: number;
  goodput: number;
  generatorMs: number;
  verifierMs: number;
}

const KEY = 'fasttts-tutor-runs';
const MAX_RUNS = 24;

export function loadRuns(): RunRecord[] {
  try {
    const runs = JSON.parse(localStorage.getItem(KEY) ?? '[]');
    return Array.isArray(runs) ? runs : [];
  } catch {
    return [];
  }
}

export function addRun(runs: RunRecord[], result: SolveResult, method: string, n: number): RunRecord[] {
  const next = [
    ...runs,
    {
      label: `#${runs.length + 1} n=${n}`,
      mode: result.mode,
      method,
      n,
      latencyMs: result.metrics.latency_ms,
      goodput: result.metrics.goodput,
      generatorMs: result.metrics.generator_ms,
      verifierMs: result.metrics.verifier_ms,
    },
  ].slice(-MAX_RUNS);
  localStorage.setItem(KEY, JSON.stringify(next));
  return next;
}

export function clearRuns(): RunRecord[] {
  localStorage.removeItem(KEY);
  return [];
}

/** Two charts: latency per run and goodput per run, bars coloured by mode. */
export function runChartsSvg(runs: RunRecord[]): string {
  if (runs.length === 0) return '<p class="muted small">Solve a problem in each mode to compare them here.</p>';
  const labels = runs.map((r) => r.label);
  const byMode = (mode: RunRecord['mode'], pick: (r: RunRecord) => number) => runs.map((r) => (r.mode === mode ? pick(r) : NaN));
  const series = (pick: (r: RunRecord) => number) => [
    { name: 'FastTTS', color: MODE_COLORS.fasttts, values: byMode('fasttts', pick) },
    { name: 'baseline', color: MODE_COLORS.baseline, values: byMode('baseline', pick) },
  ];
  return (
    groupedBars({ title: 'Latency per run', unit: 'ms', labels, series: series((r) => r.latencyMs) }) +
    groupedBars({ title: 'Goodput per run', unit: 'tokens/s', labels, series: series((r) => r.goodput) })
  );
}
