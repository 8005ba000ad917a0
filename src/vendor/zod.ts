/**
 * Bundle-size stand-in for the `zod` package, wired in by wrangler.toml `[alias]` (bundling only; types and tests
 * use the real package). `@hono/zod-openapi` passes zod's whole `z` namespace to `extendZodWithOpenApi`, so esbuild
 * must keep every export of it — including `z.locales`, ~260 KB of error-message translations the API never uses
 * (over a third of the Worker's gzip budget). This module is zod's own namespace re-exported without `locales`;
 * everything else is the untouched package code. Remove it when zod's namespace tree-shakes under esbuild.
 */
import * as z from "./zod-classic";

export * from "./zod-classic";
export { z, z as default };
