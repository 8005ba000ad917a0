import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { Miniflare } from "miniflare";
import { StreamClients } from "../lib/stream-clients";

/**
 * A lab for the stream study's floor (issue #14; docs/realtime.md, "The per-message gap"): the bare object of
 * fanout-floor.ts made to converge on LiveEvents step by step, to find by measurement what LiveEvents' own code
 * costs per message. Not part of `npm run bench`. Each variant sends `n` (2) messages of BYTES to SOCKETS (1 000)
 * hibernatable WebSockets every second for ROUNDS rounds, received by the stream study's client thread; it prints
 * p50/p95/p99 (the object's send → the client), the first and last client per message, and workerd's and this
 * process's CPU per message. Variant = comma-separated switches:
 *   tags     per message, `getWebSockets(tag)` over LiveEvents' three candidate tags, a dedupe set, per-socket state
 *            from a WeakMap (attachment deserialized once), try/catch per send
 *   sqlread  a SQLite `seen` lookup per message;  sql: the `seen` inserts and a `meta` upsert after the sends
 *   read     an HTTP read (READ_MS, default 5 ms, ~9 KB of JSON from this process) before the sends
 *   rpc      the Worker calls the object over RPC instead of forwarding `fetch`
 *   chunk=K  yield (setTimeout 0) every K sockets;  n=N  messages per round
 * PLAIN=1: sockets accepted with `accept()` instead of `ctx.acceptWebSocket` (one variant per process).
 *   ROUNDS=10 PASSES=3 VARIANTS="base;tags;tags,sqlread,sql;read;rpc;tags,sqlread,sql,read,rpc" \
 *     npx tsx bench/lab/floor-lab.ts
 */
const script = (bytes: number) => `
import { DurableObject } from "cloudflare:workers";
const pad = "p".repeat(${bytes});
let seq = 0;
const id = () => "evt_" + (Date.now() * 1000 + seq++).toString(36).padStart(26, "0").slice(-26);
export class Floor extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.state = new WeakMap();
    ctx.storage.sql.exec("create table if not exists seen (seq integer primary key autoincrement, id text not null unique, at integer not null)");
    ctx.storage.sql.exec("create table if not exists meta (k text primary key, v text not null)");
  }
  async go(o) {
    if (o.read) { const r = await fetch(o.read); await r.json(); }
    const at = Date.now();
    const ids = [];
    const sql = this.ctx.storage.sql;
    let sockets = o.tags ? null : this.plain ?? this.ctx.getWebSockets();
    if (o.chunk) {
      const msgs = [];
      for (let i = 0; i < o.n; i++) { const m = JSON.stringify({ id: id(), at, pad }); msgs.push(m); ids.push(JSON.parse(m).id); }
      for (let k = 0; k < sockets.length; k += o.chunk) {
        if (k) await new Promise((r) => setTimeout(r, 0));
        for (const ws of sockets.slice(k, k + o.chunk)) for (const m of msgs) ws.send(m);
      }
      return { at, ids };
    }
    for (let i = 0; i < o.n; i++) {
      const message = JSON.stringify({ id: id(), at, pad });
      const mid = JSON.parse(message).id;
      ids.push(mid);
      if (o.sqlread) sql.exec("select 1 from seen where id = ?", mid).toArray();
      if (o.tags) {
        const tags = ["t:*", "t:payment.succeeded", "t:payment.*"];
        const list = tags.flatMap((t) => this.ctx.getWebSockets(t));
        const once = new Set();
        for (const ws of list) {
          if (once.has(ws)) continue;
          once.add(ws);
          let s = this.state.get(ws);
          if (!s) { s = ws.deserializeAttachment(); this.state.set(ws, s); }
          try { ws.send(message); } catch {}
        }
      } else for (const ws of sockets) ws.send(message);
    }
    if (o.sql) {
      for (const mid of ids) sql.exec("insert into seen (id, at) values (?, ?)", mid, at);
      sql.exec("insert into meta (k, v) values ('cursor', ?) on conflict (k) do update set v = excluded.v", ids.at(-1));
    }
    if (o.timer) await new Promise((r) => setTimeout(r, 0));
    return { at, ids, done: Date.now() };
  }
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/send") return Response.json(await this.go(JSON.parse(url.searchParams.get("o"))));
    const { 0: client, 1: server } = new WebSocketPair();
    if (url.searchParams.get("plain")) { server.accept(); (this.plain ??= []).push(server); return new Response(null, { status: 101, webSocket: client }); }
    this.ctx.acceptWebSocket(server, ["t:*"]);
    server.serializeAttachment({ f: { types: [] }, k: "key_x" });
    return new Response(null, { status: 101, webSocket: client });
  }
}
export default {
  async fetch(req, env) {
    const stub = env.FLOOR.get(env.FLOOR.idFromName("tenant"));
    const url = new URL(req.url);
    if (url.pathname === "/send" && url.searchParams.get("rpc")) {
      return Response.json(await stub.go(JSON.parse(url.searchParams.get("o"))));
    }
    return stub.fetch(req);
  },
};`;

