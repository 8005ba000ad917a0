import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import {
  authRequest,
  CANCEL_REQUEST,
  errorResponse,
  GSSENC_REQUEST,
  loginUpstream,
  PROTOCOL_V3,
  parseStartupParams,
  SSL_REQUEST,
  splitMessages,
  UpstreamLoginError,
  type UpstreamTarget,
} from "./pgwire";

/**
 * `/v2`: Neon's WebSocket proxy. The driver (`Pool`, `Client`, drizzle `neon-serverless`) speaks the Postgres wire
 * protocol inside binary frames and, by default, pipelines startup + cleartext password + first query without
 * waiting. Like Neon's proxy, the tunnel terminates auth: it asks the client for a cleartext password, logs in
 * upstream itself with the upstream URL's credentials, holds the client's pipelined bytes until AuthenticationOk,
 * then relays upstream's post-auth messages and pipes bytes both ways.
 */

/** Pause the TCP side when this many bytes wait in the WebSocket's send buffer. */
const HIGH_WATER = 1 << 20;

export interface WsTunnelOptions {
  upstream: UpstreamTarget;
  /** `?address=` is accepted and ignored: every tunnel goes to the one upstream. */
  path?: string;
}

export interface WsTunnel {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): Promise<void>;
}

/** Startup parameters that are the stand-in's to choose, not the client's. */
const ownParams = new Set(["user", "database"]);

function tunnel(ws: WebSocket, upstream: UpstreamTarget, live: Set<(graceful?: boolean) => void>): void {
  let pending: Buffer = Buffer.alloc(0); // client bytes not yet consumed or forwarded
  let phase: "startup" | "password" | "held" | "piping" | "closed" = "startup";
  let tcp: Socket | undefined;
  let upstreamRest: Buffer | undefined;

  /** Graceful: let the client's last bytes (its Terminate message) reach upstream before the socket goes. */
  const close = (graceful = true) => {
    if (phase === "closed") return;
    phase = "closed";
    live.delete(close);
    if (tcp && graceful) {
      const sock = tcp;
      sock.end();
      setTimeout(() => sock.destroy(), 1000).unref();
    } else tcp?.destroy();
    if (!graceful) ws.terminate();
    else if (ws.readyState === ws.OPEN) ws.close();
  };
  live.add(close);
  const fatal = (raw: Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(raw, () => close());
    else close();
  };

  /** Both the password has been read and upstream said AuthenticationOk: relay and start piping. */
  const startPiping = () => {
    if (phase !== "held" || !tcp || !upstreamRest) return;
    phase = "piping";
    const sock = tcp;
    if (upstreamRest.length) ws.send(upstreamRest);
    if (pending.length) sock.write(pending);
    pending = Buffer.alloc(0);
    const drained = () => {
      if (sock.isPaused() && ws.bufferedAmount < HIGH_WATER / 2) sock.resume();
    };
    sock.on("data", (chunk: Buffer) => {
      ws.send(chunk, drained);
      if (ws.bufferedAmount > HIGH_WATER) sock.pause();
    });
    sock.resume();
  };

  const login = (params: Record<string, string>) => {
    const extra = Object.fromEntries(Object.entries(params).filter(([k]) => !ownParams.has(k)));
    loginUpstream(upstream, extra).then(
      ({ socket, rest }) => {
        if (phase === "closed") return void socket.destroy();
        socket.on("close", () => close());
        socket.on("error", () => close(false));
        tcp = socket;
        upstreamRest = rest;
        startPiping();
      },
      (err: Error) => {
        if (phase === "closed") return;
        fatal(err instanceof UpstreamLoginError ? err.raw : errorResponse("08006", `stand-in: ${err.message}`));
      },
    );
  };

  /** Consumes the startup message and the password message; later bytes stay in `pending`. */
  const consume = () => {
    while (phase === "startup" && pending.length >= 8) {
      const len = pending.readInt32BE(0);
      const code = pending.readInt32BE(4);
      if (len < 8 || len > 65536) return fatal(errorResponse("08P01", `invalid startup packet length ${len}`));
      if (pending.length < len) return;
      const body = pending.subarray(8, len);
      pending = pending.subarray(len);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) ws.send(Buffer.from("N"));
      else if (code === PROTOCOL_V3) {
        phase = "password";
        ws.send(authRequest(3)); // AuthenticationCleartextPassword
        login(parseStartupParams(body));
      } else if (code === CANCEL_REQUEST) return close();
      else return fatal(errorResponse("08P01", `unsupported protocol ${code}`));
    }
    if (phase === "password") {
      const { messages } = splitMessages(pending);
      const first = messages[0];
      if (!first) return;
      if (first.type !== "p") return fatal(errorResponse("08P01", `expected a password message, got '${first.type}'`));
      pending = pending.subarray(first.raw.length);
      phase = "held";
      startPiping();
    }
  };

  ws.on("message", (data: RawData) => {
    const chunk = Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.isBuffer(data)
        ? data
        : Buffer.from(data as ArrayBuffer);
    if (phase === "piping") {
      tcp?.write(chunk);
      return;
    }
    if (phase === "closed") return;
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    consume();
  });
  ws.on("close", () => close());
  ws.on("error", () => close(false));
}

export function createWsTunnel(opts: WsTunnelOptions): WsTunnel {
  const path = opts.path ?? "/v2";
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const live = new Set<(graceful?: boolean) => void>();
  return {
    upgrade(req, socket, head) {
      if ((req.url ?? "/").split("?")[0] !== path) {
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => tunnel(ws, opts.upstream, live));
    },
    async close() {
      for (const close of [...live]) close(false);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
