import { env } from "cloudflare:workers";
import { decodePDFRawStream, PDFArray, PDFDocument, PDFName, PDFRawStream } from "pdf-lib";
import { waitFor } from "./payments";

/** A message as the local mail stand-in captured it (dev/mail/index.ts). */
export interface Captured {
  id: string;
  from: { email: string; name?: string };
  to: string[];
  subject: string;
  text?: string;
  html?: string;
  headers: Record<string, string>;
  attachments: { filename: string; type: string; size: number; content?: string }[];
}

/** Everything the stand-in captured for one recipient (tests use a fresh address each, so this is theirs). */
export async function mailTo(to: string): Promise<Captured[]> {
  const res = await fetch(`${env.TEST_MAIL_URL}/messages?to=${encodeURIComponent(to)}`);
  return ((await res.json()) as { data: Captured[] }).data;
}

/** One message with its attachments' content. */
export async function fullMessage(id: string): Promise<Captured> {
  return (await fetch(`${env.TEST_MAIL_URL}/messages/${id}`)).json();
}

/** Waits until `to` has received `count` messages. */
export const mailArrives = (to: string, count = 1) =>
  waitFor(
    async () => {
      const m = await mailTo(to);
      return m.length >= count ? m : undefined;
    },
    20_000,
    `${count} mail(s) to ${to}`,
  );

/** Lets `accept` more messages through, then fails the rest (`error`: 503; `drop`: captured, no answer); `none` ends it. */
export async function mailFaults(then: "error" | "drop" | "none", accept = 0): Promise<void> {
  await fetch(`${env.TEST_MAIL_URL}/_faults?then=${then}&accept=${accept}`, { method: "POST" });
}

/** The mail stand-in's request counters (dev/lib/standin.ts control server). */
export async function mailStats(): Promise<{ counters: Record<string, number> }> {
  return (await fetch(`${env.TEST_MAIL_CONTROL_URL}/stats`)).json();
}

/**
 * The text a PDF shows, page by page, read with pdf-lib: each page's content streams are decoded and the strings of
 * its text operators (hex `<…> Tj` as pdf-lib writes them, or literal `(…) Tj`) joined, one line per operator.
 */
export async function pdfText(bytes: Uint8Array): Promise<{ pages: number; text: string[] }> {
  const doc = await PDFDocument.load(bytes);
  const pages = doc.getPages();
  const text: string[] = [];
  for (const page of pages) {
    const contents = page.node.get(PDFName.of("Contents"));
    const refs = contents instanceof PDFArray ? contents.asArray() : [contents];
    for (const ref of refs) {
      const stream = doc.context.lookup(ref);
      if (!(stream instanceof PDFRawStream)) continue;
      const ops = new TextDecoder("latin1").decode(decodePDFRawStream(stream).decode());
      for (const m of ops.matchAll(/<([0-9A-Fa-f]*)>\s*Tj|\(((?:\\.|[^\\)])*)\)\s*Tj/g)) {
        const hex = m[1];
        text.push(
          hex !== undefined
            ? String.fromCharCode(...(hex.match(/../g) ?? []).map((h) => Number.parseInt(h, 16)))
            : (m[2] ?? "").replace(/\\(.)/g, "$1"),
        );
      }
    }
  }
  return { pages: pages.length, text };
}

export const base64Bytes = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
