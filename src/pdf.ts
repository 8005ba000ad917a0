/**
 * pdf-lib, loaded on first use. It is ~200 KiB gzip, as much as the rest of the Worker: the dynamic import of a
 * file that wrangler.toml's `rules` declare as its own module keeps it out of the main bundle, so the fetch path never
 * parses it; only the queue consumers that render receipts and statements load it. The promise is kept so an isolate
 * loads it once. This file sits in src/ itself because wrangler emits the import path verbatim and uploads the module
 * under its path relative to src/ (the bundle's root): only from here do both agree.
 */
let loading: Promise<typeof import("pdf-lib")> | undefined;

export function loadPdfLib(): Promise<typeof import("pdf-lib")> {
  loading ??= import("./vendor/pdf-lib.mjs");
  return loading;
}
