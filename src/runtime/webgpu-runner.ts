// The product ModelRunner: a Qwen2 decoder (generator or PRM verifier) on WebGPU, batched and ragged,
// reading and writing K/V through per-sequence block tables.
//
// Loading streams the source's tensors one at a time, packs each into the chosen weight format and
// uploads it before asking for the next; q/k/v are written as row blocks of one fused matrix. One
// forward call records every layer's kernels into one command buffer (norms, activation and residual
// adds fused into the projections: 6 dispatches per layer):
//   embed -> per layer [rmsnorm + qkv matmul + bias, rope + kv-write, attention, o matmul + residual,
//   rmsnorm + gate/up matmul + swiglu, down matmul + residual] -> per slice of output rows
//   [final rmsnorm of those rows, LM head | value head + sigmoid | score.0 + relu + score.2 + softmax].
//
// KV storage: page p is PAGE BYTES = pageSize * kvBytesPerToken(config, 2 or 4) bytes (K and V of every
// layer, f16 pairs packed per word by default or f32: src/gpu/kv-dtype.ts; layout in
// shaders/rope-kv.wgsl), at kvOffset + p * PAGE BYTES of the KV buffer. The buffer is
// the runner's own, or a region of a shared arena passed as options.kv (offsetBytes must be a multiple of
// the device's minStorageBufferOffsetAlignment, 256 in practice).
import { NoGpuError, OptionError, OutOfMemoryError, PromptTooLongError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';
import { storageBuffer, storageBufferWith, uniformBuffer, writeArray, writeUniform } from '../gpu/buffers.ts';
import { createGpuMatrix, destroyGpuMatrix, writeMatrixRows, type GpuMatrix } from '../gpu/weights.ts';
import type { Launch } from '../gpu/pipelines.ts';
import { createEmbedding } from '../gpu/kernels/embedding.ts';
import { createMatmul } from '../gpu/kernels/matmul.ts';
import { createRmsNorm } from '../gpu/kernels/rmsnorm.ts';
import { createRopeKv, ropeTable, type KvShape } from '../gpu/kernels/rope-kv.ts';
import { createAttention } from '../gpu/kernels/attention.ts';
import { createHeadOp } from '../gpu/kernels/heads.ts';
import { createPageCopy } from '../gpu/kernels/page-copy.ts';
import { expectedTensors, kvBytesPerToken, type Qwen2Config } from '../model/config.ts';
import { isQuantized, scaleWordsPerRow, type WeightFormat } from '../gpu/quant.ts';
import { kvBytesPerElement, type KvDtype } from '../gpu/kv-dtype.ts';
import type { LoadProgress, ModelSource } from '../model/source.ts';
import { flattenBatch, validatePagePairs } from './forward-batch.ts';
import type { ForwardBatch, ForwardResult, ModelRunner } from './types.ts';
import { allocateSlots, checkRunnerOptions, loadSlots, slotMatrices, slotVectors, type ModelSlots } from './model-weights.ts';

export interface WebGpuRunnerOptions {
  weightFormat: WeightFormat;
  numPages: number;
  pageSize?: number;
  /** K/V storage: 'f16' (default; two halves per word, f32 arithmetic) or 'f32'. */
  kvDtype?: KvDtype;
  /** Most token rows in one forward call (activation buffers are sized for it). Default 256. */
  maxBatchTokens?: number;
  /** KV storage inside a caller's buffer (the shared KV arena); default: the runner allocates its own. */
  kv?: { buffer: GPUBuffer; offsetBytes: number; numPages: number };
  /** Largest weight part (tests use a small value to exercise split matrices). Default: the binding limit. */
  maxWeightPartBytes?: number;
  onProgress?: (p: LoadProgress) => void;
}

export interface WebGpuRunner extends ModelRunner {
  readonly gpu: GpuContext;
  readonly weightFormat: WeightFormat;
  /** How K/V is stored. */
  readonly kvDtype: KvDtype;
  /** Bytes of one KV page: pageSize * kvBytesPerToken(config, bytes per element of kvDtype). */
  readonly pageBytes: number;
  /** Bytes of weights on the GPU. */
  readonly weightBytes: number;
  /** The KV storage: buffer, byte offset, byte size. */
  readonly kvRegion: { buffer: GPUBuffer; offsetBytes: number; bytes: number };
}

type Weights = ModelSlots<GpuMatrix, GPUBuffer> & { bytes: number };

/** Rows of the head (LM head / PRM head) processed per pass; logits for this many rows must fit one binding. */
function headSliceRows(c: Qwen2Config, maxBatchTokens: number, maxBinding: number): number {
  const perRow = c.kind === 'causal-lm' ? c.vocabSize * 4 : c.hiddenSize * 4;
  return Math.max(1, Math.min(maxBatchTokens, 64, Math.floor(maxBinding / perRow)));
}

/** Creates every weight buffer (synchronously, so allocation failures are caught in one error scope). */
function allocateWeights(gpu: GpuContext, c: Qwen2Config, format: WeightFormat, maxPartBytes: number): Weights {
  const slots = allocateSlots(
    c,
    (rows, cols, label, f32) => createGpuMatrix(gpu.device, f32 ? 'f32' : format, rows, cols, maxPartBytes, label),
    (n, label) => storageBuffer(gpu.device, n * 4, label),
  );
  return { ...slots, bytes: slotMatrices(slots).reduce((sum, m) => sum + m.bytes, 0) };
}

function destroyWeights(w: Weights): void {
  for (const m of slotMatrices(w)) destroyGpuMatrix(m);
  for (const b of slotVectors(w)) b.destroy();
}

/** Streams the source's tensors into the allocated buffers, one tensor in JS memory at a time. */
async function uploadWeights(gpu: GpuContext, source: ModelSource, w: Weights, onProgress?: (p: LoadProgress) => void): Promise<void> {
  const expected = expectedTensors(source.config);
  // Quantize and upload progress count bytes written to the GPU: packed matrices and f32 vectors.
  let bytesTotal = w.bytes;
  for (const shape of expected.values()) if (shape.length === 1) bytesTotal += shape[0] * 4;
  let bytesDone = 0;
  let tensorsDone = 0;
  const report = (phase: 'quantize' | 'upload') => onProgress?.({ phase, bytesDone, bytesTotal, tensorsDone, tensorsTotal: expected.size });
  await loadSlots(
    source,
    w,
    {
      matrix(m, rowStart, pack) {
        if (isQuantized(m.format)) report('quantize');
        const packed = pack(m.format);
        writeMatrixRows(gpu.device, m, rowStart, packed);
        bytesDone += packed.data.byteLength + (isQuantized(m.format) ? packed.rows * scaleWordsPerRow(packed.cols) * 4 : 0);
      },
      vector(b, offset, values) {
        writeArray(gpu.device, b, offset * 4, values);
        bytesDone += values.byteLength;
      },
      tensorDone() {
        tensorsDone++;
        report('upload');
      },
    },
    onProgress,
  );
}

/** Runs the synchronous `f` inside out-of-memory and validation error scopes (pushed and popped with no
 *  await in between, so concurrent work on the device cannot interleave): a failed allocation becomes
 *  an OutOfMemoryError, anything else the device rejects an Error naming it (an engine bug). */
async function withErrorScopes<R>(gpu: GpuContext, what: string, f: () => R): Promise<R> {
  const device = gpu.device;
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: R | undefined;
  let thrown: unknown = null;
  try {
    result = f();
  } catch (e) {
    thrown = e;
  }
  const validation = device.popErrorScope();
  const oom = device.popErrorScope();
  const [v, o] = await Promise.all([validation, oom]);
  if (thrown) throw thrown;
  if (gpu.lostError) throw gpu.lostError;
  if (o) throw new OutOfMemoryError(`${what}: the GPU is out of memory (${o.message.split('\n')[0]})`);
  if (v) throw new Error(`${what}: WebGPU rejected a command: ${v.message.split('\n')[0]}`);
  return result as R;
}

/** Storage buffers the widest kernel binds (the fused norm + gate/up + SwiGLU projection). */
const STORAGE_BUFFERS_NEEDED = 8;

export async function createWebGpuRunner(gpu: GpuContext, source: ModelSource, options: WebGpuRunnerOptions): Promise<WebGpuRunner> {
  gpu.assertAlive();
  if (gpu.limits.maxStorageBuffersPerShaderStage < STORAGE_BUFFERS_NEEDED) {
    throw new NoGpuError(
      `${gpu.route} offers ${gpu.limits.maxStorageBuffersPerShaderStage} storage buffers per shader stage; the engine needs ${STORAGE_BUFFERS_NEEDED}`,
    );
  }
  return buildRunner(gpu, source, options);
}

async function buildRunner(gpu: GpuContext, source: ModelSource, options: WebGpuRunnerOptions): Promise<WebGpuRunner> {
  const c = source.config;
  const device = gpu.device;
  const { format, pageSize, maxBatchTokens, kvDtype } = checkRunnerOptions(c, options);
  // Largest buffer one binding can address (a buffer cannot be larger than maxBufferSize either).
  const maxBinding = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  const maxPartBytes = Math.min(options.maxWeightPartBytes ?? maxBinding, maxBinding);

  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const qkvCols = H + 2 * c.numKvHeads * c.headDim;
  const pageBytes = pageSize * kvBytesPerToken(c, kvBytesPerElement(kvDtype));
  const pageFloats = pageSize * kvBytesPerToken(c, 1);

  // KV storage (own or the caller's region).
  let numPages = options.numPages;
  if (options.kv) {
    numPages = options.kv.numPages;
    if (options.kv.offsetBytes % gpu.limits.minStorageBufferOffsetAlignment !== 0) {
      throw new OptionError(`KV region offset ${options.kv.offsetBytes} is not a multiple of ${gpu.limits.minStorageBufferOffsetAlignment}`);
    }
    if ((options.kv.buffer.usage & GPUBufferUsage.STORAGE) === 0) throw new OptionError('the KV buffer was not created with STORAGE usage');
    if (options.kv.offsetBytes + numPages * pageBytes > options.kv.buffer.size)
      throw new OptionError(`KV region of ${numPages} pages of ${pageBytes} bytes does not fit the given buffer`);
  }
  if (!Number.isInteger(numPages) || numPages < 1) throw new OptionError(`numPages must be a positive integer, got ${numPages}`);
  if (numPages * pageBytes > maxBinding) {
    throw new OutOfMemoryError(`KV region of ${numPages} pages x ${pageBytes} bytes exceeds the device's storage binding limit of ${maxBinding} bytes`);
  }

  // Every buffer is created here, in one error scope; activations are sized for maxBatchTokens rows.
  const T = maxBatchTokens;
  const headRows = headSliceRows(c, T, maxBinding);
  // Positions and block tables are sized by what this runner can hold, not by the config's
  // max_position_embeddings (up to millions): one sequence never spans more than the runner's pages.
  const contextLimit = Math.min(c.maxPositions, numPages * pageSize);
  const maxTableEntries = Math.min(T * Math.ceil(contextLimit / pageSize), Math.floor(maxBinding / 4));
  // The widest activation must fit one binding.
  const widestRow = Math.max(I, qkvCols) * 4;
  if (T * widestRow > maxBinding) {
    throw new OptionError(
      `maxBatchTokens ${T} is too large for this device and model: at most ${Math.floor(maxBinding / widestRow)} token rows fit one storage binding`,
    );
  }
  const allocate = () => {
    const ownKv = options.kv ? null : storageBuffer(device, numPages * pageBytes, 'kv');
    const kvBinding: GPUBufferBinding = options.kv
      ? { buffer: options.kv.buffer, offset: options.kv.offsetBytes, size: numPages * pageBytes }
      : { buffer: ownKv!, offset: 0, size: numPages * pageBytes };
    const weights = allocateWeights(gpu, c, format, maxPartBytes);
    const buf = {
      dims: uniformBuffer(device, [0, 0, 0, 0], 'dims'),
      rowInfo: storageBuffer(device, T * 16, 'row_info'),
      blockTables: storageBuffer(device, maxTableEntries * 4, 'block_tables'),
      outputIndex: storageBuffer(device, T * 4, 'output_index'),
      x: storageBuffer(device, T * H * 4, 'x'),
      qkv: storageBuffer(device, T * qkvCols * 4, 'qkv'),
      attn: storageBuffer(device, T * H * 4, 'attn'),
      act: storageBuffer(device, T * I * 4, 'act'),
      headIn: storageBuffer(device, headRows * H * 4, 'head_in'),
      headMid: storageBuffer(device, headRows * H * 4, 'head_mid'),
      headOut: storageBuffer(device, headRows * (c.kind === 'causal-lm' ? c.vocabSize : 2) * 4, 'head_out'),
      scores: storageBuffer(device, headRows * 4, 'scores'),
      pairs: storageBuffer(device, 2 * 4 * Math.max(1, numPages), 'page_pairs'),
      ropeTable: storageBufferWith(device, ropeTable(c.headDim, c.ropeTheta, contextLimit), 'rope_table'),
    };
    return { ownKv, kvBinding, weights, buf };
  };
  const { ownKv, kvBinding, weights, buf } = await withErrorScopes(gpu, `allocating ${source.name}`, allocate);
  const release = () => {
    destroyWeights(weights);
    for (const b of Object.values(buf)) b.destroy();
    ownKv?.destroy();
  };
  try {
    await uploadWeights(gpu, source, weights, options.onProgress);
  } catch (e) {
    release();
    throw e;
  }
  const layerUniforms = weights.layers.map((_, i) => uniformBuffer(device, [i, 0, 0, 0], `layer${i}`));
  const kvShape: KvShape = { headDim: c.headDim, numHeads: c.numHeads, numKvHeads: c.numKvHeads, pageSize, pageFloats, dtype: kvDtype };
  const cls = gpu.deviceClass;

  // Record the kernel launches once; a forward only rewrites the small uniform/index buffers.
  const body: Launch[] = [await createEmbedding(device, weights.embed, { dims: buf.dims, rowInfo: buf.rowInfo, out: buf.x })];
  for (let i = 0; i < c.numLayers; i++) {
    const L = weights.layers[i];
    const layer = layerUniforms[i];
    const common = { dims: buf.dims, layer, rowInfo: buf.rowInfo, blockTables: buf.blockTables, qkv: buf.qkv, kv: kvBinding };
    body.push(
      (await createMatmul(device, { matrix: L.qkv, deviceClass: cls, hasBias: true, accumulate: false, normEps: c.rmsNormEps })).bind({
        dims: buf.dims,
        x: buf.x,
        norm: L.inputNorm,
        bias: L.qkvBias,
        y: buf.qkv,
      }),
    );
    body.push(await createRopeKv(device, kvShape, { ...common, table: buf.ropeTable }));
    body.push(await createAttention(device, cls, kvShape, { ...common, out: buf.attn }));
    body.push(
      (await createMatmul(device, { matrix: L.o, deviceClass: cls, hasBias: false, accumulate: true })).bind({ dims: buf.dims, x: buf.attn, y: buf.x }),
    );
    body.push(
      (await createMatmul(device, { matrix: L.gate, up: L.up, deviceClass: cls, hasBias: false, accumulate: false, normEps: c.rmsNormEps })).bind({
        dims: buf.dims,
        x: buf.x,
        norm: L.postNorm,
        y: buf.act,
      }),
    );
    body.push(
      (await createMatmul(device, { matrix: L.down, deviceClass: cls, hasBias: false, accumulate: true })).bind({ dims: buf.dims, x: buf.act, y: buf.x }),
    );
  }

  // Head launches per slice of output rows: each slice has its own dims uniform {rows, base}.
  const sliceDims: GPUBuffer[] = [];
  const sliceLaunches: Launch[][] = [];
  async function headLaunches(slice: number): Promise<Launch[]> {
    if (sliceLaunches[slice]) return sliceLaunches[slice];
    const dims = uniformBuffer(device, [0, 0, 0, 0], `head_dims${slice}`);
    sliceDims[slice] = dims;
    const out: Launch[] = [
      await createRmsNorm(
        device,
        { hidden: H, eps: c.rmsNormEps, rowIndexed: true, deviceClass: cls },
        { dims, x: buf.x, weight: weights.finalNorm, rowIndex: buf.outputIndex, y: buf.headIn },
      ),
    ];
    if (c.kind === 'causal-lm') {
      const lm = weights.lmHead ?? weights.embed;
      out.push((await createMatmul(device, { matrix: lm, deviceClass: cls, hasBias: false, accumulate: false })).bind({ dims, x: buf.headIn, y: buf.headOut }));
    } else if (weights.vHead) {
      out.push(
        (await createMatmul(device, { matrix: weights.vHead.w, deviceClass: cls, hasBias: true, accumulate: false })).bind({
          dims,
          x: buf.headIn,
          bias: weights.vHead.b,
          y: buf.headOut,
        }),
      );
      out.push(await createHeadOp(device, 'sigmoid_rows', 1, { dims, v: buf.headOut, score: buf.scores }));
    } else if (weights.score) {
      out.push(
        (await createMatmul(device, { matrix: weights.score.w0, deviceClass: cls, hasBias: true, accumulate: false })).bind({
          dims,
          x: buf.headIn,
          bias: weights.score.b0,
          y: buf.headMid,
        }),
      );
      out.push(await createHeadOp(device, 'relu', H, { dims, v: buf.headMid, score: buf.scores }));
      out.push(
        (await createMatmul(device, { matrix: weights.score.w2, deviceClass: cls, hasBias: true, accumulate: false })).bind({
          dims,
          x: buf.headMid,
          bias: weights.score.b2,
          y: buf.headOut,
        }),
      );
      out.push(await createHeadOp(device, 'softmax2', 2, { dims, v: buf.headOut, score: buf.scores }));
    }
    sliceLaunches[slice] = out;
    return out;
  }
  await headLaunches(0);
  const pageCopy = await createPageCopy(device, pageBytes, { dims: buf.dims, pairs: buf.pairs, kv: kvBinding });

  let disposed = false;
  // Forward calls and page copies run one at a time (they share the activation buffers).
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <R>(f: () => Promise<R>): Promise<R> => {
    const next = queue.then(f, f);
    queue = next.catch(() => undefined);
    return next;
  };

  async function mapped(staging: GPUBuffer): Promise<ArrayBuffer> {
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      // A lost device rejects the map; the lost promise may settle a moment later.
      await Promise.race([device.lost, new Promise((r) => setTimeout(r, 200))]);
      if (gpu.lostError) throw gpu.lostError;
      throw e;
    }
    return staging.getMappedRange().slice(0);
  }

  function checkUsable(): void {
    if (disposed) throw new OptionError('the runner has been disposed');
    gpu.assertAlive();
  }

  async function forward(batch: ForwardBatch): Promise<ForwardResult> {
    checkUsable();
    const flat = flattenBatch(c, pageSize, numPages, batch);
    // Only a block table naming a page twice reaches past the runner's pages (and its RoPE table).
    for (const ch of batch.chunks) {
      const end = ch.start + ch.tokens.length;
      if (end > contextLimit) throw new PromptTooLongError(end, contextLimit);
    }
    const outRows = flat.outputIndex.length;
    if (flat.rows > maxBatchTokens) throw new OptionError(`forward: ${flat.rows} tokens exceed maxBatchTokens ${maxBatchTokens}`);
    if (flat.blockTables.length > maxTableEntries) throw new OptionError(`forward: ${flat.blockTables.length} block-table entries exceed ${maxTableEntries}`);
    if (flat.rows === 0) return c.kind === 'causal-lm' ? { rows: 0, logits: new Float32Array(0) } : { rows: 0, scores: new Float32Array(0) };
    const perRowOut = c.kind === 'causal-lm' ? c.vocabSize : 1;
    const outBytes = outRows * perRowOut * 4;
    const src = c.kind === 'causal-lm' ? buf.headOut : buf.scores;
    const slices: Array<{ rows: number; base: number; launches: Launch[] }> = [];
    for (let slice = 0, base = 0; base < outRows; slice++, base += headRows) {
      slices.push({ rows: Math.min(headRows, outRows - base), base, launches: await headLaunches(slice) });
    }
    const staging = device.createBuffer({ size: Math.max(16, outBytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      await withErrorScopes(gpu, 'forward', () => {
        writeUniform(device, buf.dims, [flat.rows, 0, 0, 0]);
        writeArray(device, buf.rowInfo, 0, flat.rowInfo);
        writeArray(device, buf.blockTables, 0, flat.blockTables);
        if (outRows > 0) writeArray(device, buf.outputIndex, 0, flat.outputIndex);
        const encoder = device.createCommandEncoder();
        let pass = encoder.beginComputePass();
        for (const l of body) l.encode(pass, flat.rows);
        pass.end();
        slices.forEach(({ rows, base, launches }, slice) => {
          writeUniform(device, sliceDims[slice], [rows, base, 0, 0]);
          pass = encoder.beginComputePass();
          for (const l of launches) l.encode(pass, rows);
          pass.end();
          encoder.copyBufferToBuffer(src, 0, staging, base * perRowOut * 4, rows * perRowOut * 4);
        });
        device.queue.submit([encoder.finish()]);
      });
      const data = new Float32Array(await mapped(staging), 0, outRows * perRowOut);
      return c.kind === 'causal-lm' ? { rows: outRows, logits: data } : { rows: outRows, scores: data };
    } finally {
      staging.destroy();
    }
  }

  async function copyPages(pairs: Array<[number, number]>): Promise<void> {
    checkUsable();
    validatePagePairs(pairs, numPages);
    if (pairs.length === 0) return;
    writeUniform(device, buf.dims, [pairs.length, 0, 0, 0]);
    writeArray(device, buf.pairs, 0, new Uint32Array(pairs.flat()));
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pageCopy.encode(pass, pairs.length);
    pass.end();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    gpu.assertAlive();
  }

  return {
    config: c,
    pageSize,
    numPages,
    gpu,
    weightFormat: format,
    kvDtype,
    pageBytes,
    weightBytes: weights.bytes,
    kvRegion: { buffer: kvBinding.buffer, offsetBytes: kvBinding.offset ?? 0, bytes: numPages * pageBytes },
    forward: (batch) => serial(() => forward(batch)),
    copyPages: (pairs) => serial(() => copyPages(pairs)),
    dispose() {
      if (disposed) return;
      disposed = true;
      void queue.then(release);
    },
  };
}
