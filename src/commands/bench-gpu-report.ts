// `fasttts bench --gpu-report [--quick]` (`npm run bench:gpu`): the one prepared command for the first GPU
// this work gets, runnable on any adapter. On whatever device createGpu() finds it runs, in order:
//   1. the kernel checks (every WGSL kernel, both device-class variants, f16 and f32 K/V, against the CPU
//      reference; whole-model logits; prefill against decode bitwise): src/testing/gpu-checks.ts;
//   2. decode tokens/s at batch 1, 4, 16, 64 and the weight bandwidth as a fraction of the device's
//      measured buffer-copy bandwidth (bench-decode.ts): the small random model, plus the
//      Qwen2.5-Math-1.5B shapes (random q4 weights) on a GPU-class device;
//   3. FastTTS against the baseline on the bundled models (bench-measured.ts): each problem solved in both
//      modes back to back with the same seed, answers and completed beams compared;
// and writes one JSON and one self-contained HTML report named after the adapter.
//
// Sizes. Full: n = 8, 16, 32, 64 on 5 problems, 16 timed decode steps per batch on a GPU. The bundled
// models are 0.8M and 1.2M parameters: on a GPU a forward pass is a few dozen dispatches (well under a
// millisecond each), so a beam search of 10 iterations at n = 64 costs a few hundred forward calls,
// seconds per solve; the 1.5B-shape decode reads 1 GB of q4 weights per step (about 0.5 ms at H100
// bandwidth, 18 steps per batch size). The longest part is making the 1.5B random weights on the CPU
// (about a minute). Quick (--quick, for CPU devices and the test suite): n = 8 on 1 problem, 2 decode
// steps per batch, the small model only; under a minute on the 2-core CPU route.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createGpu, describeGpu } from '../gpu/device.ts';
import type { KvDtype } from '../gpu/kv-dtype.ts';
import { DEFAULT_KV_DTYPE } from '../gpu/kv-dtype.ts';
import { runGpuChecks, type CheckResult } from '../testing/gpu-checks.ts';
import type { BenchRow } from './bench.ts';
import { benchDecode, type BenchDecodeRow } from './bench-decode.ts';
import { benchMeasured } from './bench-measured.ts';

export interface GpuReportOptions {
  quick?: boolean;
  /** Report path without extension: writes <out>.json and <out>.html. Default bench-results/gpu-report. */
  out?: string;
  kvDtype?: KvDtype;
  seed?: number;
  /** One line per finished part. */
  onProgress?: (line: string) => void;
}

export interface FastTTSComparison {
  n: number;
  problems: number;
  /** Problems whose answer and completed beam texts were the same in both modes. */
  sameAsBaseline: number;
  baselineLatencyMs: number;
  fasttsLatencyMs: number;
  /** Median over problems of FastTTS latency / baseline latency. */
  latencyRatioMedian: number;
  baselineAccuracy: number | null;
  fasttsAccuracy: number | null;
  speculationBatch: number;
}

export interface GpuReport {
  title: string;
  generated: string;
  size: 'quick' | 'full';
  adapter: string;
  deviceClass: 'cpu' | 'gpu';
  shaderF16: boolean;
  kvDtype: KvDtype;
  checks: { passed: number; failed: number; results: CheckResult[] };
  decode: { route: string; copyBytesPerSecond: number; rows: BenchDecodeRow[]; table: string };
  fasttts: { comparisons: FastTTSComparison[]; rows: BenchRow[] };
  seconds: { checks: number; decode: number; fasttts: number; total: number };
  files: { json: string; html: string };
}

const elapsed = (t0: number) => (performance.now() - t0) / 1000;

