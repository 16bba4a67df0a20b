// The public engine API's types: what a web app passes to createEngine / solve / generate and what it
// gets back, including the event stream the tutor draws its search tree from. Everything here is plain
// data (structured-clonable), because in the browser it crosses the web-worker boundary.
import type { RouteChoice } from '../runtime/route.ts';
import type { ProblemMetrics } from '../metrics/goodput.ts';

/** Where a model comes from: a URL or path (directory, .gguf file), a browser File/Blob, a list of Files
 *  of a Hugging Face layout (picked with <input type=file multiple>), or 'bundled' for the small model shipped with the package. */
export type ModelLocation = 'bundled' | string | URL | Blob | File[] | FileSystemDirectoryHandle;

export type SearchMethod = 'greedy' | 'majority' | 'best-of-n' | 'beam' | 'dvts';
export type ScoreAggregation = 'last' | 'min' | 'prod' | 'mean';
export type AnswerSelection = 'top1' | 'majority' | 'weighted';
/** 'fasttts': speculative beam extension, prefix-aware scheduling, asymmetric memory planner.
 *  'baseline': generator phase then verifier phase, static memory split. Same answers for the same seed. */
export type EngineMode = 'fasttts' | 'baseline';
/** Where the models run: 'webgpu' (WGSL kernels on the WebGPU adapter), 'cpu' (WebAssembly SIMD kernels),
 *  or 'auto': WebGPU on a GPU adapter, the CPU route where the only adapter is a CPU (llvmpipe,
 *  SwiftShader) or there is no WebGPU (src/runtime/route.ts). */
export type EngineRoute = RouteChoice;

export type LoadPhase = 'download' | 'parse' | 'quantize' | 'upload' | 'done';

export interface LoadProgress {
  model: 'generator' | 'verifier';
  phase: LoadPhase;
  bytesDone: number;
  bytesTotal: number;
  tensorsDone: number;
  tensorsTotal: number;
}

export interface EngineOptions {
  /** Generator (policy) model; default 'bundled'. */
  generator?: ModelLocation;
  /** Process reward model; default 'bundled'. */
  verifier?: ModelLocation;
  /** Total GPU memory budget for weights, KV cache and activations, in MiB. */
  memoryMB?: number;
  /** Tokens per KV-cache page (both models' pools); default 16. Smaller pages share prefixes more finely. */
  kvPageSize?: number;
  /** How both models' K/V is stored: 'f16' (default: two halves per 32-bit word, arithmetic in f32,
   *  half the bytes per page, so twice the pages in the same budget) or 'f32'. */
  kvDtype?: 'f16' | 'f32';
  /** How both models' matrices are stored on the device: 'auto' (default: a file's own f16, bf16, q8 or
   *  q4 as it is; otherwise f32 for small models and q4 for large ones), or one of 'f32', 'f16', 'bf16',
   *  'q8', 'q4' (groups of 32 with f16 scales) for both. */
  weights?: 'auto' | 'f32' | 'f16' | 'bf16' | 'q8' | 'q4';
  /** Where the models run (EngineRoute). Default 'auto'. */
  route?: EngineRoute;
  /** Threads of the CPU route (default: the machine's, up to 8; one in a page that is not cross-origin isolated). */
  threads?: number;
  /** Default mode of solve(); each call may override it. Default 'fasttts'. */
  mode?: EngineMode;
  /** Model download / parse / quantize / upload progress. */
  onProgress?: (progress: LoadProgress) => void;
}

export interface SolveOptions {
  method?: SearchMethod;
  /** Number of samples (best-of-n, majority) or of beams kept alive (beam, dvts). Default 8. */
  n?: number;
  /** Beam search: children per kept beam. Default 4. */
  beamWidth?: number;
  /** Maximum search iterations (steps). Default 10. */
  iterations?: number;
  agg?: ScoreAggregation;
  select?: AnswerSelection;
  mode?: EngineMode;
  temperature?: number;
  /** Maximum tokens per step / per sample. */
  maxTokens?: number;
  seed?: number;
}

