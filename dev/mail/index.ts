import type { IncomingMessage, ServerResponse } from "node:http";
import { type StandIn, startHttpStandIn } from "../lib/standin";

/**
 * Local stand-in for Cloudflare Email Service. The Worker's mailer (src/services/mailer.ts) POSTs to `/send` the
 * same message object it gives the `send_email` binding in production (`{ from, to, subject, text, html, headers,
 * attachments }`, attachment content base64), and gets `{ messageId }` back. Every message is captured in memory:
 *
 * - `GET /` an HTML mailbox page (newest first; each message's text, HTML preview and attachment links);
 * - `GET /messages[?to=addr]` JSON (attachments without content), `GET /messages/<id>` one message with its
 *   attachments base64, `GET /messages/<id>/attachments/<n>` the raw attachment, `DELETE /messages` clears.
 *
 * Like the other stand-ins it has request counters, latency and fault switches (dev/lib/standin.ts control server);
 * `POST /_faults?accept=N&then=error|drop` additionally lets N more messages through, then either answers 503
 * (certainly not sent) or captures the message and drops the connection without answering (sent, but the sender
 * cannot know), until `POST /_faults?then=none`.
 */
export interface CapturedAttachment {
  filename: string;
  type: string;
  disposition: string;
  size: number;
  /** base64 */
  content?: string;
}

export interface CapturedMail {
  id: string;
  messageId: string;
  receivedAt: string;
  from: { email: string; name?: string };
  to: string[];
  subject: string;
  text?: string;
  html?: string;
  headers: Record<string, string>;
  attachments: CapturedAttachment[];
}

export interface MailStandIn extends StandIn {
  messages(to?: string): CapturedMail[];
  clear(): void;
}

type After = { accept: number; then: "error" | "drop" } | undefined;

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

function reply(res: ServerResponse, status: number, body: unknown, type = "application/json"): void {
  const text = typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const address = /^[^\s@<>"]+@[^\s@<>"]+$/;

/** Validates a send request the way the binding does (the fields this project uses); returns the error or the mail. */
function parseMail(body: unknown, seq: number): CapturedMail | string {
  const b = body as Record<string, unknown>;
  if (!b || typeof b !== "object") return "body must be a JSON object";
  const from = typeof b.from === "string" ? { email: b.from } : (b.from as { email?: unknown; name?: unknown });
  if (!from || typeof from.email !== "string" || !address.test(from.email)) return "from must be an address";
  const to = Array.isArray(b.to) ? b.to : [b.to];
  if (to.length === 0 || !to.every((t) => typeof t === "string" && address.test(t))) return "to must be addresses";
  if (typeof b.subject !== "string" || b.subject.length === 0) return "subject is required";
  if (typeof b.text !== "string" && typeof b.html !== "string") return "text or html is required";
  const attachments: CapturedAttachment[] = [];
  for (const a of (b.attachments ?? []) as Record<string, unknown>[]) {
    if (typeof a.filename !== "string" || typeof a.type !== "string" || typeof a.content !== "string") {
      return "attachments need filename, type and base64 content";
    }
    const size = Buffer.from(a.content, "base64").length;
    attachments.push({
      filename: a.filename,
      type: a.type,
      disposition: String(a.disposition ?? "attachment"),
      size,
      content: a.content,
    });
  }
  const id = `msg_${String(seq).padStart(6, "0")}`;
  return {
    id,
    messageId: `<${id}.${Date.now()}@mail.standin.local>`,
    receivedAt: new Date().toISOString(),
    from: { email: from.email as string, ...(typeof from.name === "string" ? { name: from.name } : {}) },
    to: to as string[],
    subject: b.subject,
    ...(typeof b.text === "string" ? { text: b.text } : {}),
    ...(typeof b.html === "string" ? { html: b.html } : {}),
    headers: (b.headers ?? {}) as Record<string, string>,
    attachments,
  };
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] ?? c);

