// Both device classes' WebGPU devices (the CPU route's kernels and the GPU variants, both on this
// machine's adapter) for a test file, created before its tests and destroyed after (not a test file itself).
import { afterAll, beforeAll } from 'vitest';
import { createGpu, type DeviceClass, type GpuContext } from '../src/gpu/device.ts';

export function gpuPerDeviceClass(): Partial<Record<DeviceClass, GpuContext>> {
  const gpus: Partial<Record<DeviceClass, GpuContext>> = {};
  beforeAll(async () => {
    gpus.cpu = await createGpu();
    gpus.gpu = await createGpu({ deviceClass: 'gpu' });
  });
  afterAll(() => {
    gpus.cpu?.destroy();
    gpus.gpu?.destroy();
  });
  return gpus;
}
