/** Types of build-wasm.mjs, for the tests that import it. */
export function assemble(watPath: string): Promise<Buffer>;
