// `npx fasttts <command>`: dispatch, help, and the one rule for errors: one line on stderr and a
// non-zero exit, with the stack only under --verbose.
import { FastTTSError, OptionError } from './errors.ts';

export const USAGE = `usage: fasttts <command> [options]

commands:
  generate [--model <dir|file.gguf|url>] --prompt <text> [--max-tokens N] [--temperature T] [--top-p P]
           [--top-k K] [--seed S] [--weights f32|f16|bf16|q8|q4] [--route auto|webgpu|cpu] [--threads N] [--raw] [--json]
  solve "<problem>" [--generator <dir|file|url>] [--verifier <dir|file|url>]
           [--method greedy|majority|best-of-n|beam|dvts] [--n 8] [--beam-width 4] [--iterations 10]
           [--agg last|min|prod|mean] [--select top1|majority|weighted]
           [--mode fasttts|baseline] [--memory-mb M] [--kv-page-size 16] [--kv-dtype f16|f32] [--temperature T]
           [--max-tokens N (per step)] [--seed S] [--route auto|webgpu|cpu] [--threads N] [--json]
           [--weights auto|f32|f16|bf16|q8|q4]  how both models' matrices are stored (default auto: a
           file's own f16/bf16/q8/q4 as it is, else f32 for small models and q4 for large ones)
           --route: where the models run; auto (default) takes WebGPU on a GPU adapter and the CPU
           route (WebAssembly SIMD) where the only adapter is a CPU or there is no WebGPU; --threads:
           the CPU route's threads (default: the machine's, up to 8)
  eval  [--dataset <jsonl>] [--limit K] [same options as solve] [--json]
        [--record-steps <file.json>]  step statistics of the runs, for bench --statistics
  bench [--modes baseline,fasttts] [--n 8,16,32,64] [--profile measured|rtx4090|m2|h200] [--problems K]
        [--seed S] [--json <file>] [--settings engine,paper] [--pairings 1.5b+1.5b,7b+1.5b] [--budgets full,tight,MiB]
        [--statistics assumed|math500|<file.json>]  step statistics the cost model replays
        [--speculation-slack 0.15]  speculation fills decode batches costing at most (1 + slack) x one
        [--kv-dtype f16|f32]  K/V storage of the measured runs and the cost model's engine setting (default f16)
        --decode     load s, prefill ms/token at 1 and 128 tokens, decode tokens/s at batch 1, 4, 16, 64 and
                     weight bandwidth: [--route auto|webgpu|cpu] [--model <dir|file.gguf|url|qwen2.5-math-1.5b-shapes>]
                     [--batches 1,4,16,64] [--steps N] [--weights f32|f16|bf16|q8|q4] [--threads N] [--json <file>]
        --gpu-report [--quick] [--report <path>]  kernel checks, decode tokens/s and FastTTS against the
                     baseline on this adapter, written to <path>.json and <path>.html (default
                     bench-results/gpu-report); --quick: the small size (under a minute on a CPU route)
        --memory     the memory planner against a static 50/50 split, estimated by the cost model
                     ([--n ...] [--problems K] [--kv-mib M]) and measured on the bundled models
                     ([--measured-n ...] [--measured-kv-mib M]), side by side; [--iterations K]

  problems [--seed S] [--count N] [--levels a-b] [--out <file.jsonl>]
        fresh problems of the bundled arithmetic task as JSONL (id, problem, answer, difficulty, solution)

Defaults are the bundled models in models/ and the bundled test split: every command works offline.
Add --verbose for stack traces.`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  generate: async () => (await import('./commands/generate.ts')).generateCommand,
  solve: async () => (await import('./commands/solve-cli.ts')).solveCommand,
  eval: async () => (await import('./commands/solve-cli.ts')).evalCommand,
  bench: async () => (await import('./commands/bench-cli.ts')).benchCommand,
  problems: async () => (await import('./commands/problems.ts')).problemsCommand,
};

export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name === undefined ? 1 : 0;
  }
  try {
    const load = COMMANDS[name];
    if (!load) throw new OptionError(`unknown command "${name}" (expected ${Object.keys(COMMANDS).join(', ')}; see fasttts --help)`);
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(USAGE);
      return 0;
    }
    return await (await load())(rest);
  } catch (e) {
    const message = e instanceof FastTTSError ? e.message : `internal error: ${(e as Error)?.message ?? String(e)}`;
    console.error(`fasttts ${name}: ${message.split('\n')[0]}`);
    if (verbose && e instanceof Error) console.error(e.stack);
    return e instanceof OptionError ? 2 : 1;
  }
}
