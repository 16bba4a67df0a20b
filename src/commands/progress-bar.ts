// A one-line progress bar on stderr for model loading (only when stderr is a terminal).
import type { LoadProgress } from '../model/source.ts';

export function progressBar(label: string): ((p: LoadProgress) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (p.phase !== 'done' && now - last < 100) return;
    last = now;
    const frac = p.tensorsTotal > 0 ? p.tensorsDone / p.tensorsTotal : p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 0;
    const width = 30;
    const filled = Math.round(Math.min(1, frac) * width);
    const mb = (b: number) => (b / 1048576).toFixed(1);
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.phase} ${p.tensorsDone}/${p.tensorsTotal} tensors ${mb(p.bytesDone)}/${mb(p.bytesTotal)} MB`;
    process.stderr.write(`\r${line.padEnd(100)}`);
    if (p.phase === 'done') process.stderr.write('\n');
  };
}
