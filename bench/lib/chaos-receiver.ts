import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The chaos study's webhook receiver: records every delivery and checks its signature the way docs/payments.md
 * tells receivers to (HMAC-SHA256 of "<t>.<raw body>" with the endpoint's secret), independently of src/.
 */
export interface Receiver {
  url: string;
  /** Event id → number of deliveries with a valid signature. */
  valid: Map<string, number>;
  invalid: number;
  setSecret(secret: string): void;
  close(): Promise<void>;
}

function verifies(secret: string, body: string, header: string): boolean {
  const parts = new Map(header.split(",").map((kv) => kv.split("=") as [string, string]));
  const t = parts.get("t");
  const v1 = parts.get("v1");
  if (!t || !v1) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  const given = Buffer.from(v1, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function startReceiver(): Promise<Receiver> {
  let secret = "";
  const valid = new Map<string, number>();
  const receiver = { valid, invalid: 0 } as Receiver;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const header = String(req.headers["edgepay-signature"] ?? "");
      let id = "";
      try {
        id = String((JSON.parse(body) as { id?: unknown }).id ?? "");
      } catch {}
      if (id && verifies(secret, body, header)) valid.set(id, (valid.get(id) ?? 0) + 1);
      else receiver.invalid++;
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  receiver.setSecret = (s) => {
    secret = s;
  };
  receiver.close = () => new Promise((r) => server.close(() => r()));
  return receiver;
}
