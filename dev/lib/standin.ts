import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";

/**
 * Shared plumbing of the local stand-ins (Neon, Upstash): an HTTP server on loopback with per-endpoint request
 * counters, an injectable latency (fixed, or with uniform ± jitter) and fault switches, plus a small control server so that code running in
 * another process (the Worker inside workerd, the benchmark) can read the counters and flip the switches.
 *
 * Fault modes:
 * - `refuse`: the listener is closed and open connections destroyed, so clients get ECONNREFUSED;
 * - `hang`: requests are accepted and never answered (clients hit their own timeouts);
 * - `error`: every request is answered `503` with a JSON `{error}` body.
 */
export type FaultMode = "none" | "refuse" | "hang" | "error";
export const faultModes: readonly FaultMode[] = ["none", "refuse", "hang", "error"];

export interface StandInStats {
  name: string;
  counters: Record<string, number>;
  total: number;
  /** TCP connections accepted since the last reset (keep-alive clients reuse a few). */
  connections: number;
  latencyMs: number;
  /** Each request waits `latencyMs` ± up to `jitterMs` (uniform), never less than 0. */
  jitterMs: number;
  /** Requests the client gave up on (closed the connection) before they were answered: its deadline expired. */
  aborted: number;
  fault: FaultMode;
}

export interface StandIn {
  readonly name: string;
  /** Base URL of the service, e.g. `http://127.0.0.1:4444`. */
  readonly url: string;
  readonly port: number;
  /** Base URL of the control server (see {@link controlRoutes}). */
  readonly controlUrl: string;
  stats(): StandInStats;
  resetCounters(): void;
  setLatency(ms: number, jitterMs?: number): void;
  setFault(mode: FaultMode): Promise<void>;
  close(): Promise<void>;
}

export interface HttpStandInOptions {
  name: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  controlPort?: number;
  latencyMs?: number;
  jitterMs?: number;
  /** Maps a request to the counter it increments (e.g. `/pipeline`). */
  endpointOf?: (req: IncomingMessage) => string;
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;
  /** WebSocket (or any HTTP upgrade) requests; counted under `upgrade:<path>`. */
  upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Called on close, after the listeners stop (upstream pools etc.). */
  onClose?: () => Promise<void> | void;
}

/**
 * Control routes (all answer JSON):
 * `GET /stats`, `POST /reset`, `POST /fault?mode=none|refuse|hang|error`, `POST /latency?ms=N[&jitter=J]`.
 */
