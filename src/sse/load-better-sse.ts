// better-sse, and node:http2 which it loads, cost more start-up than the rest of this folder: they
// are loaded by the first stream, not by importing the library. Later streams get the module
// already loaded.
let loaded: typeof import('better-sse') | undefined;

/** The better-sse module, imported on the first call. */
export async function loadBetterSse(): Promise<typeof import('better-sse')> {
  loaded ??= await import('better-sse');
  return loaded;
}

/**
 * The better-sse module for synchronous code (the frame of each event), which runs only once a
 * stream has begun, so after {@link loadBetterSse}. A static import here would load it, node:http
 * and node:http2 in every process that imports the library.
 */
export function loadedBetterSse(): typeof import('better-sse') {
  if (loaded === undefined) throw new Error('better-sse is used before loadBetterSse() loaded it');
  return loaded;
}
