// Node module hook: `import src from './x.wgsl?raw'` yields the file's text, as Vite does. The query is
// ignored (tsx's scoped imports add their own parameters to it).
import { readFile } from 'node:fs/promises';

export async function load(url, context, nextLoad) {
  const parsed = new URL(url);
  if (parsed.protocol === 'file:' && parsed.pathname.endsWith('.wgsl')) {
    parsed.search = '';
    const text = await readFile(parsed, 'utf8');
    return { format: 'module', shortCircuit: true, source: `export default ${JSON.stringify(text)};` };
  }
  return nextLoad(url, context);
}