/** CPU ms used so far by the workerd processes under this one. */
function workerdCpuMs(): number {
  let ticks = 0;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      if (!stat.slice(stat.indexOf("(") + 1, close).startsWith("workerd")) continue;
      const f = stat.slice(close + 2).split(" ");
      let p = Number(f[1]);
      let mine = false;
      for (let i = 0; i < 5 && p > 1; i++) {
        if (p === process.pid) {
          mine = true;
          break;
        }
        const ps = readFileSync(`/proc/${p}/stat`, "utf8");
        p = Number(ps.slice(ps.lastIndexOf(")") + 2).split(" ")[1]);
      }
      if (mine) ticks += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return ticks * 10;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;

async function main() {
  const sockets = Number(process.env.SOCKETS ?? 1000);
  const rounds = Number(process.env.ROUNDS ?? 20);
  const variants = (process.env.VARIANTS ?? "base").split(";");
  const body = JSON.stringify({ rows: Array.from({ length: 10 }, () => ({ x: "y".repeat(900) })) });
  const srv = createServer((_q, res) => setTimeout(() => res.end(body), Number(process.env.READ_MS ?? 5)));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const readUrl = `http://127.0.0.1:${(srv.address() as { port: number }).port}/read`;
  const clients = new StreamClients();
  const mf = new Miniflare({
    modules: true,
    script: script(Number(process.env.BYTES ?? 900)),
    compatibilityDate: "2026-04-20",
    compatibilityFlags: ["nodejs_compat"],
    durableObjects: { FLOOR: { className: "Floor", useSQLite: true } },
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  });
  await mf.ready;
  const base = (await mf.unsafeGetDirectURL()).origin;
  await clients.open(`${base.replace(/^http/, "ws")}/stream${process.env.PLAIN ? "?plain=1" : ""}`, "x", 0, sockets);
  await sleep(500);
  const out: string[] = [];
  for (let pass = 0; pass < Number(process.env.PASSES ?? 1); pass++)
    for (const v of variants) {
      const o: Record<string, unknown> = { n: 2 };
      for (const k of v.split(",")) {
        const [name, val] = k.split("=");
        if (name && name !== "base") o[name] = name === "read" ? readUrl : val !== undefined ? Number(val) : true;
      }
      const sent = new Map<string, number>();
      const cpu0 = workerdCpuMs();
      const ccpu0 = process.cpuUsage();
      for (let r = 0; r < rounds; r++) {
        const t = Date.now();
        const res = (await (
          await fetch(`${base}/send?o=${encodeURIComponent(JSON.stringify(o))}${o.rpc ? "&rpc=1" : ""}`)
        ).json()) as { at: number; ids: string[] };
        for (const id of res.ids) sent.set(id, res.at);
        const wait = 1000 - (Date.now() - t);
        if (wait > 0) await sleep(wait);
      }
      await sleep(500);
      const cpuMs = workerdCpuMs() - cpu0;
      const ccpu = process.cpuUsage(ccpu0);
      const got = await clients.collect();
      const lat: number[] = [];
      const per = new Map<string, number[]>();
      for (const c of got)
        for (const [id, at] of c.got) {
          const t = sent.get(id);
          if (t === undefined) continue;
          lat.push(at - t);
          per.set(id, [...(per.get(id) ?? []), at - t]);
        }
      lat.sort((a, b) => a - b);
      const firsts = [...per.values()].map((xs) => Math.min(...xs)).sort((a, b) => a - b);
      const lasts = [...per.values()].map((xs) => Math.max(...xs)).sort((a, b) => a - b);
      const line = `${v.padEnd(28)} n=${lat.length} p50 ${q(lat, 0.5)} p95 ${q(lat, 0.95)} p99 ${q(lat, 0.99)} | first p50 ${q(firsts, 0.5)} last p50 ${q(lasts, 0.5)} | workerd ${((cpuMs * 1000) / Math.max(1, lat.length)).toFixed(1)} µs/msg, bench process ${((ccpu.user + ccpu.system) / Math.max(1, lat.length)).toFixed(1)} µs/msg | load ${readFileSync("/proc/loadavg", "utf8").split(" ")[0]}`;
      console.log(line);
      out.push(line);
      // reset the clients' maps: reopen
      await clients.closeAll();
      if (!process.env.PLAIN) await clients.open(`${base.replace(/^http/, "ws")}/stream`, "x", 0, sockets);
      else break;
      await sleep(500);
    }
  await clients.closeAll();
  await clients.stop();
  await mf.dispose();
  srv.close();
}
main();