export async function gpuReport(o: GpuReportOptions = {}): Promise<GpuReport> {
  const t0 = performance.now();
  const quick = o.quick ?? false;
  const kvDtype = o.kvDtype ?? DEFAULT_KV_DTYPE;
  const say = o.onProgress ?? (() => {});
  const base = o.out ?? 'bench-results/gpu-report';
  const gpu = await createGpu();
  const adapter = describeGpu(gpu);
  const deviceClass = gpu.deviceClass;
  const shaderF16 = gpu.hasF16;
  say(`gpu report (${quick ? 'quick' : 'full'}) on ${adapter}`);
  let checkResults: CheckResult[];
  let decode: Awaited<ReturnType<typeof benchDecode>>;
  const t1 = performance.now();
  try {
    checkResults = await runGpuChecks(gpu);
    const failed = checkResults.filter((c) => !c.ok).length;
    say(`kernel checks: ${checkResults.length - failed}/${checkResults.length} passed (${elapsed(t1).toFixed(0)} s)`);
  } catch (e) {
    gpu.destroy();
    throw e;
  }
  const t2 = performance.now();
  try {
    decode = await benchDecode({ gpu, models: quick ? ['small'] : undefined, steps: quick ? 2 : undefined, kvDtype });
    say(`decode: ${decode.rows.map((r) => `${r.model} b${r.batch} ${r.tokensPerSecond.toFixed(0)} tok/s`).join(', ')} (${elapsed(t2).toFixed(0)} s)`);
  } finally {
    gpu.destroy(); // the engine below opens its own device
  }
  const t3 = performance.now();
  const ns = quick ? [8] : [8, 16, 32, 64];
  const rows = await benchMeasured(ns, ['baseline', 'fasttts'], quick ? 1 : 5, o.seed ?? 0, kvDtype);
  const comparisons: FastTTSComparison[] = ns.map((n) => {
    const b = rows.find((r) => r.n === n && r.mode === 'baseline')!;
    const f = rows.find((r) => r.n === n && r.mode === 'fasttts')!;
    return {
      n,
      problems: f.problems,
      sameAsBaseline: f.paired?.same_as_baseline ?? 0,
      baselineLatencyMs: b.latency_ms,
      fasttsLatencyMs: f.latency_ms,
      latencyRatioMedian: f.paired?.latency_ratio_median ?? Number.NaN,
      baselineAccuracy: b.accuracy,
      fasttsAccuracy: f.accuracy,
      speculationBatch: f.speculation_batch,
    };
  });
  say(`FastTTS vs baseline: ${comparisons.map((c) => `n=${c.n} ${c.sameAsBaseline}/${c.problems} same`).join(', ')} (${elapsed(t3).toFixed(0)} s)`);
  const passed = checkResults.filter((c) => c.ok).length;
  const report: GpuReport = {
    title: `fasttts-web GPU report: ${adapter}`,
    generated: new Date().toISOString(),
    size: quick ? 'quick' : 'full',
    adapter,
    deviceClass,
    shaderF16,
    kvDtype,
    checks: { passed, failed: checkResults.length - passed, results: checkResults },
    decode: { route: decode.route, copyBytesPerSecond: decode.copyBytesPerSecond, rows: decode.rows, table: decode.table },
    fasttts: { comparisons, rows },
    seconds: { checks: (t2 - t1) / 1000, decode: (t3 - t2) / 1000, fasttts: elapsed(t3), total: elapsed(t0) },
    files: { json: `${base}.json`, html: `${base}.html` },
  };
  mkdirSync(dirname(report.files.json), { recursive: true });
  writeFileSync(report.files.json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(report.files.html, gpuReportHtml(report));
  return report;
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function table(head: string[], body: Array<Array<string | number>>): string {
  const cell = (tag: string, v: string | number) => `<${tag}>${escapeHtml(String(v))}</${tag}>`;
  return `<table><thead><tr>${head.map((h) => cell('th', h)).join('')}</tr></thead><tbody>${body
    .map((r) => `<tr>${r.map((v) => cell('td', v)).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** The report as one HTML page (no scripts, no external resources). */
export function gpuReportHtml(r: GpuReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const acc = (x: number | null) => (x === null ? '-' : pct(x));
  const checks = table(
    ['check', 'result', 'detail'],
    r.checks.results.map((c) => [c.name, c.ok ? 'pass' : 'FAIL', c.detail]),
  );
  const decode = table(
    ['model', 'weights', 'batch', 'ms/step', 'tokens/s', 'weight GB/s', 'of copy bandwidth'],
    r.decode.rows.map((x) => [
      x.model,
      x.weightFormat,
      x.batch,
      x.msPerStep.toFixed(2),
      x.tokensPerSecond.toFixed(1),
      (x.weightBytesPerSecond / 1e9).toFixed(3),
      pct(x.fractionOfCopyBandwidth),
    ]),
  );
  const fast = table(
    [
      'n',
      'problems',
      'same answer and beams',
      'baseline latency (median)',
      'FastTTS latency (median)',
      'median per-problem ratio',
      'accuracy baseline / FastTTS',
      'speculation batch',
    ],
    r.fasttts.comparisons.map((c) => [
      c.n,
      c.problems,
      `${c.sameAsBaseline}/${c.problems}`,
      `${c.baselineLatencyMs.toFixed(0)} ms`,
      `${c.fasttsLatencyMs.toFixed(0)} ms`,
      c.latencyRatioMedian.toFixed(2),
      `${acc(c.baselineAccuracy)} / ${acc(c.fasttsAccuracy)}`,
      c.speculationBatch,
    ]),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(r.title)}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}.fail{color:#b00}</style>
</head><body>
<h1>${escapeHtml(r.title)}</h1>
<p>Generated ${escapeHtml(r.generated)} by <code>npx fasttts bench --gpu-report${r.size === 'quick' ? ' --quick' : ''}</code> (${r.size} size).
Adapter: <b>${escapeHtml(r.adapter)}</b>; ${r.deviceClass}-class device; shader-f16 ${r.shaderF16 ? 'granted' : 'not granted'}; K/V stored as ${r.kvDtype}.
Took ${r.seconds.total.toFixed(0)} s (checks ${r.seconds.checks.toFixed(0)} s, decode ${r.seconds.decode.toFixed(0)} s, FastTTS vs baseline ${r.seconds.fasttts.toFixed(0)} s).</p>
<h2>Kernel checks: ${r.checks.passed} passed, <span class="${r.checks.failed ? 'fail' : ''}">${r.checks.failed} failed</span></h2>
${checks}
<h2>Decode throughput</h2>
<p>Measured buffer-copy bandwidth ${(r.decode.copyBytesPerSecond / 1e9).toFixed(2)} GB/s (read and write counted).</p>
${decode}
<h2>FastTTS against the baseline (bundled models, same seeds)</h2>
${fast}
</body></html>
`;
}
