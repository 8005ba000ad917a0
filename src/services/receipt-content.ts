import { formatAmount } from "../lib/money";
import { loadPdfLib } from "../pdf";
import type { MailAttachment } from "./mailer";

/** What a receipt says: the same facts go into the text, the HTML and the PDF. */
export interface ReceiptFacts {
  kind: "payment" | "refund";
  tenantName: string;
  /** `pay_…` or `re_…`. */
  id: string;
  paymentId: string;
  orderId: string;
  amount: number;
  currency: string;
  paymentMethod: string;
  /** When the payment or refund succeeded. */
  date: Date;
  customerName: string;
  items: { name: string; quantity: number; unitAmount: number }[];
}

export interface ReceiptContent {
  subject: string;
  text: string;
  html: string;
  pdf: MailAttachment;
}

/** The receipt's lines (label, value), shared by every rendering. */
function lines(f: ReceiptFacts): [string, string][] {
  const rows: [string, string][] = [
    [f.kind === "payment" ? "Amount paid" : "Amount refunded", formatAmount(f.amount, f.currency)],
    ["Order", f.orderId],
    ["Payment", f.paymentId],
  ];
  if (f.kind === "refund") rows.push(["Refund", f.id]);
  rows.push(
    ["Payment method", f.paymentMethod],
    ["Date", `${f.date.toISOString().slice(0, 19).replace("T", " ")} UTC`],
  );
  return rows;
}

const itemLine = (f: ReceiptFacts, i: ReceiptFacts["items"][number]) =>
  `${i.quantity} × ${i.name} @ ${formatAmount(i.unitAmount, f.currency)} = ${formatAmount(i.quantity * i.unitAmount, f.currency)}`;

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

function title(f: ReceiptFacts): string {
  return f.kind === "payment" ? `Receipt from ${f.tenantName}` : `Refund receipt from ${f.tenantName}`;
}

function text(f: ReceiptFacts): string {
  const out = [title(f), "", `Hello ${f.customerName},`, ""];
  out.push(f.kind === "payment" ? "Thank you for your payment." : "Your refund has been processed.", "");
  for (const [label, value] of lines(f)) out.push(`${label}: ${value}`);
  if (f.kind === "payment" && f.items.length > 0) {
    out.push("", "Items:");
    for (const i of f.items) out.push(`  ${itemLine(f, i)}`);
  }
  out.push("", `The PDF receipt is attached. ${f.tenantName}`);
  return out.join("\n");
}

function html(f: ReceiptFacts): string {
  const row = ([label, value]: [string, string]) =>
    `<tr><th align="left">${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`;
  const items =
    f.kind === "payment" && f.items.length > 0
      ? `<h2>Items</h2><ul>${f.items.map((i) => `<li>${escapeHtml(itemLine(f, i))}</li>`).join("")}</ul>`
      : "";
  return [
    "<!doctype html>",
    `<html><body><h1>${escapeHtml(title(f))}</h1>`,
    `<p>Hello ${escapeHtml(f.customerName)},</p>`,
    `<p>${f.kind === "payment" ? "Thank you for your payment." : "Your refund has been processed."}</p>`,
    `<table>${lines(f).map(row).join("")}</table>`,
    items,
    "<p>The PDF receipt is attached.</p></body></html>",
  ].join("");
}

/** PDF standard fonts encode WinAnsi only: anything else (a tenant name in another script) becomes "?". */
const winAnsi = (s: string) => s.replace(/×/g, "x").replace(/[^\x20-\x7e\xa0-\xff]/g, "?");

/** A one-page A4 PDF of the receipt. pdf-lib is loaded on first use (src/pdf.ts). */
async function pdf(f: ReceiptFacts): Promise<MailAttachment> {
  const { PDFDocument, StandardFonts } = await loadPdfLib();
  const doc = await PDFDocument.create();
  doc.setTitle(title(f));
  doc.setProducer("edgepay");
  doc.setCreationDate(f.date);
  doc.setModificationDate(f.date);
  const page = doc.addPage([595.28, 841.89]);
  const regular = await doc.embedFont(StandardFonts.Helvetica);
  const bold = await doc.embedFont(StandardFonts.HelveticaBold);
  let y = 780;
  const write = (s: string, size = 11, font = regular, x = 50) => {
    page.drawText(winAnsi(s), { x, y, size, font });
  };
  write(title(f), 20, bold);
  y -= 36;
  for (const [label, value] of lines(f)) {
    write(label, 11, bold);
    write(value, 11, regular, 200);
    y -= 18;
  }
  if (f.kind === "payment" && f.items.length > 0) {
    y -= 12;
    write("Items", 13, bold);
    y -= 20;
    // One page: long orders are cut with a note rather than spilling onto a second page.
    const room = Math.floor((y - 60) / 16);
    for (const i of f.items.slice(0, room)) {
      write(itemLine(f, i), 10);
      y -= 16;
    }
    if (f.items.length > room) write(`... and ${f.items.length - room} more item(s)`, 10);
  }
  return { filename: `receipt-${f.id}.pdf`, type: "application/pdf", content: await doc.save() };
}

/** Subject, plain text, HTML and the PDF attachment of one receipt. */
export async function renderReceipt(f: ReceiptFacts): Promise<ReceiptContent> {
  return {
    subject: `${title(f)}: ${formatAmount(f.amount, f.currency)}`,
    text: text(f),
    html: html(f),
    pdf: await pdf(f),
  };
}
