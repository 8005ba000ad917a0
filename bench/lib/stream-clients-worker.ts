import { parentPort } from "node:worker_threads";
import WebSocket from "ws";
import type { ClientReport, ClientsRequest } from "./stream-clients";

/**
 * The stream study's WebSocket clients, on a thread of their own (started by stream-clients.ts): the stand-ins the
 * Worker reads through live on the main thread, and a thousand clients handling their messages there would hold
 * every upstream round trip of the pipeline being measured (as for the load generator, load-worker.ts).
 */
interface Client {
  ws: WebSocket;
  tenant: number;
  got: Map<string, number>;
  dup: number;
  bytes: number;
}

const clients: Client[] = [];
const idOf = /^\{"id":"(evt_[0-9a-z]{26})"/;

function open(url: string, secret: string, tenant: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    // The client side must cost little (it shares the machine with workerd): no compression, no UTF-8 validation,
    // and the id read from its fixed place (every message starts `{"id":"evt_…"`), the rest left unparsed.
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${secret}` },
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    const c: Client = { ws, tenant, got: new Map(), dup: 0, bytes: 0 };
    ws.on("message", (data: Buffer) => {
      const at = Date.now();
      c.bytes += data.length;
      const id = idOf.exec(data.toString("latin1", 0, 40))?.[1];
      if (!id) return;
      if (c.got.has(id)) c.dup++;
      else c.got.set(id, at);
    });
    ws.once("open", () => resolve(c));
    ws.once("unexpected-response", (_q, res) => reject(new Error(`stream refused: ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

async function handle(req: ClientsRequest): Promise<unknown> {
  switch (req.op) {
    case "open": {
      for (let i = 0; i < req.count; i += 50) {
        const batch = Array.from({ length: Math.min(50, req.count - i) }, () => open(req.url, req.secret, req.tenant));
        clients.push(...(await Promise.all(batch)));
      }
      return clients.length;
    }
    case "received": {
      const truth = req.truth.map((ids) => new Set(ids));
      let n = 0;
      for (const c of clients) for (const id of c.got.keys()) if (truth[c.tenant]?.has(id)) n++;
      return n;
    }
    case "collect":
      return clients.map((c): ClientReport => ({ tenant: c.tenant, got: [...c.got], dup: c.dup, bytes: c.bytes }));
    case "close": {
      for (const c of clients.splice(0)) c.ws.close(1000);
      return 0;
    }
  }
}

parentPort?.on("message", (msg: { id: number; req: ClientsRequest }) => {
  handle(msg.req).then(
    (result) => parentPort?.postMessage({ id: msg.id, ok: true, result }),
    (err: Error) => parentPort?.postMessage({ id: msg.id, ok: false, error: err.message }),
  );
});
