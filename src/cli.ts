export async function main(argv: string[]): Promise<number> {
  console.log('fasttts', argv);
  return 0;
}
