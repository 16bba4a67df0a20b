// `fasttts solve`'s search with the contract's metrics lives in src/search/solve.ts (the API's solve()
// runs it); the command itself is src/commands/solve-cli.ts.
export { solve, type SolveOutput } from '../search/solve.ts';
