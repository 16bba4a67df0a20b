// `fasttts generate`: load a model, tokenize the prompt (through its chat template unless --raw), and
// stream sampled tokens to stdout; --json prints one object with the text and timings instead.
import { choiceOption, intOption, numberOption, optionSpecs, parseCommandArgs } from './args.ts';
import { OptionError } from '../errors.ts';
import { openModel } from '../model/open-model.ts';
import { StreamingDecoder } from '../model/tokenizer.ts';
import { checkRequestsFit, generate } from '../runtime/generate.ts';
import { validateSampling } from '../runtime/sampler.ts';
import { closeRoute, createRouteRunner, openRoute, ROUTE_CHOICES } from '../runtime/route.ts';
import { DEFAULT_GENERATOR } from './default-models.ts';
import { WEIGHT_FORMATS } from '../gpu/quant.ts';
import { progressBar } from './progress-bar.ts';

/** The options `generate` accepts (the help in cli.ts lists the same ones). */
export const GENERATE_OPTIONS = optionSpecs(
  ['model', 'prompt', 'max-tokens', 'temperature', 'top-p', 'top-k', 'seed', 'weights', 'route', 'threads'],
  ['raw', 'json'],
);

export async function generateCommand(argv: string[]): Promise<number> {
  const { values, flags } = parseCommandArgs('generate', argv, GENERATE_OPTIONS);
  if (values.prompt === undefined) throw new OptionError('--prompt <text> is required');
  const maxTokens = intOption('max-tokens', values['max-tokens'], 128, 1, 1 << 20);
  const sampling = validateSampling({
    temperature: numberOption('temperature', values.temperature, 0, 0, 100),
    topP: numberOption('top-p', values['top-p'], 1, Number.MIN_VALUE, 1),
    topK: intOption('top-k', values['top-k'], 0, 0),
    seed: intOption('seed', values.seed, 0, 0, 0xffffffff),
  });
  const weightFormat = choiceOption('weights', values.weights, 'q8', WEIGHT_FORMATS);
  const routeChoice = choiceOption('route', values.route, 'auto', ROUTE_CHOICES);
  const threads = values.threads === undefined ? undefined : intOption('threads', values.threads, 1, 1, 64);

  const model = await openModel(values.model ?? DEFAULT_GENERATOR, { onProgress: progressBar('loading') });
  if (model.config.kind !== 'causal-lm') throw new OptionError(`generate: ${model.name} is a reward model (${model.config.architecture}), not a generator`);
  const tokenizer = model.tokenizer!;
  const promptText = flags.raw ? values.prompt : tokenizer.applyChatTemplate([{ role: 'user', content: values.prompt }]);
  const prompt = tokenizer.encode(promptText);
  // Before the KV cache is sized from it (and before the GPU starts).
  checkRequestsFit([{ prompt, maxTokens }], model.config.maxPositions);

  const route = await openRoute(routeChoice, { threads });
  const pageSize = 16;
  const maxBatchTokens = 256;
  const numPages = Math.ceil((prompt.length + maxTokens) / pageSize) + 1;
  const runner = await createRouteRunner(route, model.source, { weightFormat, numPages, pageSize, maxBatchTokens, onProgress: progressBar('uploading') });
  try {
    const decoder = new StreamingDecoder(tokenizer);
    const result = await generate(runner, [{ prompt, maxTokens }], {
      sampling,
      eosTokenIds: model.generationConfig.eosTokenIds.length > 0 ? model.generationConfig.eosTokenIds : tokenizer.eosTokenIds,
      maxBatchTokens,
      onToken: flags.json ? undefined : (_, tok) => process.stdout.write(decoder.push(tok)),
    });
    const ids = result.tokens[0];
    if (flags.json) {
      console.log(
        JSON.stringify({
          text: tokenizer.decode(ids, { skipSpecialTokens: true }),
          token_ids: ids,
          prompt_tokens: prompt.length,
          finish_reason: result.finishReasons[0],
          metrics: {
            prefill_ms: result.prefillMs,
            decode_ms: result.decodeMs,
            tokens_per_s: result.decodeSteps > 0 ? (result.decodeSteps * 1000) / result.decodeMs : 0,
          },
          device: route.describe,
          weights: weightFormat,
        }),
      );
    } else {
      process.stdout.write('\n');
      console.error(`[${ids.length} tokens, ${((result.decodeSteps * 1000) / Math.max(1e-9, result.decodeMs)).toFixed(1)} tok/s decode, ${route.describe}]`);
    }
    return 0;
  } finally {
    runner.dispose();
    closeRoute(route);
  }
}
