/** Placeholder: the wasm training kernels land here (Conv2DBackpropFilter and friends). */
export function registerWasmTrainingKernels(): void {}
