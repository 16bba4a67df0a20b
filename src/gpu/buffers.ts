// Small helpers for GPU buffers: storage buffers from typed arrays, uniforms, read-back.
export function storageBuffer(device: GPUDevice, bytes: number, label: string, extraUsage = 0): GPUBuffer {
  // Storage bindings must be a multiple of 4 bytes; vec4 arrays want 16.
  const size = Math.max(16, Math.ceil(bytes / 16) * 16);
  return device.createBuffer({ label, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC | extraUsage });
}

export function storageBufferWith(device: GPUDevice, data: Float32Array | Uint32Array, label: string): GPUBuffer {
  const buffer = storageBuffer(device, data.byteLength, label);
  writeArray(device, buffer, 0, data);
  return buffer;
}

/** A 16-byte uniform of four u32 (the kernels' Dims / Layer structs). */
export function uniformBuffer(device: GPUDevice, values: [number, number, number, number], label: string): GPUBuffer {
  const buffer = device.createBuffer({ label, size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, 0, new Uint32Array(values));
  return buffer;
}

export function writeUniform(device: GPUDevice, buffer: GPUBuffer, values: [number, number, number, number]): void {
  device.queue.writeBuffer(buffer, 0, new Uint32Array(values));
}

const placeholders = new WeakMap<GPUDevice, GPUBuffer>();
/** A 16-byte storage buffer bound where a kernel variant reads nothing (e.g. no bias). */
export function placeholderBuffer(device: GPUDevice): GPUBuffer {
  let b = placeholders.get(device);
  if (!b) {
    b = storageBuffer(device, 16, 'placeholder');
    placeholders.set(device, b);
  }
  return b;
}

/** queue.writeBuffer for typed arrays (offset and size in elements), whatever their buffer's type. */
export function writeArray(
  device: GPUDevice,
  buffer: GPUBuffer,
  offsetBytes: number,
  data: Float32Array | Uint32Array,
  offset = 0,
  size = data.length - offset,
): void {
  device.queue.writeBuffer(buffer, offsetBytes, data.buffer as ArrayBuffer, data.byteOffset + offset * 4, size * 4);
}
