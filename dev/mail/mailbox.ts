/**
 * `npm run mailbox`: what the local mail stand-in of a running `npm run dev` captured (newest last), and the URL of
 * its mailbox page. `npm run mailbox -- --json` prints the messages as JSON; `--clear` empties the mailbox.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// The same data folder as npm run dev (EDGEPAY_DATA_DIR, default .data).
const root = fileURLToPath(new URL("../..", import.meta.url));
const file = join(resolve(root, process.env.EDGEPAY_DATA_DIR || ".data"), "mailbox.json");
if (!existsSync(file)) {
  console.error("No mailbox: start `npm run dev` first (it writes .data/mailbox.json).");
  process.exit(1);
}
const { url } = JSON.parse(readFileSync(file, "utf8")) as { url: string };
const args = process.argv.slice(2);
try {
  if (args.includes("--clear")) {
    await fetch(`${url}/messages`, { method: "DELETE" });
    console.log("mailbox cleared");
    process.exit(0);
  }
  const res = await fetch(`${url}/messages`);
  const { data } = (await res.json()) as {
    data: { id: string; receivedAt: string; to: string[]; subject: string; attachments: { filename: string }[] }[];
  };
  if (args.includes("--json")) console.log(JSON.stringify(data, null, 2));
  else {
    for (const m of data) {
      const files = m.attachments.map((a) => a.filename).join(", ");
      console.log(`${m.receivedAt}  ${m.id}  to ${m.to.join(", ")}  "${m.subject}"${files ? `  [${files}]` : ""}`);
    }
    console.log(`\n${data.length} message(s). Read them at ${url}/ (attachments: ${url}/messages/<id>/attachments/0)`);
  }
} catch (err) {
  console.error(`The mail stand-in at ${url} does not answer (is npm run dev running?): ${(err as Error).message}`);
  process.exit(1);
}
