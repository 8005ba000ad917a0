import type { ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import type { Readable } from "node:stream";

/** Small process helpers for the dev runner: free ports, PATH lookup, prefixed logs, bounded child shutdown. */

/** A loopback port that was free a moment ago (the OS picks it; a tiny race with other processes is accepted). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Absolute path of an executable on PATH, or undefined. */
export function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

const useColor = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const colors: Record<string, string> = {
  dev: "36",
  pglite: "35",
  neon: "32",
  upstash: "31",
  redis: "33",
  wrangler: "34",
};

/** `[name]` padded so the columns line up, coloured on a terminal. */
export function tag(name: string): string {
  const text = `[${name}]`.padEnd(10);
  return useColor ? `\x1b[${colors[name] ?? "90"}m${text}\x1b[0m` : text;
}

export function logger(name: string) {
  return {
    info: (msg: string) => console.log(`${tag(name)} ${msg}`),
    warn: (msg: string) => console.warn(`${tag(name)} ${useColor ? `\x1b[33m${msg}\x1b[0m` : msg}`),
  };
}

/**
 * Copies a child's output line by line with a prefix; `onLine` sees every line (readiness detection), `show` decides
 * which ones are printed.
 */
export function pipeLines(
  stream: Readable | null,
  name: string,
  onLine?: (line: string) => void,
  show: (line: string) => boolean = () => true,
): void {
  if (!stream) return;
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const lines = (rest + chunk).split(/\r?\n/);
    rest = lines.pop() ?? "";
    for (const line of lines) {
      if (line.trim() && show(line)) process.stdout.write(`${tag(name)} ${line}\n`);
      onLine?.(line);
    }
  });
  stream.on("end", () => {
    if (rest.trim() && show(rest)) process.stdout.write(`${tag(name)} ${rest}\n`);
  });
}

/** Resolves when the child has exited (immediately if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Sends `signal`, then SIGKILL if the child is still running after `graceMs`. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited(child);
  clearTimeout(timer);
}
