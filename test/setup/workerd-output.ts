/**
 * vitest-pool-workers always runs workerd with `verbose: true` (not configurable in 0.15.1) and prints its
 * info-level diagnostics. Among them, every outbound connection that fails — which the fault tests cause on purpose
 * (`refuse`), and the Neon WebSocket's close — produces lines that read like errors:
 *
 *   exception = kj/async-io-unix.c++:1538: disconnected: connect(): Connection refused
 *   uncaught exception; source = Uncaught (in promise); stack = Error: Network connection lost.
 *   uncaught exception; exception = workerd/jsg/…/value.h:1480: disconnected: jsg.Error: Network connection lost.
 *   exception = workerd/api/web-socket.c++:821: disconnected: WebSocket peer disconnected
 *
 * and a webhook delivery to a name that does not resolve here (`hooks.example.com`: no DNS offline) adds
 *
 *   exception = kj/async-io-unix.c++:1298: failed: DNS lookup failed.; params.host = …
 *   uncaught exception; source = Uncaught (in promise); stack = Error: internal error; reference = …
 *
 * (the "internal error" lines are dropped only once a DNS failure was seen in the run: workerd prints them later,
 * interleaved with other output), and a fetch abandoned at its deadline (AbortSignal.timeout) adds
 *
 *   uncaught exception; source = Uncaught (in promise); stack = TimeoutError: The operation was aborted due to timeout
 *
 * workerd logs these at `info` level even when the Worker's code catches the rejection: `try { await fetch(refused) }
 * catch {}` in a bare Miniflare with `verbose: true` prints the same three lines, and without `verbose` prints
 * nothing. They are diagnostics of handled failures, so this filter drops exactly those shapes (and the
 * `stack: …workerd@…` line workerd prints after each) and counts them. Anything else that says "uncaught exception"
 * is kept on screen and makes the run fail at teardown (a real unhandled rejection in the Worker is also reported
 * by vitest itself).
 */
const noise = [
  // A fault a test injects on purpose (message ending "(injected)", e.g. test/realtime's unavailable object).
  /^uncaught exception; source = Uncaught \(in promise\); stack = Error: [^;]*\(injected\)$/,
  /^uncaught exception; exception = workerd\/jsg\/\S+: failed: jsg\.Error: [^;]*\(injected\)$/,
  // A fetch abandoned at its deadline (AbortSignal.timeout): the code awaiting it handles the rejection.
  /^uncaught exception; source = Uncaught \(in promise\); stack = TimeoutError: The operation was aborted due to timeout$/,
  /^uncaught exception; exception = workerd\/jsg\/\S+: failed: jsg\.DOMException\(TimeoutError\): The operation was aborted due to timeout$/,
  /^exception = kj\/async-io-unix\.c\+\+:\d+: disconnected: connect\(\): Connection refused$/,
  /^uncaught exception; source = Uncaught \(in promise\); stack = Error: Network connection lost\.$/,
  /^uncaught exception; exception = workerd\/jsg\/\S+: disconnected: jsg\.Error: Network connection lost\.$/,
  /^exception = workerd\/api\/web-socket\.c\+\+:\d+: disconnected: WebSocket peer disconnected$/,
  // vitest's own RPC refusing a module load once a test file's environment is closing: background work the file
  // started (a queue consumer run, a receipt's lazy pdf-lib import) outlived the file. A harness diagnostic, not the
  // Worker's: a module that really failed to load fails the test that needs it.
  /^uncaught exception; source = Uncaught \(in promise\); stack = EnvironmentTeardownError: \[vitest-worker\]: Closing rpc while "\w+" was pending$/,
  /^uncaught exception; exception = workerd\/jsg\/\S+: failed: jsg\.Error: EnvironmentTeardownError: \[vitest-worker\]: Closing rpc while "\w+" was pending$/,
];
/** A failed DNS lookup, and the "internal error" lines workerd prints for the same failure. */
const dnsFailure = /^(?:exception|e) = kj\/async-io-unix\.c\+\+:\d+: failed: DNS lookup failed\./;
const internalError = [
  /^uncaught exception; source = Uncaught \(in promise\); stack = Error: internal error; reference = \w+$/,
  /^uncaught exception; exception = workerd\/jsg\/\S+: failed: jsg\.Error: internal error; reference = \w+$/,
];
/** workerd's symbolized stack line that follows each diagnostic, or a JavaScript stack frame of the error. */
const stackLine = /^(stack:( \S+workerd@[0-9a-f]+)+(; sentryErrorContext = \w+)?(; wdErrId = \w+)?|\s+at \S.*)$/;

export interface WorkerdOutputFilter {
  /** Diagnostics dropped so far. */
  hidden(): number;
  /** "uncaught exception" lines that were not known noise. */
  unexplained(): string[];
  restore(): void;
}

type Write = typeof process.stdout.write;
interface Writable {
  write: Write;
}

/** Wraps the streams' `write` (default: this process's stdout and stderr) until `restore()`. */
export function filterWorkerdOutput(streams: Writable[] = [process.stdout, process.stderr]): WorkerdOutputFilter {
  let hidden = 0;
  const unexplained: string[] = [];
  const originals: [Writable, Write][] = [];
  // Shared by both streams: workerd's info lines (stdout) and error lines (stderr) interleave.
  let afterNoise = false;
  let dnsSeen = false; // workerd reports a failed DNS lookup (offline) also as "internal error" lines, later

  for (const stream of streams) {
    const original = stream.write.bind(stream) as Write;
    originals.push([stream, stream.write]);

    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      // The pool writes one diagnostic per call, ending in "\n"; other output passes through untouched.
      const lines = text.split("\n");
      const kept: string[] = [];
      for (const [i, line] of lines.entries()) {
        const last = i === lines.length - 1;
        if (noise.some((re) => re.test(line)) || dnsFailure.test(line)) {
          if (dnsFailure.test(line)) dnsSeen = true;
          hidden++;
          afterNoise = true;
          continue;
        }
        if (dnsSeen && internalError.some((re) => re.test(line))) {
          hidden++;
          afterNoise = true;
          continue;
        }
        if (afterNoise && stackLine.test(line)) continue;
        if (line !== "" || !last) afterNoise = false;
        if (line.includes("uncaught exception")) unexplained.push(line);
        kept.push(line);
      }
      const out = kept.join("\n");
      if (out === "" && text !== "") {
        const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
        cb?.();
        return true;
      }
      return (original as (c: string, ...r: unknown[]) => boolean)(out, ...rest);
    }) as Write;
  }

  return {
    hidden: () => hidden,
    unexplained: () => [...unexplained],
    restore() {
      for (const [stream, write] of originals) stream.write = write;
    },
  };
}
