import type { Worker } from "node:worker_threads";
import { tsThread } from "./load";

export type ClientsRequest =
  | { op: "open"; url: string; secret: string; tenant: number; count: number }
  | { op: "received"; truth: string[][] }
  | { op: "collect" }
  | { op: "close" };

/** One client's view: event id → when its message handler ran (ms), duplicates, bytes received. */
export interface ClientReport {
  tenant: number;
  got: [string, number][];
  dup: number;
  bytes: number;
}

/** The stream study's WebSocket clients, on their own thread (stream-clients-worker.ts). */
export class StreamClients {
  readonly #worker: Worker = tsThread(new URL("./stream-clients-worker.ts", import.meta.url).href);
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 0;

  constructor() {
    this.#worker.on("message", (msg: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.#pending.get(msg.id);
      this.#pending.delete(msg.id);
      if (msg.ok) p?.resolve(msg.result);
      else p?.reject(new Error(msg.error));
    });
    this.#worker.on("error", (err) => {
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    });
  }

  #call<T>(req: ClientsRequest): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#worker.postMessage({ id, req });
    });
  }

  /** Opens `count` streams (50 at a time) as `secret`, counted for tenant index `tenant`; total clients after. */
  open(url: string, secret: string, tenant: number, count: number): Promise<number> {
    return this.#call({ op: "open", url, secret, tenant, count });
  }

  /** Messages received so far whose id is among their tenant's (`truth[tenant]`). */
  received(truth: string[][]): Promise<number> {
    return this.#call({ op: "received", truth });
  }

  collect(): Promise<ClientReport[]> {
    return this.#call({ op: "collect" });
  }

  /** Closes every stream (the thread keeps running for the next run). */
  closeAll(): Promise<number> {
    return this.#call({ op: "close" });
  }

  async stop(): Promise<void> {
    await this.#worker.terminate();
  }
}
