// better-sse, and node:http2 which it loads, cost more start-up than the rest of this folder: they
// are loaded by the first stream, not by importing the library. Later streams get the module
// already loaded.
let loaded: typeof import('better-sse') | undefined;

/** The better-sse module, imported on the first call. */
export async function loadBetterSse(): Promise<typeof import('better-sse')> {
  loaded ??= await import('better-sse');
  return loaded;
}
