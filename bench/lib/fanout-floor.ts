import { Miniflare } from "miniflare";
import type { StreamClients } from "./stream-clients";

/**
 * The machine's floor for the stream study: a bare Durable Object in a workerd of its own that accepts hibernatable
 * WebSockets through a Worker exactly as the app does (Worker → `stub.fetch` → `ctx.acceptWebSocket`, 101 back
 * through the Worker) and sends messages of the app's size to every socket at the moments the app run's events were
 * created (`schedule`: the queue hands the consumer 2–3 payments at once, so events come in bursts) — no database,
 * queue, filter or storage write. The study's clients receive them; latency is the scheduled moment → the client's
 * handler, as the app's is the event's `created_at` → the handler. The app cannot beat this on the same machine at
 * the same moment: it is what workerd and the clients alone cost for those messages at those moments (the app adds
 * its commit, poke and code). Messages start `{"id":"evt_…"` like events, so the same clients read them.
 */
const script = (bytes: number) => `
import { DurableObject } from "cloudflare:workers";
const pad = "p".repeat(${bytes});
let seq = 0;
const id = () => "evt_" + (Date.now() * 1000 + seq++).toString(36).padStart(26, "0").slice(-26);
export class Floor extends DurableObject {
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/send") {
      const ids = [];
      const sockets = this.ctx.getWebSockets();
      for (let i = 0; i < Number(url.searchParams.get("n")); i++) {
        const message = JSON.stringify({ id: id(), pad });
        ids.push(JSON.parse(message).id);
        for (const ws of sockets) ws.send(message);
      }
      return Response.json({ ids });
    }
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, ["t:*"]);
    return new Response(null, { status: 101, webSocket: client });
  }
}
export default {
  fetch: (req, env) => env.FLOOR.get(env.FLOOR.idFromName("tenant")).fetch(req),
};`;

export interface FloorResult {
  messages: number;
  delivered: number;
  latencyMs: { p50: number; p95: number; p99: number };
}

export async function fanoutFloor(opts: {
  sockets: number;
  /** When each message is due (ms after the first; sorted): the app run's events' `created_at`. */
  schedule: number[];
  /** Size of a message (the study's mean event size). */
  bytes: number;
  compatibilityDate: string;
  /** The study's client thread (its streams closed): the floor's sockets are opened there, like the study's. */
  clients: StreamClients;
}): Promise<FloorResult> {
  const mf = new Miniflare({
    modules: true,
    script: script(opts.bytes),
    compatibilityDate: opts.compatibilityDate,
    durableObjects: { FLOOR: "Floor" },
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  });
  try {
    await mf.ready;
    const base = (await mf.unsafeGetDirectURL()).origin;
    await opts.clients.open(`${base.replace(/^http/, "ws")}/stream`, "floor", 0, opts.sockets);
    await new Promise((r) => setTimeout(r, 500));
    const sent = new Map<string, number>();
    const start = Date.now() + 100;
    for (let i = 0; i < opts.schedule.length; ) {
      const due = start + (opts.schedule[i] ?? 0);
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      // Every message due by now, in one request (those of one burst, or come due during the last send).
      const batch: number[] = [];
      while (i < opts.schedule.length && start + (opts.schedule[i] ?? 0) <= Date.now())
        batch.push(start + (opts.schedule[i++] ?? 0));
      const res = (await (await fetch(`${base}/send?n=${batch.length}`)).json()) as { ids: string[] };
      for (const [k, id] of res.ids.entries()) sent.set(id, batch[k] ?? 0);
    }
    await new Promise((r) => setTimeout(r, 1_000));
    const latencies: number[] = [];
    const clients = await opts.clients.collect();
    for (const c of clients) {
      for (const [id, at] of c.got) {
        const t = sent.get(id);
        if (t !== undefined) latencies.push(at - t);
      }
    }
    latencies.sort((a, b) => a - b);
    const q = (x: number) => latencies[Math.min(latencies.length - 1, Math.floor(x * latencies.length))] ?? 0;
    return {
      messages: sent.size * clients.length,
      delivered: latencies.length,
      latencyMs: { p50: q(0.5), p95: q(0.95), p99: q(0.99) },
    };
  } finally {
    await opts.clients.closeAll();
    await mf.dispose();
  }
}
