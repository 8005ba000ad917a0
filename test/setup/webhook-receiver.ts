import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local webhook receiver for the tests (a real HTTP server, started by the global setup). Each test uses its own
 * path (`/hook/<name>`); the receiver records every request to it (headers and raw body) and can be told to fail the
 * next N requests to a path (status 500, or hang past the sender's timeout) to exercise retries.
 * Control: `GET /__received?path=/hook/x`, `POST /__behaviour?path=/hook/x&fail=N&mode=status|hang`.
 */
export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  status: number;
  at: number;
}

export async function startWebhookReceiver(): Promise<{ url: string; close: () => Promise<void> }> {
  const received: Received[] = [];
  const failNext = new Map<string, { count: number; mode: "status" | "hang" }>();
  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    });
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://receiver");
    if (url.pathname === "/__received") {
      return json(
        res,
        200,
        received.filter((r) => r.path === url.searchParams.get("path")),
      );
    }
    if (url.pathname === "/__behaviour") {
      const path = url.searchParams.get("path") ?? "";
      failNext.set(path, {
        count: Number(url.searchParams.get("fail") ?? 0),
        mode: url.searchParams.get("mode") === "hang" ? "hang" : "status",
      });
      return json(res, 200, { ok: true });
    }
    const body = await readBody(req);
    const failing = failNext.get(url.pathname);
    const status = failing && failing.count > 0 ? (failing.mode === "hang" ? 0 : 500) : 200;
    if (failing && failing.count > 0) failing.count--;
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    received.push({ path: url.pathname, headers, body, status, at: Date.now() });
    if (status === 0) return; // hang: the sender's timeout fires; the socket is destroyed on close
    json(res, status, { received: status === 200 });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
