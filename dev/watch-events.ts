/**
 * `npm run watch-events -- [--types payment.*] [--payment pay_…] [--order ord_…] [--since evt_…] [--once TYPE]`
 *
 * A small live-events client (docs/realtime.md): opens GET /v1/events/stream as a WebSocket with the key in the
 * `Authorization` header (a server-side client; browsers use a ticket), prints one line per event, and on any
 * disconnect except a normal close reconnects with `?since=<last event id>`, so nothing is missed or seen twice.
 * `--once payment.succeeded` exits after the first event of that type (the README's quick tour uses it).
 * Reads EDGEPAY_KEY and API (default http://127.0.0.1:8787).
 */
import { parseArgs } from "node:util";
import WebSocket from "ws";

const { values } = parseArgs({
  options: {
    types: { type: "string" },
    payment: { type: "string" },
    order: { type: "string" },
    since: { type: "string" },
    once: { type: "string" },
  },
  strict: true,
});
const api = (process.env.API ?? "http://127.0.0.1:8787").replace(/^http/, "ws");
const key = process.env.EDGEPAY_KEY;
if (!key) {
  console.error("Set EDGEPAY_KEY (npm run dev prints it).");
  process.exit(2);
}

let since = values.since;
let attempt = 0;

function connect(): void {
  const q = new URLSearchParams();
  if (values.types) q.set("types", values.types);
  if (values.payment) q.set("payment_id", values.payment);
  if (values.order) q.set("order_id", values.order);
  if (since) q.set("since", since);
  const ws = new WebSocket(`${api}/v1/events/stream?${q}`, { headers: { Authorization: `Bearer ${key}` } });
  const ping = setInterval(() => ws.readyState === ws.OPEN && ws.send("ping"), 30_000);
  ws.on("open", () => {
    attempt = 0;
    console.error(`connected${since ? ` (resuming after ${since})` : ""}`);
  });
  ws.on("unexpected-response", (_req, res) => {
    let body = "";
    res.on("data", (d: Buffer) => {
      body += d;
    });
    res.on("end", () => {
      console.error(`refused: ${res.statusCode} ${body}`);
      process.exit(1);
    });
  });
  ws.on("message", (data) => {
    const text = data.toString();
    if (text === "pong") return;
    const e = JSON.parse(text) as { id: string; type: string; data: { object: Record<string, unknown> } };
    since = e.id;
    const o = e.data.object;
    console.log(`${e.id}  ${e.type.padEnd(18)} ${o.id}${o.status ? ` ${o.status}` : ""}`);
    if (values.once && e.type === values.once) {
      ws.close(1000);
      process.exit(0);
    }
  });
  ws.on("close", (code, reason) => {
    clearInterval(ping);
    if (code === 1000) process.exit(0);
    if (code === 4410) {
      console.error("the gap is too long to replay: list it with GET /v1/events, then start again");
      process.exit(1);
    }
    const delay = Math.min(30_000, 500 * 2 ** attempt++);
    console.error(`closed (${code} ${reason.toString()}); reconnecting in ${delay} ms`);
    setTimeout(connect, delay);
  });
  ws.on("error", (err) => console.error(`error: ${err.message}`));
}

connect();
