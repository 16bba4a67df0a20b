// The command line run in a child process, as the CLI tests see it: exit status, stdout, stderr lines.
import { spawnSync } from 'node:child_process';

/**
 * Dawn logs these whenever it creates an OpenGL ES adapter (the CPU route here), from inside
 * requestAdapter: "Warning: maxDynamic...BuffersPerPipelineLayout artificially reduced ...". dawn.node
 * gives JavaScript no hold on Dawn's instance logging, so the engine cannot avoid them; the tests drop
 * exactly these lines (and empty ones) and count the rest.
 */
const DAWN_GLES_LIMIT_LOG = /^Warning: max\w+ artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

export function stderrLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l !== '' && !DAWN_GLES_LIMIT_LOG.test(l));
}

export function runCli(args: string[], timeoutMs = 120_000): { status: number | null; stdout: string; stderr: string[] } {
  const r = spawnSync(process.execPath, ['bin/fasttts.mjs', ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: stderrLines(r.stderr) };
}
