import { Miniflare } from "miniflare";
import type { StreamClients } from "./stream-clients";

/**
 * The machine's floor for the stream study: a bare Durable Object in a workerd of its own that accepts hibernatable
 * WebSockets through a Worker exactly as the app does (Worker → `stub.fetch` → `ctx.acceptWebSocket`, 101 back
 * through the Worker) and, per round, sends `perRound` messages of the app's size to every socket — no database,
 * queue, filter or storage write. The study's clients receive them; latency is the object's send → the client's
 * handler. The app's commit → client cannot beat this on the same machine at the same moment: it is what workerd and
 * the clients cost for that many messages. Messages start `{"id":"evt_…"` like events, so the same clients read
 * them.
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
      const at = Date.now();
      const ids = [];
      const sockets = this.ctx.getWebSockets();
      for (let i = 0; i < Number(url.searchParams.get("n")); i++) {
        const message = JSON.stringify({ id: id(), at, pad });
        ids.push(JSON.parse(message).id);
        for (const ws of sockets) ws.send(message);
      }
      return Response.json({ at, ids });
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
  rounds: number;
  perRound: number;
  /** Messages per second, as the study's payments produce them. */
  rate: number;
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
    for (let round = 0; round < opts.rounds; round++) {
      const started = Date.now();
      const res = (await (await fetch(`${base}/send?n=${opts.perRound}`)).json()) as { at: number; ids: string[] };
      for (const id of res.ids) sent.set(id, res.at);
      const wait = (opts.perRound * 1000) / opts.rate - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
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
