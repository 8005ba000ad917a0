import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { connect, type Socket } from "node:net";

/**
 * The few pieces of the Postgres wire protocol (v3) the WebSocket tunnel needs: message framing, the startup
 * message, Neon's proxy error, and an upstream login (trust, cleartext, md5, SCRAM-SHA-256) done by the stand-in
 * itself, because the driver pipelines a cleartext password that a SCRAM server would never ask for.
 */

export const PROTOCOL_V3 = 196608;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

export interface PgMessage {
  type: string;
  body: Buffer;
  /** The whole message, header included. */
  raw: Buffer;
}

/** Splits off the complete typed messages at the front of `buf`; `rest` is the incomplete tail. */
export function splitMessages(buf: Buffer): { messages: PgMessage[]; rest: Buffer } {
  const messages: PgMessage[] = [];
  let at = 0;
  while (buf.length - at >= 5) {
    const len = buf.readInt32BE(at + 1);
    if (buf.length - at < len + 1) break;
    messages.push({
      type: String.fromCharCode(buf[at] ?? 0),
      body: buf.subarray(at + 5, at + 1 + len),
      raw: buf.subarray(at, at + 1 + len),
    });
    at += len + 1;
  }
  return { messages, rest: buf.subarray(at) };
}

/** One typed message: type byte, Int32 length, body. */
export function typed(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

export const cstr = (s: string) => Buffer.from(`${s}\0`, "utf8");

export function startupMessage(params: Record<string, string>): Buffer {
  const parts = Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]);
  const body = Buffer.concat([...parts, Buffer.from([0])]);
  const head = Buffer.alloc(8);
  head.writeInt32BE(body.length + 8, 0);
  head.writeInt32BE(PROTOCOL_V3, 4);
  return Buffer.concat([head, body]);
}

/** Parses the key/value pairs of a startup message body (after length and protocol version). */
export function parseStartupParams(body: Buffer): Record<string, string> {
  const fields = body.toString("utf8").split("\0");
  const params: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length && fields[i] !== ""; i += 2) params[fields[i] as string] = fields[i + 1] ?? "";
  return params;
}

export function authRequest(code: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeInt32BE(code, 0);
  return typed("R", body);
}

/** ErrorResponse with severity, SQLSTATE and message, for failures the stand-in itself reports. */
export function errorResponse(code: string, message: string, severity = "FATAL"): Buffer {
  const field = (t: string, v: string) => Buffer.concat([Buffer.from(t, "latin1"), cstr(v)]);
  return typed(
    "E",
    Buffer.concat([
      field("S", severity),
      field("V", severity),
      field("C", code),
      field("M", message),
      Buffer.from([0]),
    ]),
  );
}

/**
 * An error as Neon's proxy writes it to a Postgres client (`PqStream::throw_error` in neondatabase/neon
 * proxy/src/stream.rs): severity ERROR, SQLSTATE XX000 whatever the cause, and the message alone. A wrong password
 * and an unknown database both reach the client in this shape, not with Postgres's FATAL 28P01 / 3D000.
 */
export function proxyError(message: string): Buffer {
  const field = (t: string, v: string) => Buffer.concat([Buffer.from(t, "latin1"), cstr(v)]);
  return typed("E", Buffer.concat([field("S", "ERROR"), field("C", "XX000"), field("M", message), Buffer.from([0])]));
}

export function parseErrorFields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    if (end < 0) break;
    out[String.fromCharCode(body[at] ?? 0)] = body.toString("utf8", at + 1, end);
    at = end + 1;
  }
  return out;
}

export interface UpstreamTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** Reads host, port, user, password and database from a `postgres://` URL (`?host=/dir` selects a Unix socket). */
export function parseUpstream(url: string): UpstreamTarget {
  const u = new URL(url);
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") throw new Error(`not a postgres URL: ${url}`);
  const user = decodeURIComponent(u.username) || "postgres";
  return {
    host: u.searchParams.get("host") ?? (u.hostname || "127.0.0.1"),
    port: Number(u.port || 5432),
    user,
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)) || user,
  };
}

/** An ErrorResponse of the upstream before its first ReadyForQuery (login refused, database missing...). */
export class UpstreamLoginError extends Error {}