export const controlRoutes = ["/stats", "/reset", "/fault", "/latency"] as const;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  sockets.clear();
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export async function startHttpStandIn(opts: HttpStandInOptions): Promise<StandIn> {
  const host = opts.host ?? "127.0.0.1";
  const counters: Record<string, number> = {};
  let aborted = 0;
  let latencyMs = opts.latencyMs ?? 0;
  let jitterMs = opts.jitterMs ?? 0;
  const delay = () => Math.max(0, latencyMs + (jitterMs > 0 ? (Math.random() * 2 - 1) * jitterMs : 0));
  let fault: FaultMode = "none";
  const sockets = new Set<Socket>();
  /** Sockets whose request was left unanswered by the `hang` fault: only these are dropped when it is lifted. */
  const hung = new Set<Duplex>();
  const count = (endpoint: string) => {
    counters[endpoint] = (counters[endpoint] ?? 0) + 1;
  };
  const endpointOf = opts.endpointOf ?? ((req: IncomingMessage) => (req.url ?? "/").split("?")[0] ?? "/");

  const server = createServer(async (req, res) => {
    count(endpointOf(req));
    res.once("close", () => {
      if (!res.writableFinished && fault === "none") aborted++;
    });
    if (fault === "hang") {
      hung.add(req.socket); // never answered; the socket is destroyed on close or when the fault is lifted
      req.socket.once("close", () => hung.delete(req.socket));
      return;
    }
    if (fault === "error") return json(res, 503, { error: `${opts.name} stand-in: injected fault` });
    if (latencyMs > 0 || jitterMs > 0) await sleep(delay());
    try {
      await opts.handle(req, res);
    } catch (err) {
      if (!res.headersSent) json(res, 500, { error: `${opts.name} stand-in: ${(err as Error).message}` });
      else res.destroy();
    }
  });
  server.keepAliveTimeout = 60_000;
  let connections = 0;
  server.on("connection", (s) => {
    connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("upgrade", async (req, socket, head) => {
    count(`upgrade:${endpointOf(req)}`);
    if (!opts.upgrade || fault === "error") {
      socket.end("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n");
      return;
    }
    if (fault === "hang") {
      hung.add(socket);
      socket.once("close", () => hung.delete(socket));
      return;
    }
    if (latencyMs > 0 || jitterMs > 0) await sleep(delay());
    opts.upgrade(req, socket, head);
  });

  const port = await listen(server, opts.port ?? 0, host);

  const setFault = async (mode: FaultMode) => {
    const before = fault;
    fault = mode;
    if (mode === "refuse" && before !== "refuse") await closeServer(server, sockets);
    if (mode !== "refuse" && before === "refuse") await listen(server, port, host);
    if (before === "hang" && mode !== "hang") {
      // Drop the connections that were left hanging so clients do not wait forever; idle keep-alive connections
      // stay, or a client would reuse a socket that is being destroyed and fail its next request.
      for (const s of hung) s.destroy();
      hung.clear();
    }
  };

  const stats = (): StandInStats => ({
    name: opts.name,
    counters: { ...counters },
    total: Object.values(counters).reduce((a, b) => a + b, 0),
    connections,
    latencyMs,
    jitterMs,
    aborted,
    fault,
  });
  const resetCounters = () => {
    connections = 0;
    for (const k of Object.keys(counters)) delete counters[k];
    aborted = 0;
  };
  const setLatency = (ms: number, jitter = 0) => {
    latencyMs = Math.max(0, ms);
    jitterMs = Math.max(0, jitter);
  };

  const control = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://control");
    try {
      if (req.method === "GET" && url.pathname === "/stats") return json(res, 200, stats());
      if (req.method === "POST" && url.pathname === "/reset") {
        resetCounters();
        return json(res, 200, stats());
      }
      if (req.method === "POST" && url.pathname === "/fault") {
        const mode = url.searchParams.get("mode") as FaultMode;
        if (!faultModes.includes(mode)) return json(res, 400, { error: `mode must be one of ${faultModes}` });
        await setFault(mode);
        return json(res, 200, stats());
      }
      if (req.method === "POST" && url.pathname === "/latency") {
        const ms = Number(url.searchParams.get("ms"));
        const jitter = Number(url.searchParams.get("jitter") ?? 0);
        if (!Number.isFinite(ms) || ms < 0) return json(res, 400, { error: "ms must be a number >= 0" });
        if (!Number.isFinite(jitter) || jitter < 0) return json(res, 400, { error: "jitter must be a number >= 0" });
        setLatency(ms, jitter);
        return json(res, 200, stats());
      }
      json(res, 404, { error: "unknown control route" });
    } catch (err) {
      json(res, 500, { error: (err as Error).message });
    }
  });
  const controlSockets = new Set<Socket>();
  control.on("connection", (s) => {
    controlSockets.add(s);
    s.on("close", () => controlSockets.delete(s));
  });
  const controlPort = await listen(control, opts.controlPort ?? 0, host);

  return {
    name: opts.name,
    url: `http://${host}:${port}`,
    port,
    controlUrl: `http://${host}:${controlPort}`,
    stats,
    resetCounters,
    setLatency,
    setFault,
    async close() {
      await closeServer(server, sockets);
      await closeServer(control, controlSockets);
      await opts.onClose?.();
    },
  };
}
