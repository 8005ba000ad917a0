import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import type { Admission, Login } from "./gate";
import {
  authRequest,
  CANCEL_REQUEST,
  errorResponse,
  GSSENC_REQUEST,
  loginUpstream,
  PROTOCOL_V3,
  parseStartupParams,
  proxyError,
  SSL_REQUEST,
  splitMessages,
  UpstreamLoginError,
} from "./pgwire";

/**
 * `/v2`: Neon's WebSocket proxy. The driver (`Pool`, `Client`, drizzle `neon-serverless`) speaks the Postgres wire
 * protocol inside binary frames and, by default, pipelines startup + cleartext password + first query without
 * waiting. Like Neon's proxy, the tunnel terminates auth: it asks the client for a cleartext password, checks the
 * startup's user and database with that password (`admit`), logs in upstream itself, holds the client's pipelined
 * bytes until upstream's first ReadyForQuery, then relays upstream's post-auth messages and pipes bytes both ways.
 * Refusals reach the client as Neon's proxy sends them (ERROR, XX000, the message): a wrong login right after the
 * password, an unknown database or any upstream refusal after AuthenticationOk (Neon authenticates first, then
 * connects to the compute).
 */

/** Pause the TCP side when this many bytes wait in the WebSocket's send buffer. */
const HIGH_WATER = 1 << 20;

/**
 * After a refusal the tunnel closes once the client's Terminate arrives, or after this long if none does. Closing at
 * once puts the close in the same read as the error; the driver (`Pool`) then sends its Terminate from a
 * `setTimeout(0)` (coalesced writes) into a closed WebSocket, which workerd reports as an uncaught "Can't call
 * WebSocket send() after close()" (neondatabase/serverless#10). Across a real network Neon's close comes later.
 */
const REFUSAL_GRACE_MS = 500;
/** The Terminate message ('X', length 4). */
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

export interface WsTunnelOptions {
  /** The upstream server; the login and database come from `admit`. */
  upstream: { host: string; port: number };
  /** Neon's proxy: checks the startup's login and database, and says how to log in upstream. */
  admit: (login: Login, database: string) => Promise<Admission>;
  /** `?address=` is accepted and ignored: every tunnel goes to the one upstream. */
  path?: string;
}

export interface WsTunnel {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): Promise<void>;
}

/** Startup parameters that are the stand-in's to choose, not the client's. */
const ownParams = new Set(["user", "database"]);

function tunnel(ws: WebSocket, opts: WsTunnelOptions, live: Set<(graceful?: boolean) => void>): void {
  let pending: Buffer = Buffer.alloc(0); // client bytes not yet consumed or forwarded
  let phase: "startup" | "password" | "held" | "piping" | "refused" | "closed" = "startup";
  let tcp: Socket | undefined;
  let params: Record<string, string> = {};

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
  /** Sends an ErrorResponse and ignores the client from then on; the client closes, or the grace period ends. */
  const fatal = (raw: Buffer) => {
    if (ws.readyState !== ws.OPEN) return close();
    phase = "refused";
    ws.send(raw);
    setTimeout(() => close(), REFUSAL_GRACE_MS).unref();
  };

  /** Upstream is ready for queries: relay its post-auth messages, then the client's held bytes, and pipe. */
  const startPiping = (sock: Socket, upstreamRest: Buffer) => {
    phase = "piping";
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

  const authOk = authRequest(0);
  /** `phase` as it is now, after an await (a close may have happened meanwhile). */
  const closed = () => phase === "closed" || phase === "refused";
  const login = async (password: string) => {
    const admitted = await opts.admit({ user: params.user ?? "", password }, params.database ?? "");
    if (closed()) return;
    if (admitted.refused === "password") return fatal(proxyError(admitted.message));
    if (admitted.refused === "database") return fatal(Buffer.concat([authOk, proxyError(admitted.message)]));
    const extra = Object.fromEntries(Object.entries(params).filter(([k]) => !ownParams.has(k)));
    const target = { ...opts.upstream, ...admitted.login, database: admitted.database };
    const { socket, rest } = await loginUpstream(target, extra);
    if (closed()) return void socket.destroy();
    socket.on("close", () => close());
    socket.on("error", () => close(false));
    tcp = socket;
    startPiping(socket, rest);
  };
  const loginFailed = (err: Error) => {
    if (closed()) return;
    if (err instanceof UpstreamLoginError) fatal(Buffer.concat([authOk, proxyError(err.message)]));
    else fatal(errorResponse("08006", `stand-in: ${err.message}`));
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
        params = parseStartupParams(body);
        ws.send(authRequest(3)); // AuthenticationCleartextPassword
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
      const password = first.body.toString("utf8", 0, Math.max(0, first.body.length - 1)); // without its NUL
      login(password).catch(loginFailed);
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
    if (phase === "refused" && chunk.subarray(-TERMINATE.length).equals(TERMINATE)) return close();
    if (phase === "closed" || phase === "refused") return;
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
      wss.handleUpgrade(req, socket, head, (ws) => tunnel(ws, opts, live));
    },
    async close() {
      for (const close of [...live]) close(false);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
