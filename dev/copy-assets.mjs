// Copies browser bundles from node_modules into public/ (Workers static assets) at install time, so /docs loads
// Scalar from this Worker's own origin instead of a CDN. Runs from `postinstall`: plain Node ESM, no tsx, no deps.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** [source in node_modules, destination relative to the repo, optional edit of the text] */
const assets = [
  ["@scalar/api-reference/dist/browser/standalone.js", "public/vendor/scalar-api-reference.js"],
  // pdf-lib as a separate Worker module (wrangler.toml `rules`), loaded by dynamic import only in queue consumers:
  // it stays out of the fetch path's bundle (src/lib/pdf.ts). Its one console.log is a leftover debug print in the
  // flate DECODER (parsing existing PDFs, which edgepay never does); dropped so that nothing in the Worker writes
  // outside the project's logger.
  [
    "pdf-lib/dist/pdf-lib.esm.min.js",
    "src/vendor/pdf-lib.mjs",
    (text) => text.replace('console.log("FLATE:",s)', "void 0"),
  ],
];

let missing = 0;
for (const [from, to, edit = (text) => text] of assets) {
  const source = join(root, "node_modules", from);
  const target = join(root, to);
  if (!existsSync(source)) {
    // `npm ci --omit=dev` has no devDependencies: warn instead of breaking a production-only install.
    console.warn(`copy-assets: ${from} is not installed; /${to} will be missing (install devDependencies).`);
    missing++;
    continue;
  }
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, edit(readFileSync(source, "utf8")));
}
if (missing === 0) console.log(`copy-assets: ${assets.length} file(s) copied`);