const md5hex = (data: Buffer | string) => createHash("md5").update(data).digest("hex");
const hmac = (key: Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/**
 * SCRAM's SaltedPassword (PBKDF2-HMAC-SHA-256, `salt` in base64). PBKDF2 is the slow part of SCRAM (4096 rounds); a
 * role's salt is fixed until its password changes, so it is cached per password/salt/rounds.
 */
const saltedCache = new Map<string, Promise<Buffer>>();
export function saltedPassword(password: string, salt: string, rounds: number): Promise<Buffer> {
  const key = `${rounds}:${salt}:${password}`;
  let hit = saltedCache.get(key);
  if (!hit) {
    hit = new Promise((resolve, reject) =>
      pbkdf2(password.normalize("NFKC"), Buffer.from(salt, "base64"), rounds, 32, "sha256", (err, out) =>
        err ? reject(err) : resolve(out),
      ),
    );
    saltedCache.set(key, hit);
  }
  return hit;
}

interface ScramState {
  clientFirstBare: string;
  clientNonce: string;
  expectedServerSignature?: Buffer;
}

async function scramFinal(
  password: string,
  state: ScramState,
  serverFirst: string,
): Promise<{ message: string; signature: Buffer }> {
  const attrs = Object.fromEntries(serverFirst.split(",").map((kv) => [kv.slice(0, 1), kv.slice(2)]));
  const { r: nonce, s: salt, i: rounds } = attrs;
  if (!nonce?.startsWith(state.clientNonce) || !salt || !rounds) throw new Error("SCRAM: bad server-first-message");
  const salted = await saltedPassword(password, salt, Number(rounds));
  const clientKey = hmac(salted, "Client Key");
  const storedKey = createHash("sha256").update(clientKey).digest();
  const withoutProof = `c=biws,r=${nonce}`;
  const authMessage = `${state.clientFirstBare},${serverFirst},${withoutProof}`;
  const clientSignature = hmac(storedKey, authMessage);
  const proof = Buffer.from(clientKey.map((b, i) => b ^ (clientSignature[i] ?? 0)));
  const signature = hmac(hmac(salted, "Server Key"), authMessage);
  return { message: `${withoutProof},p=${proof.toString("base64")}`, signature };
}

/**
 * Opens a TCP (or Unix) connection and logs in. Resolves once the first ReadyForQuery arrives, with the socket
 * paused and every byte from AuthenticationOk on (ParameterStatus, BackendKeyData, ReadyForQuery...) in `rest`; an
 * ErrorResponse before it (wrong password, unknown database: Postgres checks the database after authenticating)
 * rejects with UpstreamLoginError. The caller must attach its own `error` listener at once.
 */
export function loginUpstream(
  target: UpstreamTarget,
  extraParams: Record<string, string> = {},
): Promise<{ socket: Socket; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = target.host.startsWith("/")
      ? connect(`${target.host}/.s.PGSQL.${target.port}`)
      : connect(target.port, target.host);
    socket.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let scram: ScramState | undefined;
    /** Messages from AuthenticationOk on, relayed to the client once ReadyForQuery completes them. */
    let relay: Buffer[] | undefined;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(err);
    };
    const send = (type: string, body: Buffer) => socket.write(typed(type, body));

    const onMessage = async (m: PgMessage): Promise<boolean> => {
      if (m.type === "E") {
        const f = parseErrorFields(m.body);
        throw new UpstreamLoginError(f.M ?? "upstream login failed");
      }
      if (relay) {
        relay.push(m.raw);
        return m.type === "Z";
      }
      if (m.type !== "R") return false; // NoticeResponse, NegotiateProtocolVersion: nothing to do
      const code = m.body.readInt32BE(0);
      if (code === 0) {
        relay = [m.raw];
        return false;
      }
      if (code === 3) send("p", cstr(target.password));
      else if (code === 5) {
        const inner = md5hex(target.password + target.user);
        send("p", cstr(`md5${md5hex(Buffer.concat([Buffer.from(inner), m.body.subarray(4, 8)]))}`));
      } else if (code === 10) {
        const mechanisms = m.body.subarray(4).toString("utf8").split("\0");
        if (!mechanisms.includes("SCRAM-SHA-256")) throw new Error(`unsupported SASL mechanisms: ${mechanisms}`);
        const clientNonce = randomBytes(18).toString("base64");
        scram = { clientNonce, clientFirstBare: `n=*,r=${clientNonce}` };
        const data = Buffer.from(`n,,${scram.clientFirstBare}`);
        const len = Buffer.alloc(4);
        len.writeInt32BE(data.length, 0);
        send("p", Buffer.concat([cstr("SCRAM-SHA-256"), len, data]));
      } else if (code === 11 && scram) {
        const { message, signature } = await scramFinal(target.password, scram, m.body.subarray(4).toString("utf8"));
        scram.expectedServerSignature = signature;
        send("p", Buffer.from(message));
      } else if (code === 12 && scram?.expectedServerSignature) {
        const serverFinal = m.body.subarray(4).toString("utf8");
        const got = Buffer.from(/v=([^,]+)/.exec(serverFinal)?.[1] ?? "", "base64");
        const want = scram.expectedServerSignature;
        if (got.length !== want.length || !timingSafeEqual(got, want)) throw new Error("SCRAM: bad server signature");
      } else throw new Error(`unsupported authentication request ${code}`);
      return false;
    };

    // Messages are handled one at a time (SCRAM awaits PBKDF2), so data is queued behind a promise chain.
    let chain = Promise.resolve();
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      chain = chain.then(async () => {
        if (settled) return;
        // `buf` may grow while a message is awaited; it only grows at the end, so offsets stay valid.
        const { messages } = splitMessages(buf);
        let consumed = 0;
        for (const m of messages) {
          if (await onMessage(m)) {
            settled = true;
            socket.off("data", onData);
            socket.pause();
            socket.off("error", fail);
            socket.off("close", onClose);
            resolve({ socket, rest: Buffer.concat([...(relay ?? []), buf.subarray(consumed + m.raw.length)]) });
            return;
          }
          consumed += m.raw.length;
        }
        buf = buf.subarray(consumed);
      });
      chain.catch(fail);
    };
    const onClose = () => fail(new Error("upstream closed the connection during login"));
    socket.on("data", onData);
    socket.on("error", fail);
    socket.on("close", onClose);
    socket.on("connect", () => {
      socket.write(startupMessage({ ...extraParams, user: target.user, database: target.database }));
    });
  });
}