function page(mails: CapturedMail[]): string {
  const items = mails
    .slice()
    .reverse()
    .map(
      (m) => `<section><h2>${esc(m.subject)}</h2>
<p><b>From</b> ${esc(m.from.name ?? "")} &lt;${esc(m.from.email)}&gt; <b>To</b> ${esc(m.to.join(", "))} <b>At</b> ${m.receivedAt} <code>${m.id}</code></p>
<p>${m.attachments.map((a, i) => `<a href="/messages/${m.id}/attachments/${i}">${esc(a.filename)}</a> (${a.size} B)`).join(" ")}</p>
<pre>${esc(m.text ?? "")}</pre>
${m.html ? `<iframe sandbox srcdoc="${esc(m.html)}" style="width:100%;height:240px;border:1px solid #ccc"></iframe>` : ""}
</section>`,
    )
    .join("<hr>");
  return `<!doctype html><meta charset="utf-8"><title>edgepay mailbox (${mails.length})</title>
<body style="font-family:sans-serif;max-width:60rem;margin:auto"><h1>edgepay mailbox: ${mails.length} message(s)</h1>${items || "<p>No mail yet.</p>"}</body>`;
}

export async function startMailStandIn(
  opts: { host?: string; port?: number; controlPort?: number } = {},
): Promise<MailStandIn> {
  const mails: CapturedMail[] = [];
  let seq = 0;
  let after: After;
  const withoutContent = (m: CapturedMail): CapturedMail => ({
    ...m,
    attachments: m.attachments.map(({ content: _, ...a }) => a),
  });

  const standIn = await startHttpStandIn({
    name: "mail",
    ...opts,
    endpointOf: (req) => {
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      return path.startsWith("/messages/") ? "/messages/:id" : path;
    },
    async handle(req, res) {
      const url = new URL(req.url ?? "/", "http://mail");
      const parts = url.pathname.split("/").filter(Boolean);
      if (req.method === "POST" && url.pathname === "/send") {
        let body: unknown;
        try {
          body = await readJson(req);
        } catch {
          return reply(res, 400, { error: "body is not JSON" });
        }
        if (after && after.accept <= 0 && after.then === "error") {
          return reply(res, 503, { error: "mail stand-in: injected failure" });
        }
        const mail = parseMail(body, ++seq);
        if (typeof mail === "string") return reply(res, 400, { error: mail });
        mails.push(mail);
        if (after) {
          if (after.accept > 0) after.accept--;
          else if (after.then === "drop") return void res.destroy();
        }
        return reply(res, 200, { messageId: mail.messageId });
      }
      if (req.method === "POST" && url.pathname === "/_faults") {
        const then = url.searchParams.get("then");
        const accept = Number(url.searchParams.get("accept") ?? "0");
        after = then === "error" || then === "drop" ? { accept, then } : undefined;
        return reply(res, 200, { after: after ?? null });
      }
      if (req.method === "GET" && url.pathname === "/") return reply(res, 200, page(mails), "text/html; charset=utf-8");
      if (req.method === "DELETE" && url.pathname === "/messages") {
        mails.length = 0;
        return reply(res, 200, { deleted: true });
      }
      if (req.method === "GET" && parts[0] === "messages") {
        if (parts.length === 1) {
          const to = url.searchParams.get("to");
          return reply(res, 200, { data: mails.filter((m) => !to || m.to.includes(to)).map(withoutContent) });
        }
        const mail = mails.find((m) => m.id === parts[1]);
        if (!mail) return reply(res, 404, { error: "no such message" });
        if (parts.length === 2) return reply(res, 200, mail);
        const attachment = parts[2] === "attachments" ? mail.attachments[Number(parts[3])] : undefined;
        if (!attachment?.content) return reply(res, 404, { error: "no such attachment" });
        return reply(res, 200, Buffer.from(attachment.content, "base64"), attachment.type);
      }
      reply(res, 404, { error: "unknown route" });
    },
  });
  return {
    ...standIn,
    messages: (to) => mails.filter((m) => !to || m.to.includes(to)),
    clear: () => {
      mails.length = 0;
    },
  };
}