export interface CallOptions {
  /** Aborting rejects the call with CancelledError and frees every KV page it held. */
  signal?: AbortSignal;
  /** Receives the search as it happens (in order). */
  onEvent?: (event: EngineEvent) => void;
}

export interface BeamResult {
  /** The beam's id in the event stream (its last node in the search tree). */
  id: number;
  text: string;
  score: number;
  answer: string | null;
  completed: boolean;
  /** The PRM's score of each step (null: not scored, e.g. a greedy or majority run). */
  stepScores: Array<number | null>;
  /** Generated tokens of each step: what `eval --record-steps` records for the cost model. */
  stepTokens: number[];
}

/** Of the search's metrics (metrics/goodput.ts, one conversion for the API, the CLI and the bench), those a solve reports. */
type SearchMetrics = Pick<
  ProblemMetrics,
  | 'latency_ms'
  | 'generator_ms'
  | 'verifier_ms'
  | 'goodput'
  | 'precise_goodput'
  | 'tokens_generated'
  | 'tokens_speculative'
  | 'tokens_speculative_accepted'
  | 'iterations'
  | 'completed_beams'
  | 'mean_tokens_per_completed_beam'
  | 'mean_completion_ms'
>;

/**
 * The CLI's `solve --json` metrics (snake_case, as in the command-line contract): the search's, plus the
 * KV arena's accounting of the call. Completed beams, their mean length in tokens and mean completion
 * time: the paper's precise goodput over problems is the sum of the means of tokens over the sum of the
 * means of times.
 */
export interface SolveMetrics extends SearchMetrics {
  /** The speculation budget the call ran with: the batch size a decode step takes for about the price of
   *  one, from the device's calibration (0 in baseline mode; 1, i.e. speculation off, on a CPU route). */
  speculation_batch: number;
  prefix_hit_tokens: number;
  recomputed_tokens: number;
  peak_kv_pages_generator: number;
  peak_kv_pages_verifier: number;
  /** KV arena accounting of the call (both pools): cached pages evicted. */
  kv_evictions: number;
  /** Sequences whose K/V was dropped for memory (recomputed when they run again). */
  kv_preemptions: number;
  /** Partly filled shared pages copied on write. */
  kv_copy_on_write_copies: number;
  /** Live pages moved when the planner changed the split. */
  kv_relocated_pages: number;
  /** Each pool's pages at the end of the call (the last split: 50/50 in baseline, the planner's in FastTTS;
   *  even again after offload mode). */
  kv_pages_generator: number;
  kv_pages_verifier: number;
  /** Most pages each pool can hold (the whole KV arena to itself): what the budget buys at the engine's K/V
   *  storage type (f16 holds about twice the pages of f32). */
  kv_pages_capacity_generator: number;
  kv_pages_capacity_verifier: number;
  /** Most pages referenced by more than one sequence at once (prefix sharing between beams), per pool. */
  kv_shared_pages_generator: number;
  kv_shared_pages_verifier: number;
  /** Pages left cached (unreferenced, reusable by the next call's prefixes) when the call ended, per pool. */
  kv_cached_pages_generator: number;
  kv_cached_pages_verifier: number;
  /** Bytes of K/V moved to host memory and back by offload mode (the planner's choice under tight memory). */
  kv_host_transfer_bytes: number;
}

export interface SolveResult {
  /** The selected final answer (normalised \boxed{} content), or null when no beam finished with one. */
  answer: string | null;
  /** Index into `beams` of the solution the answer was taken from, or -1. */
  chosen: number;
  beams: BeamResult[];
  metrics: SolveMetrics;
  mode: EngineMode;
}

/** What the memory planner saw before an iteration (its step lengths: every one observed so far). */
export interface PlannerInputs {
  beams: number;
  stepLengthsSeen: number;
  meanStepLength: number;
  maxStepLength: number;
  /** Mean tokens per beam in each model's context. */
  generatorContext: number;
  verifierContext: number;
  sharedPrefixTokens: number;
  /** Distinct tokens over all beams (shared prefixes once), per model. */
  distinctGeneratorTokens: number;
  distinctVerifierTokens: number;
  /** KV arena bytes the split divides. */
  kvBytes: number;
}

