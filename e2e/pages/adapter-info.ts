// One line naming the WebGPU adapter the page would get (compatibility first, as the engine asks).
export async function describeAdapter(): Promise<string> {
  if (!('gpu' in navigator)) return 'no WebGPU (navigator.gpu missing)';
  for (const featureLevel of ['compatibility', 'core'] as const) {
    const adapter = await navigator.gpu.requestAdapter({ featureLevel } as GPURequestAdapterOptions);
    if (!adapter) continue;
    const info = adapter.info;
    const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'ANGLE/OpenGL ES';
    return `${name} (${featureLevel}, maxStorageBufferBindingSize ${adapter.limits.maxStorageBufferBindingSize})`;
  }
  return 'no WebGPU adapter';
}
