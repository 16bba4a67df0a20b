// The browser benchmark's page: runs baseline and FastTTS over the given problems through the real
// public API (createEngine: the engine in a web worker), one configuration after another, and publishes
// every record on `window.bench` for e2e/bench/run.ts. Parameters come from the query string.
import { createEngine } from '../../src/api/index.ts';
import type { EngineMode, SolveMetrics, SolveOptions } from '../../src/api/index.ts';
import { answersEqual } from '../../src/search/answer.ts';

export interface BenchProblem {
  id: string;
  problem: string;
  answer: string;
}

export interface BenchRecord {
  id: string;
  mode: EngineMode;
  n: number;
  answer: string | null;
  expected: string;
  correct: boolean;
  metrics: SolveMetrics;
  wallMs: number;
}

export interface BenchPage {
  state: 'running' | 'done' | 'error';
  adapter?: string;
  loadMs?: number;
  records: BenchRecord[];
  error?: string;
}

declare global {
  interface Window {
    bench: BenchPage;
    /** Set by the driver before the page runs: the problems and the options to run. */
    benchInput?: { problems: BenchProblem[]; modes: EngineMode[]; ns: number[]; options: SolveOptions; memoryMB?: number };
  }
}

const out: BenchPage = (window.bench = { state: 'running', records: [] });
const status = document.getElementById('status')!;
const log = document.getElementById('log')!;

async function waitForInput(): Promise<NonNullable<Window['benchInput']>> {
  while (!window.benchInput) await new Promise((r) => setTimeout(r, 50));
  return window.benchInput;
}

async function main(): Promise<void> {
  const input = await waitForInput();
  const start = performance.now();
  const engine = await createEngine({ memoryMB: input.memoryMB });
  try {
    const info = await engine.ready;
    out.adapter = info.adapter;
    out.loadMs = performance.now() - start;
    status.textContent = `adapter: ${info.adapter}`;
    for (const n of input.ns) {
      for (const problem of input.problems) {
        // Both modes on the same problem back to back, so drifts in machine load hit both alike.
        for (const mode of input.modes) {
          const t0 = performance.now();
          const result = await engine.solve(problem.problem, { ...input.options, n, mode });
          const record: BenchRecord = {
            id: problem.id,
            mode,
            n,
            answer: result.answer,
            expected: problem.answer,
            correct: answersEqual(result.answer, problem.answer),
            metrics: result.metrics,
            wallMs: performance.now() - t0,
          };
          out.records.push(record);
          log.textContent += `${problem.id} n=${n} ${mode}: ${record.metrics.latency_ms.toFixed(0)} ms, answer ${record.answer} (${record.correct ? 'correct' : 'wrong'})\n`;
        }
      }
    }
    out.state = 'done';
    status.textContent += ' — done';
  } finally {
    await engine.dispose();
  }
}

main().catch((error: unknown) => {
  out.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  out.state = 'error';
  status.textContent = `error: ${out.error}`;
});
