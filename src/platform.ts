// The one question the engine asks about where it runs: Node, or a browser page or worker. (Node-only
// modules are then imported on demand, through specifiers bundlers leave alone.)

/** Whether this is Node (it has `process.versions.node`), not a browser page or worker. */
export function inNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
}
