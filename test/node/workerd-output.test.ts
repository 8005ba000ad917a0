import { describe, expect, it } from "vitest";
import { filterWorkerdOutput } from "../setup/workerd-output";

/** The filter the workers project's global setup puts on workerd's verbose diagnostics (see its doc comment). */
describe("workerd output filter", () => {
  const sink = () => {
    const out: string[] = [];
    const stream = {
      write: ((chunk: string | Uint8Array) => {
        out.push(String(chunk));
        return true;
      }) as typeof process.stdout.write,
    };
    return { out, stream };
  };
  const stack = "stack: /x/workerd@52008e2 /x/workerd@5200ac5";

  it("drops the diagnostics of a handled connection failure with their stack lines, and counts them", () => {
    const { out, stream } = sink();
    const filter = filterWorkerdOutput([stream]);
    stream.write("exception = kj/async-io-unix.c++:1538: disconnected: connect(): Connection refused\n");
    stream.write(`${stack}\n`);
    stream.write("uncaught exception; source = Uncaught (in promise); stack = Error: Network connection lost.\n");
    stream.write(
      "uncaught exception; exception = workerd/jsg/_virtual_includes/iterator/workerd/jsg/value.h:1480: disconnected: jsg.Error: Network connection lost.\n",
    );
    stream.write(`${stack}\n`);
    stream.write("exception = workerd/api/web-socket.c++:821: disconnected: WebSocket peer disconnected\n");
    stream.write(" ✓ workers test/routes/users.test.ts (19 tests)\n");
    filter.restore();
    expect(filter.hidden()).toBe(4);
    expect(out.join("")).toBe(" ✓ workers test/routes/users.test.ts (19 tests)\n");
    expect(filter.unexplained()).toEqual([]);
  });

  it("drops internal-error lines once a DNS lookup failed in the run, but not an internal error before any", () => {
    const { out, stream } = sink();
    const filter = filterWorkerdOutput([stream]);
    const internal =
      "uncaught exception; source = Uncaught (in promise); stack = Error: internal error; reference = abc123";
    stream.write(`${internal}\n`); // no DNS failure yet: nothing explains this one
    stream.write("e = kj/async-io-unix.c++:1298: failed: DNS lookup failed.; params.host = hooks.example.com\n");
    stream.write(`${stack}\n${internal}\n`);
    stream.write(`${internal}\n`);
    stream.write(
      "uncaught exception; source = Uncaught (in promise); stack = TimeoutError: The operation was aborted due to timeout\n",
    );
    filter.restore();
    expect(filter.hidden()).toBe(4);
    expect(filter.unexplained()).toEqual([internal]);
    expect(out.join("")).toBe(`${internal}\n`);
  });

  it("drops vitest's teardown refusal of a module load (background work outliving its test file), frames included", () => {
    const { out, stream } = sink();
    const filter = filterWorkerdOutput([stream]);
    stream.write(
      'uncaught exception; source = Uncaught (in promise); stack = EnvironmentTeardownError: [vitest-worker]: Closing rpc while "resolve" was pending\n' +
        "    at tmp/ci/node_modules/vitest/dist/chunks/init.k9zZ9sLh.js:133:12\n" +
        "    at Array.map (<anonymous>)\n",
    );
    stream.write(
      'uncaught exception; exception = workerd/jsg/_virtual_includes/iterator/workerd/jsg/value.h:1480: failed: jsg.Error: EnvironmentTeardownError: [vitest-worker]: Closing rpc while "resolve" was pending\n',
    );
    stream.write(`${stack}\n`);
    stream.write(" ✓ workers test/routes/users.test.ts (19 tests)\n");
    filter.restore();
    expect(filter.hidden()).toBe(2);
    expect(filter.unexplained()).toEqual([]);
    expect(out.join("")).toBe(" ✓ workers test/routes/users.test.ts (19 tests)\n");
  });

  it("keeps any other uncaught exception on screen and reports it", () => {
    const { out, stream } = sink();
    const filter = filterWorkerdOutput([stream]);
    const line = "uncaught exception; source = Uncaught (in promise); stack = TypeError: x is undefined";
    stream.write(`${line}\n${stack}\n`);
    expect(filter.unexplained()).toEqual([line]);
    stream.write("    at Object.<anonymous> (src/x.ts:1:1)\n");
    filter.restore();
    expect(out.join("")).toBe(`${line}\n${stack}\n    at Object.<anonymous> (src/x.ts:1:1)\n`); // stacks after a real error stay
    expect(stream.write("after restore\n")).toBe(true);
    expect(out.at(-1)).toBe("after restore\n");
  });
});
