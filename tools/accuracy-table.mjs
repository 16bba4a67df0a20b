// The README's accuracy table of the bundled models, measured by the engine: runs `fasttts eval --json`
// for greedy and for each search method at each n, on the first --limit problems of the test split
// (the split cycles through the difficulty levels, so any prefix is balanced), and writes the rows to
// --out (JSON) and a Markdown table to stdout. Runs --jobs evals at once (one per free core).
// Usage: node tools/accuracy-table.mjs [--limit 140] [--n 4,8,16,32] [--methods majority,best-of-n,beam,dvts]
//                                      [--jobs 1] [--out bench-results/accuracy.json] [-- extra eval options]
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: {
    limit: { type: 'string', default: '140' },
    n: { type: 'string', default: '4,8,16,32' },
    methods: { type: 'string', default: 'majority,best-of-n,beam,dvts' },
    jobs: { type: 'string', default: '1' },
    out: { type: 'string', default: 'bench-results/accuracy.json' },
  },
  allowPositionals: true,
});
const ns = values.n.split(',').map(Number);
const configs = [{ method: 'greedy', n: 1 }, ...values.methods.split(',').flatMap((method) => ns.map((n) => ({ method, n })))];

function evalRun({ method, n }) {
  const args = ['bin/fasttts.mjs', 'eval', '--json', '--limit', values.limit, '--method', method, '--n', String(n), ...positionals];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`eval ${method} n=${n} failed (${code}): ${stderr.trim().split('\n').pop()}`));
      const r = JSON.parse(stdout.trim().split('\n').pop());
      console.error(`${method} n=${n}: ${(100 * r.accuracy).toFixed(1)}%, median ${r.latency_ms_median.toFixed(0)} ms`);
      resolve({
        method,
        n,
        accuracy: r.accuracy,
        accuracy_by_difficulty: r.accuracy_by_difficulty,
        latency_ms_median: r.latency_ms_median,
        problems: r.problems,
      });
    });
  });
}

const rows = new Array(configs.length);
let next = 0;
async function worker() {
  while (next < configs.length) {
    const i = next++;
    rows[i] = await evalRun(configs[i]);
  }
}
await Promise.all(Array.from({ length: Math.max(1, Number(values.jobs)) }, worker));

mkdirSync(dirname(values.out), { recursive: true });
writeFileSync(values.out, JSON.stringify({ limit: Number(values.limit), extra: positionals, rows }, null, 2));
const pct = (x) => `${(100 * x).toFixed(0)}%`;
const levels = Object.keys(rows[0].accuracy_by_difficulty);
console.log(`| method | n | accuracy | ${levels.map((l) => `level ${l}`).join(' | ')} | median latency |`);
console.log(`|---|---|---|${levels.map(() => '---').join('|')}|---|`);
for (const r of rows) {
  console.log(
    `| ${r.method} | ${r.n} | ${pct(r.accuracy)} | ${levels.map((l) => pct(r.accuracy_by_difficulty[l])).join(' | ')} | ${r.latency_ms_median.toFixed(0)} ms |`,
  );
}
