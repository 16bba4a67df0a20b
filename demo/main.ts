// The tutor: wires the page to the engine (which runs in a web worker), draws the search live, renders
// the answer with KaTeX, keeps a chart of runs, and registers the service worker for offline use.
import 'katex/dist/katex.min.css';
import './style.css';
import { registerSW } from 'virtual:pwa-register';
import { DeviceLostError, createEngine } from '../src/api/index.ts';
import type { Engine, EngineInfo, EngineStats, LoadProgress, ModelLocation, SolveOptions, SolveResult } from '../src/api/index.ts';
import { answersEqual } from '../src/search/answer.ts';
import { describeError, type UserMessage } from './messages.ts';
import { renderAnswer, renderSolution } from './math-text.ts';
import { freshProblems, renderBatch, runBatch, type BatchRow } from './batch.ts';
import { competitionProblems, syntheticExamples, type ExampleProblem } from './problems.ts';
import { addRun, clearRuns, loadRuns, runChartsSvg } from './run-history.ts';
import { SearchTree } from './tree-model.ts';
import { TreeView } from './tree-view.ts';

declare global {
  interface Window {
    /** State for tests and the curious: what the tutor is doing and its last result. */
    tutor: {
      state: 'starting' | 'loading' | 'ready' | 'solving' | 'error';
      engine?: EngineInfo;
      lastResult?: SolveResult;
      stats?: () => Promise<EngineStats>;
    };
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  adapter: $('adapter'),
  install: $<HTMLButtonElement>('install'),
  banner: $('banner'),
  bannerText: $('banner-text'),
  bannerAction: $<HTMLButtonElement>('banner-action'),
  examples: $<HTMLSelectElement>('examples'),
  problem: $<HTMLTextAreaElement>('problem'),
  solve: $<HTMLButtonElement>('solve'),
  cancel: $<HTMLButtonElement>('cancel'),
  answer: $('answer'),
  verdict: $('verdict'),
  solution: $('solution'),
  metrics: $('metrics'),
  tree: $('tree'),
  treeStatus: $('tree-status'),
  method: $<HTMLSelectElement>('method'),
  mode: $<HTMLSelectElement>('mode'),
  n: $<HTMLInputElement>('n'),
  beamWidth: $<HTMLInputElement>('beam-width'),
  iterations: $<HTMLInputElement>('iterations'),
  memory: $<HTMLInputElement>('memory'),
  modelUrl: $('model-url'),
  modelFiles: $('model-files'),
  generatorUrl: $<HTMLInputElement>('generator-url'),
  verifierUrl: $<HTMLInputElement>('verifier-url'),
  generatorFiles: $<HTMLInputElement>('generator-files'),
  verifierFiles: $<HTMLInputElement>('verifier-files'),
  loadModels: $<HTMLButtonElement>('load-models'),
  load: $('load'),
  loadProgress: $<HTMLProgressElement>('load-progress'),
  loadLabel: $('load-label'),
  modelInfo: $('model-info'),
  runCharts: $('run-charts'),
  clearRuns: $<HTMLButtonElement>('clear-runs'),
  newProblem: $<HTMLButtonElement>('new-problem'),
  batchCount: $<HTMLInputElement>('batch-count'),
  batchSeed: $<HTMLInputElement>('batch-seed'),
  batchRun: $<HTMLButtonElement>('batch-run'),
  batchCancel: $<HTMLButtonElement>('batch-cancel'),
  batchSummary: $('batch-summary'),
  batchTable: document.querySelector<HTMLTableSectionElement>('#batch-table tbody')!,
};

window.tutor = {
  state: 'starting',
  stats: async () => (engine ? engine.stats() : { kvPagesInUseGenerator: 0, kvPagesInUseVerifier: 0, queuedCalls: 0 }),
};
const setState = (state: Window['tutor']['state']) => {
  window.tutor.state = state;
  document.body.dataset.state = state;
};

// ---- messages ------------------------------------------------------------------------------------

function showMessage(message: UserMessage | null): void {
  ui.banner.hidden = !message;
  if (!message) return;
  ui.banner.className = message.kind;
  ui.bannerText.textContent = message.text;
  ui.bannerAction.hidden = !message.action;
  ui.bannerAction.textContent = message.action === 'restart' ? 'Restart engine' : 'Use the bundled models';
  ui.bannerAction.onclick = () => {
    showMessage(null);
    if (message.action === 'use-bundled') selectSource('bundled');
    void startEngine();
  };
}

// ---- engine ----------------------------------------------------------------------------------------

let engine: Engine | null = null;
let engineKey = '';
let usingRealModel = false;

type Source = 'bundled' | 'url' | 'files';
const selectedSource = (): Source => (document.querySelector<HTMLInputElement>('input[name="model-source"]:checked')?.value ?? 'bundled') as Source;

/** A real Qwen2.5-Math-1.5B generator with a 1.5B PRM needs about 2 GiB (4-bit weights plus KV cache). */
const REAL_MODEL_MEMORY_MB = 2048;

function selectSource(source: Source): void {
  document.querySelector<HTMLInputElement>(`input[name="model-source"][value="${source}"]`)!.checked = true;
  ui.modelUrl.hidden = source !== 'url';
  ui.modelFiles.hidden = source !== 'files';
  if (source !== 'bundled' && Number(ui.memory.value) < REAL_MODEL_MEMORY_MB) ui.memory.value = String(REAL_MODEL_MEMORY_MB);
}

function modelLocations(): { generator: ModelLocation; verifier: ModelLocation; key: string } {
  const source = selectedSource();
  if (source === 'url') {
    const generator = ui.generatorUrl.value.trim();
    const verifier = ui.verifierUrl.value.trim();
    if (!generator || !verifier) throw new Error('enter both model URLs');
    return { generator, verifier, key: `url:${generator}|${verifier}` };
  }
  if (source === 'files') {
    const generator = [...(ui.generatorFiles.files ?? [])];
    const verifier = [...(ui.verifierFiles.files ?? [])];
    if (!generator.length || !verifier.length) throw new Error('choose a folder for each model');
    return { generator, verifier, key: `files:${generator.length}:${verifier.length}:${Date.now()}` };
  }
  // The bundled models ship in the app's build (and its offline precache) under models/.
  const bundled = (name: string) => new URL(`models/${name}/`, document.baseURI).href;
  return { generator: bundled('arith-generator'), verifier: bundled('arith-prm'), key: 'bundled' };
}

function showProgress(p: LoadProgress): void {
  ui.load.hidden = false;
  const fraction = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.tensorsTotal > 0 ? p.tensorsDone / p.tensorsTotal : 0;
  ui.loadProgress.value = p.phase === 'done' ? 1 : fraction;
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  ui.loadLabel.textContent =
    `${p.model}: ${p.phase}` +
    (p.bytesTotal ? ` ${mib(p.bytesDone)} / ${mib(p.bytesTotal)} MiB` : '') +
    (p.tensorsTotal ? `, tensor ${p.tensorsDone} / ${p.tensorsTotal}` : '');
}

async function startEngine(): Promise<Engine | null> {
  let locations;
  try {
    locations = modelLocations();
  } catch (e) {
    showMessage({ kind: 'error', text: (e as Error).message });
    return null;
  }
  const memoryMB = Number(ui.memory.value);
  const key = `${locations.key}|${memoryMB}`;
  if (engine && key === engineKey) return engine;
  await engine?.dispose();
  engine = null;
  setState('loading');
  ui.modelInfo.textContent = 'loading models…';
  ui.solve.disabled = true;
  const created = await createEngine({ generator: locations.generator, verifier: locations.verifier, memoryMB, onProgress: showProgress });
  try {
    const info = await created.ready;
    engine = created;
    engineKey = key;
    usingRealModel = locations.key !== 'bundled';
    window.tutor.engine = info;
    ui.adapter.textContent =
      info.route === 'cpu' ? `CPU route (WebAssembly): ${info.adapter.replace(/^cpu: /, '')}` : `WebGPU: ${info.adapter.replace(/^webgpu: /, '')}`;
    ui.modelInfo.textContent = `generator ${info.generator}; verifier ${info.verifier}; budget ${info.memoryMB} MiB`;
    ui.load.hidden = true;
    setState('ready');
    void refreshExamples();
    return engine;
  } catch (error) {
    await created.dispose();
    ui.modelInfo.textContent = 'models not loaded';
    ui.load.hidden = true;
    setState('error');
    showMessage(describeError(error, memoryMB));
    return null;
  } finally {
    ui.solve.disabled = false;
  }
}

// ---- problems --------------------------------------------------------------------------------------

let examples: ExampleProblem[] = syntheticExamples();

async function refreshExamples(): Promise<void> {
  examples = syntheticExamples();
  if (usingRealModel) examples = [...examples, ...(await competitionProblems().catch(() => []))];
  const selected = ui.examples.value;
  ui.examples.replaceChildren(...examples.map((e) => new Option(e.label, e.id)));
  ui.examples.value = examples.some((e) => e.id === selected) ? selected : examples[0].id;
}

function pickExample(): void {
  const example = examples.find((e) => e.id === ui.examples.value);
  if (example) ui.problem.value = example.problem;
}

// ---- solving ---------------------------------------------------------------------------------------

let running: AbortController | null = null;
let runs = loadRuns();
let tree = new SearchTree();
const treeView = new TreeView(ui.tree, tree);

/** The modes one press of Solve runs: one, or the baseline then FastTTS for the comparison chart. */
function selectedModes(): Array<NonNullable<SolveOptions['mode']>> {
  return ui.mode.value === 'both' ? ['baseline', 'fasttts'] : [ui.mode.value as NonNullable<SolveOptions['mode']>];
}

function solveOptions(): SolveOptions {
  return {
    method: ui.method.value as SolveOptions['method'],
    n: Number(ui.n.value),
    beamWidth: Number(ui.beamWidth.value),
    iterations: Number(ui.iterations.value),
  };
}

async function solve(): Promise<void> {
  const problem = ui.problem.value.trim();
  if (!problem) {
    showMessage({ kind: 'error', text: 'Type a problem or pick an example first.' });
    return;
  }
  showMessage(null);
  const current = await startEngine();
  if (!current) return;
  const options = solveOptions();
  running = new AbortController();
  ui.solve.disabled = true;
  ui.cancel.disabled = false;
  setState('solving');
  ui.answer.className = 'answer muted';
  ui.answer.textContent = 'searching…';
  ui.verdict.textContent = '';
  ui.solution.replaceChildren();
  ui.metrics.textContent = '';
  ui.treeStatus.textContent = '';
  try {
    for (const mode of selectedModes()) {
      tree = new SearchTree();
      treeView.reset(tree);
      const result = await current.solve(
        problem,
        { ...options, mode },
        {
          signal: running.signal,
          onEvent: (event) => {
            tree.apply(event);
            if (event.type === 'iteration') ui.treeStatus.textContent = `${mode}: iteration ${event.iteration}, ${event.activeBeams} active beams`;
            treeView.invalidate();
          },
        },
      );
      treeView.flush();
      window.tutor.lastResult = result;
      showResult(problem, result);
      runs = addRun(runs, result, options.method ?? 'beam', options.n ?? 0);
      drawRuns();
    }
    setState('ready');
  } catch (error) {
    treeView.flush();
    ui.answer.textContent = '—';
    showMessage(describeError(error, Number(ui.memory.value)));
    if (error instanceof DeviceLostError) {
      await engine?.dispose();
      engine = null;
    }
    setState(engine ? 'ready' : 'error');
  } finally {
    running = null;
    ui.solve.disabled = false;
    ui.cancel.disabled = true;
  }
}

function showResult(problem: string, result: SolveResult): void {
  ui.answer.className = 'answer';
  if (result.answer === null) {
    ui.answer.textContent = 'No beam reached a final answer. Try more iterations or a larger n.';
  } else {
    ui.answer.innerHTML = renderAnswer(result.answer);
    ui.answer.dataset.answer = result.answer;
  }
  const expected = examples.find((e) => e.problem === problem)?.answer ?? freshAnswers.get(problem);
  const correct = expected !== undefined && answersEqual(result.answer, expected);
  ui.verdict.textContent = expected === undefined || result.answer === null ? '' : correct ? '✓ correct' : `✗ the reference answer is ${expected}`;
  ui.verdict.className = correct ? 'correct' : 'wrong';
  const chosen = result.beams[result.chosen];
  ui.solution.innerHTML = chosen ? renderSolution(chosen.text) : '';
  treeView.markChosen(chosen?.id ?? null);
  const m = result.metrics;
  ui.metrics.textContent =
    `${result.mode}: ${m.latency_ms.toFixed(0)} ms (generator ${m.generator_ms.toFixed(0)} ms, verifier ${m.verifier_ms.toFixed(0)} ms), ` +
    `${m.tokens_generated} tokens, goodput ${m.goodput.toFixed(1)} tokens/s, ${m.iterations} iterations` +
    (m.tokens_speculative ? `, ${m.tokens_speculative_accepted}/${m.tokens_speculative} speculative tokens kept` : '');
}

// ---- greedy against search on a batch ----------------------------------------------------------------

let batchRunning: AbortController | null = null;
/** Reference answers of the fresh problems "New problem" wrote, for the verdict. */
const freshAnswers = new Map<string, string>();
let newProblemSeed = Date.now() % 1_000_000;

async function runBatchClicked(): Promise<void> {
  showMessage(null);
  const current = await startEngine();
  if (!current) return;
  const options = solveOptions();
  const rows: BatchRow[] = freshProblems(Number(ui.batchSeed.value), Number(ui.batchCount.value)).map((problem) => ({ problem }));
  const label = `${ui.method.selectedOptions[0].text} n = ${options.n}:`;
  batchRunning = new AbortController();
  ui.batchRun.disabled = ui.solve.disabled = true;
  ui.batchCancel.disabled = false;
  setState('solving');
  const draw = () => renderBatch(ui.batchTable, ui.batchSummary, rows, label);
  draw();
  try {
    await runBatch(current, rows, options, batchRunning.signal, draw);
  } catch (error) {
    showMessage(describeError(error, Number(ui.memory.value)));
  } finally {
    batchRunning = null;
    ui.batchRun.disabled = ui.solve.disabled = false;
    ui.batchCancel.disabled = true;
    setState(engine ? 'ready' : 'error');
  }
}

function drawRuns(): void {
  ui.runCharts.innerHTML = runChartsSvg(runs);
}

// ---- start-up ----------------------------------------------------------------------------------------

function wire(): void {
  ui.solve.onclick = () => void solve();
  ui.cancel.onclick = () => running?.abort();
  ui.examples.onchange = pickExample;
  ui.batchRun.onclick = () => void runBatchClicked();
  ui.batchCancel.onclick = () => batchRunning?.abort();
  ui.newProblem.onclick = () => {
    const p = freshProblems(newProblemSeed++, 1)[0];
    freshAnswers.set(p.problem, p.answer);
    ui.problem.value = p.problem;
  };
  ui.loadModels.onclick = () => void startEngine();
  ui.clearRuns.onclick = () => {
    runs = clearRuns();
    drawRuns();
  };
  for (const radio of document.querySelectorAll<HTMLInputElement>('input[name="model-source"]')) {
    radio.onchange = () => selectSource(selectedSource());
  }
  let installPrompt: (Event & { prompt(): Promise<void> }) | null = null;
  window.addEventListener('beforeinstallprompt', (e) => {
    e.preventDefault();
    installPrompt = e as typeof installPrompt;
    ui.install.hidden = false;
  });
  ui.install.onclick = async () => {
    await installPrompt?.prompt();
    ui.install.hidden = true;
  };
}

async function main(): Promise<void> {
  wire();
  await refreshExamples();
  pickExample();
  drawRuns();
  registerSW({ immediate: true });
  // Without WebGPU (or with only a CPU adapter) the engine runs its WebAssembly kernels instead.
  await startEngine();
}

void main();