/** The split applied: pages per pool, or offload mode (each phase the whole arena, the idle model's K/V in host memory). */
export interface PlannerChoice {
  generatorPages: number;
  verifierPages: number;
  offload: boolean;
  /** The split in place already held both working sets and was kept without a search. */
  kept: boolean;
  /** Splits the linear search evaluated. */
  candidates: number;
}

/** The cost model's prediction of the iteration under the choice, ms. */
export interface PlannerPrediction {
  ms: number;
  generatorMs: number;
  verifierMs: number;
  /** Host transfers of offload mode. */
  transferMs: number;
  recomputedTokens: number;
}

/** The search as it happens. Beam ids are unique within one solve call. */
export type EngineEvent =
  | { type: 'load'; progress: LoadProgress }
  | { type: 'beam-created'; beam: number; parent: number | null; iteration: number }
  /** New text on a beam; `speculative` marks tokens generated ahead of the verifier (FastTTS). */
  | { type: 'beam-extended'; beam: number; text: string; tokens: number; speculative: boolean }
  /** The beam's own text was cut back and replaced (speculation truncated); `text` is all of it now. */
  | { type: 'beam-rewritten'; beam: number; text: string }
  /** The verifier's score of the beam's latest step and the aggregated beam score. */
  | { type: 'beam-scored'; beam: number; stepScore: number; score: number }
  | { type: 'beam-pruned'; beam: number }
  | { type: 'beam-completed'; beam: number; answer: string | null; score: number }
  | { type: 'iteration'; iteration: number; activeBeams: number; ms: number }
  /** FastTTS mode, after each iteration: the memory planner's inputs and choice, predicted against the
   *  iteration's measured time (from applying its split to the end of its verifier phase). */
  | { type: 'planner'; iteration: number; inputs: PlannerInputs; choice: PlannerChoice; predicted: PlannerPrediction; observedMs: number }
  | { type: 'answer'; result: SolveResult };

export interface GenerateOptions {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  /** Wrap the prompt in the model's chat template (with the math system prompt). Default false. */
  chat?: boolean;
}

export interface GenerateCallOptions {
  signal?: AbortSignal;
  /** Receives the text as it is generated. */
  onText?: (delta: string) => void;
}

export interface GenerateResult {
  text: string;
  tokens: number[];
  ms: number;
}

export interface EngineInfo {
  /** The route that runs the models and why, e.g. "cpu: WebAssembly SIMD, 1 thread (the WebGPU adapter,
   *  llvmpipe ..., is a CPU)" or the WebGPU route and adapter, "webgpu: node-dawn-default/core on ...". */
  adapter: string;
  /** Which route runs the models. */
  route: 'webgpu' | 'cpu';
  generator: string;
  verifier: string;
  memoryMB: number;
  kvPageSize: number;
  kvDtype: 'f16' | 'f32';
  /** Where the engine runs: 'worker' (browser) or 'in-process' (Node). */
  runsIn: 'worker' | 'in-process';
}

/** KV pages currently held by the engine (0 for both when idle: every call frees what it allocated). */
export interface EngineStats {
  kvPagesInUseGenerator: number;
  kvPagesInUseVerifier: number;
  queuedCalls: number;
}

export interface Engine {
  /** Resolves when both models are loaded (rejects with the load error, e.g. FormatError, NoGpuError). */
  readonly ready: Promise<EngineInfo>;
  solve(problem: string, options?: SolveOptions, call?: CallOptions): Promise<SolveResult>;
  generate(prompt: string, options?: GenerateOptions, call?: GenerateCallOptions): Promise<GenerateResult>;
  stats(): Promise<EngineStats>;
  /** Cancels queued and running calls, frees GPU memory and, in the browser, ends the worker. */
  dispose(): Promise<void>;
}
