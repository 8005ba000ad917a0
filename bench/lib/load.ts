import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { LoadOptions, LoadResult, RequestPlan } from "./plan";

export type { LoadOptions, LoadResult, RequestPlan } from "./plan";

const entry = new URL("./load-worker.ts", import.meta.url).href;
const tsxApi = esmEntry("tsx", "./esm/api");

/** File URL of a package export's ESM entry (require.resolve would pick the CommonJS one). */
function esmEntry(pkg: string, subpath: string): string {
  const manifest = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
  const { exports } = JSON.parse(readFileSync(manifest, "utf8")) as {
    exports: Record<string, { import?: { default?: string } }>;
  };
  const target = exports[subpath]?.import?.default;
  if (!target) throw new Error(`${pkg} has no ESM export ${subpath}`);
  return pathToFileURL(join(dirname(manifest), target)).href;
}

/**
 * The thread only gets plain Node, whatever runs this file (tsx, vitest): a tiny CommonJS bootstrap loads the
 * TypeScript entry through tsx's API.
 */
const bootstrap = `
const { workerData } = require("node:worker_threads");
import(workerData.tsxApi).then((api) => api.tsImport(workerData.entry, workerData.entry));
`;

/** A thread running a TypeScript module of the bench (`entry`: its file URL). */
export function tsThread(entry: string): Worker {
  return new Worker(bootstrap, { eval: true, workerData: { tsxApi, entry } });
}

type Reply = { id: number; ok: true; result: LoadResult } | { id: number; ok: false; error: string };

/**
 * A load generator thread, started once and reused for every run: its start-up (tsx compiling the entry, loading
 * autocannon) then stays out of the measured windows, including their CPU accounting.
 */
export class LoadGenerator {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();
  #next = 0;
  #failure: Error | undefined;

  constructor() {
    this.#worker = tsThread(entry);
    this.#worker.on("message", (msg: Reply) => {
      const job = this.#pending.get(msg.id);
      this.#pending.delete(msg.id);
      if (msg.ok) job?.resolve(msg.result);
      else job?.reject(new Error(`load generator failed: ${msg.error}`));
    });
    const fail = (err: Error) => {
      this.#failure = err;
      for (const job of this.#pending.values()) job.reject(err);
      this.#pending.clear();
    };
    this.#worker.on("error", fail);
    this.#worker.on("exit", (code) => fail(new Error(`load generator thread exited (code ${code})`)));
  }

  /** One autocannon run; runs are meant to be sequential (concurrent ones would share the thread's CPU). */
  run(options: LoadOptions, plan: RequestPlan): Promise<LoadResult> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, options, plan });
    });
  }

  async close(): Promise<void> {
    this.#worker.removeAllListeners("exit");
    await this.#worker.terminate();
  }
}

/** One run in a throwaway thread (tests, one-off measurements). */
export async function runLoad(options: LoadOptions, plan: RequestPlan): Promise<LoadResult> {
  const generator = new LoadGenerator();
  try {
    return await generator.run(options, plan);
  } finally {
    await generator.close();
  }
}
