// A seeded random-weights Qwen2 model of any config, as a ModelSource: the test models of the kernel,
// forward-pass and format tests, and the 1.5B-shaped model of the decode benchmark.
import { expectedTensors, parseQwen2Config, type Qwen2Config } from './config.ts';
import type { ModelSource, TensorRecord } from './source.ts';

/** Small deterministic PRNG (mulberry32) for weights; not the sampler's generator. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A tiny Qwen2 config with GQA and biases, in the Hugging Face config.json schema. */
export function tinyConfigJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 128,
    vocab_size: 96,
    max_position_embeddings: 512,
    rope_theta: 10000.0,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
    ...overrides,
  };
}

/** Values for one tensor: norms near 1, biases and weights small, scaled so activations stay O(1). */
export function randomTensorValues(name: string, shape: number[], rand: () => number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  if (name.endsWith('layernorm.weight') || name === 'model.norm.weight') {
    for (let i = 0; i < n; i++) v[i] = 0.8 + 0.4 * rand();
    return v;
  }
  const fanIn = shape.length === 2 ? shape[1] : 1;
  const scale = name.endsWith('.bias') ? 0.1 : name.includes('embed_tokens') ? 1 : 1 / Math.sqrt(fanIn);
  for (let i = 0; i < n; i++) v[i] = (rand() * 2 - 1) * scale * 1.7;
  return v;
}

export function randomModelSource(configJson: Record<string, unknown>, seed = 1, name = 'random-model'): ModelSource {
  const config: Qwen2Config = parseQwen2Config(configJson, `${name}/config.json`);
  return {
    name,
    config,
    async *tensors(): AsyncIterable<TensorRecord> {
      const rand = mulberry32(seed);
      for (const [tensorName, shape] of expectedTensors(config)) {
        yield { name: tensorName, shape, values: randomTensorValues(tensorName, shape, rand) };
      }
    },
  };
}
