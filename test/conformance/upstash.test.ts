import { createHash, randomBytes } from "node:crypto";
import { Ratelimit } from "@upstash/ratelimit";
import { Redis, type RedisConfigNodejs } from "@upstash/redis";
import { createClient } from "redis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { StandIn } from "../../dev/lib/standin.js";
import { startUpstashStandIn } from "../../dev/upstash/index.js";

/**
 * Conformance of the Upstash REST stand-in (dev/upstash) with the real clients the app uses, @upstash/redis and
 * @upstash/ratelimit, against a real Redis. Every key lives under a random prefix, deleted afterwards.
 */
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const TOKEN = "conformance-token";
const prefix = `conformance:upstash:${randomBytes(6).toString("hex")}:`;
const k = (name: string) => `${prefix}${name}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");

let standIn: StandIn;
/** Through the stand-in; no auto-pipelining so that request counters are exact, no retries so that faults surface. */
let redis: Redis;
/** Straight to Redis, to check what the stand-in really stored. */
const direct = createClient({ url: REDIS_URL });

const client = (extra: Partial<RedisConfigNodejs> = {}) =>
  new Redis({
    url: standIn.url,
    token: TOKEN,
    retry: false,
    enableAutoPipelining: false,
    enableTelemetry: false,
    ...extra,
  });
const counters = () => standIn.stats().counters;
const rest = (path: string, body: unknown, token = TOKEN) =>
  fetch(`${standIn.url}${path}`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { authorization: `Bearer ${token}`, "upstash-encoding": "base64" },
  });

beforeAll(async () => {
  standIn = await startUpstashStandIn({ upstream: REDIS_URL, token: TOKEN, port: 0, controlPort: 0 });
  redis = client();
  await direct.connect();
});

afterEach(async () => {
  standIn.setLatency(0);
  await standIn.setFault("none");
  standIn.resetCounters();
});

afterAll(async () => {
  for await (const keys of direct.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
    if (keys.length > 0) await direct.del(keys);
  }
  await direct.close();
  await standIn?.close();
});

describe("commands through @upstash/redis", () => {
  it("get/set with JSON (de)serialization, EX and binary-safe strings", async () => {
    expect(await redis.set(k("obj"), { a: 1, b: [1, "x"] })).toBe("OK");
    expect(await redis.get(k("obj"))).toEqual({ a: 1, b: [1, "x"] });
    expect(await direct.get(k("obj"))).toBe('{"a":1,"b":[1,"x"]}');
    await redis.set(k("text"), "héllo ✓ OK", { ex: 100 });
    expect(await redis.get(k("text"))).toBe("héllo ✓ OK");
    const ttl = await direct.ttl(k("text"));
    expect(ttl).toBeGreaterThan(90);
    expect(ttl).toBeLessThanOrEqual(100);
    await redis.set(k("ok"), "OK"); // a bulk "OK" must not be mistaken for the status reply
    expect(await redis.get(k("ok"))).toBe("OK");
    expect(await redis.get(k("missing"))).toBeNull();
  });

  it("incr, expire and ttl", async () => {
    expect(await redis.incr(k("n"))).toBe(1);
    expect(await redis.incrby(k("n"), 41)).toBe(42);
    expect(await redis.ttl(k("n"))).toBe(-1);
    expect(await redis.expire(k("n"), 60)).toBe(1);
    const ttl = await redis.ttl(k("n"));
    expect(ttl).toBeGreaterThan(50);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(await redis.ttl(k("nothing"))).toBe(-2);
  });

  it("hashes", async () => {
    expect(await redis.hset(k("h"), { name: "ada", n: 3 })).toBe(2);
    expect(await redis.hget(k("h"), "name")).toBe("ada");
    expect(await redis.hgetall(k("h"))).toEqual({ name: "ada", n: 3 });
    expect(await direct.hGetAll(k("h"))).toEqual({ name: "ada", n: "3" });
  });

  it("sorted sets with scores", async () => {
    expect(await redis.zadd(k("z"), { score: 2.5, member: "b" }, { score: 1, member: "a" })).toBe(2);
    expect(await redis.zrange(k("z"), 0, -1)).toEqual(["a", "b"]);
    expect(await redis.zrange(k("z"), 0, -1, { withScores: true })).toEqual(["a", 1, "b", 2.5]);
  });

  it("SCAN ... WITHTYPE (Upstash extension)", async () => {
    await redis.set(k("scan:s"), "1");
    await redis.hset(k("scan:h"), { f: 1 });
    const found: { key: string; type: string }[] = [];
    let cursor = "0";
    do {
      const [next, keys]: [string, { key: string; type: string }[]] = await redis.scan(cursor, {
        match: k("scan:*"),
        count: 1000,
        withType: true,
      });
      found.push(...keys);
      cursor = next;
    } while (cursor !== "0");
    expect(found.sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { key: k("scan:h"), type: "hash" },
      { key: k("scan:s"), type: "string" },
    ]);
  });
});

describe("pipelines and transactions", () => {
  it("an explicit pipeline is one /pipeline request with per-command results", async () => {
    const res = await redis
      .pipeline()
      .set(k("p"), 1)
      .incr(k("p"))
      .get(k("p"))
      .hget(k("p"), "f")
      .exec({ keepErrors: true });
    expect(res.map((r) => r.result)).toEqual(["OK", 2, 2, undefined]);
    expect(res[3]?.error).toMatch(/^WRONGTYPE/);
    expect(counters()).toEqual({ "/pipeline": 1 });
    await expect(redis.pipeline().get(k("p")).hget(k("p"), "f").exec()).rejects.toThrow(/WRONGTYPE/);
  });

  it("multi() is one /multi-exec request; a run-time error fails only its own command", async () => {
    expect(await redis.multi().set(k("m"), 1).incr(k("m")).get(k("m")).exec()).toEqual(["OK", 2, 2]);
    const res = await redis.multi().set(k("m2"), "x").hget(k("m2"), "f").set(k("m3"), "y").exec({ keepErrors: true });
    expect(res[1]?.error).toMatch(/^WRONGTYPE/);
    expect(await direct.mGet([k("m2"), k("m3")])).toEqual(["x", "y"]);
    expect(counters()).toEqual({ "/multi-exec": 2 });
  });

  it("a queue-time error discards the whole transaction (HTTP 400)", async () => {
    const res = await rest("/multi-exec", [["SET", k("abort"), "1"], ["NOSUCHCOMMAND"]]);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/EXECABORT/);
    expect(await direct.exists(k("abort"))).toBe(0);
  });

  it("concurrent transactions never interleave", async () => {
    const runs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => redis.multi().set(k("tx"), i).incr(k("tx")).get(k("tx")).exec()),
    );
    expect(runs).toEqual(runs.map((_, i) => ["OK", i + 1, i + 1]));
  });

  it("auto-pipelining sends the commands of one tick as exactly one /pipeline request", async () => {
    const auto = client({ enableAutoPipelining: true });
    const writes = await Promise.all([auto.set(k("a1"), 1), auto.set(k("a2"), 2), auto.incr(k("a3"))]);
    expect(writes).toEqual(["OK", "OK", 1]);
    expect(counters()).toEqual({ "/pipeline": 1 });
    const reads = await Promise.all([auto.get(k("a1")), auto.get(k("a2")), auto.exists(k("a3"), k("none"))]);
    expect(reads).toEqual([1, 2, 1]);
    expect(counters()).toEqual({ "/pipeline": 2 });
  });
});

describe("scripts", () => {
  it("EVALSHA of an unknown script answers NOSCRIPT and the client falls back to EVAL", async () => {
    const source = `return {KEYS[1], ARGV[1], "${randomBytes(8).toString("hex")}"}`;
    const script = redis.createScript<string[]>(source);
    expect((await redis.scriptExists(sha1(source)))[0]).toBe(0);
    standIn.resetCounters();
    const res = await script.exec([k("s")], ["arg"]);
    expect(res.slice(0, 2)).toEqual([k("s"), "arg"]);
    expect(counters()).toEqual({ "/": 2 }); // the EVALSHA that failed, then the EVAL
    expect(await redis.scriptExists(sha1(source))).toEqual([1]);
    standIn.resetCounters();
    expect((await script.exec([k("s")], ["again"]))[1]).toBe("again");
    expect(counters()).toEqual({ "/": 1 });
    await expect(redis.evalsha(sha1(`return "${randomBytes(8).toString("hex")}"`), [], [])).rejects.toThrow(/NOSCRIPT/);
  });

  it("Upstash-only shebang flags work, under the client's original SHA-1", async () => {
    const source = `#!lua flags=allow-key-locking\nreturn redis.call("INCRBY", KEYS[1], ARGV[1]) -- ${Date.now()}`;
    expect(await redis.eval(source, [k("lua")], ["5"])).toBe(5);
    expect(await redis.scriptLoad(source)).toBe(sha1(source));
    expect(await redis.scriptExists(sha1(source))).toEqual([1]);
    expect(await redis.evalsha(sha1(source), [k("lua")], ["2"])).toBe(7);
    await expect(redis.eval("return redis.call('NOPE')", [], [])).rejects.toThrow(/Unknown Redis command/i);
  });
});

/** Keeps a fixed/sliding window test from straddling two windows. */
async function awayFromWindowEdge(windowMs: number, marginMs = 2000) {
  const left = windowMs - (Date.now() % windowMs);
  if (left < marginMs) await sleep(left + 20);
}

describe("@upstash/ratelimit", () => {
  it("slidingWindow(N, '10 s') allows exactly N, counting down remaining, then blocks", async () => {
    const n = 5;
    const limiter = new Ratelimit({ redis, limiter: Ratelimit.slidingWindow(n, "10 s"), prefix: k("rl:sw") });
    await awayFromWindowEdge(10_000);
    const start = Date.now();
    for (let i = 0; i < n; i++) {
      standIn.resetCounters();
      const r = await limiter.limit("user");
      expect(r).toMatchObject({ success: true, limit: n, remaining: n - 1 - i });
      expect(r.reset).toBeGreaterThan(start);
      expect(r.reset).toBeLessThanOrEqual(start + 10_000);
      // After the first call the script runs by EVALSHA under its original SHA-1: one request per call.
      if (i > 0) expect(counters()).toEqual({ "/": 1 });
    }
    const blocked = await limiter.limit("user");
    expect(blocked).toMatchObject({ success: false, limit: n, remaining: 0 });
    expect(blocked.reset).toBeGreaterThan(Date.now());
    expect(await limiter.getRemaining("user")).toMatchObject({ remaining: 0 });
  });

  it("fixedWindow and tokenBucket", async () => {
    await awayFromWindowEdge(10_000);
    const fixed = new Ratelimit({ redis, limiter: Ratelimit.fixedWindow(3, "10 s"), prefix: k("rl:fw") });
    const f = [];
    for (let i = 0; i < 4; i++) f.push(await fixed.limit("user"));
    expect(f.map((r) => [r.success, r.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
    const bucket = new Ratelimit({ redis, limiter: Ratelimit.tokenBucket(1, "10 s", 2), prefix: k("rl:tb") });
    const b = [];
    for (let i = 0; i < 3; i++) b.push(await bucket.limit("user"));
    expect(b.map((r) => [r.success, r.remaining])).toEqual([
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
  });
});

describe("protocol details", () => {
  it("base64 encoding, status codes and a changing upstash-sync-token", async () => {
    const set = await rest("/", ["SET", k("raw"), "OK"]);
    expect(await set.json()).toEqual({ result: "OK" });
    const get = await rest("/", ["GET", k("raw")]);
    expect(await get.json()).toEqual({ result: Buffer.from("OK").toString("base64") });
    expect(await (await rest("/", ["PING"])).json()).toEqual({ result: Buffer.from("PONG").toString("base64") });
    const tokens = [set, get].map((r) => r.headers.get("upstash-sync-token"));
    expect(tokens[0]).toBeTruthy();
    expect(tokens[0]).not.toBe(tokens[1]);
    const bad = await rest("/", ["NOSUCHCOMMAND"]);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^ERR unknown command/);
    const pipe = await rest("/pipeline", [
      ["INCR", k("raw")],
      ["MGET", k("raw"), k("none")],
    ]);
    expect(pipe.status).toBe(200);
    expect(await pipe.json()).toEqual([{ error: expect.stringMatching(/not an integer/) }, { result: ["T0s=", null] }]);
  });

  it("a blocking command (BLPOP) does not stall the other requests", async () => {
    const pending = rest("/", ["BLPOP", k("q"), 5]);
    await sleep(50);
    const t0 = performance.now();
    expect(await redis.rpush(k("q"), "job")).toBe(1); // on a shared connection this would wait behind BLPOP
    expect(performance.now() - t0).toBeLessThan(1000);
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    expect(await (await pending).json()).toEqual({ result: [b64(k("q")), b64("job")] });
  });

  it("a wrong or missing token is 401 Unauthorized", async () => {
    await expect(client({ token: "wrong" }).get(k("x"))).rejects.toThrow(/Unauthorized/);
    const res = await fetch(standIn.url, { method: "POST", body: '["PING"]' });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "Unauthorized" });
  });
});

describe("pub/sub over Server-Sent Events", () => {
  /** Resolves once `n` events of `type` arrived, or rejects after 5 s. */
  const collect = <T>(listen: (fn: (data: T) => void) => void, n: number) =>
    new Promise<T[]>((resolve, reject) => {
      const got: T[] = [];
      const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} events`)), 5_000);
      listen((data: T) => {
        got.push(data);
        if (got.length === n) {
          clearTimeout(timer);
          resolve(got);
        }
      });
    });

  it("subscribe(): messages published through the stand-in arrive, JSON and raw alike", async () => {
    const channel = k("chan");
    const sub = redis.subscribe([channel]);
    const subscribed = collect<number>((fn) => sub.on("subscribe", fn), 1);
    const messages = collect<{ channel: string; message: unknown }>((fn) => sub.on("message", fn), 2);
    expect(await subscribed).toEqual([1]);
    expect(await redis.publish(channel, { hello: "world" })).toBe(1); // one subscriber: the stream above
    await redis.publish(channel, "plain, with a comma");
    expect(await messages).toEqual([
      { channel, message: { hello: "world" } },
      { channel, message: "plain, with a comma" },
    ]);
    expect(counters()["/subscribe"]).toBe(1);
    await sub.unsubscribe();
    // The client's abort closes the stream and the stand-in's subscriber connection: nobody listens any more.
    await expect.poll(() => redis.publish(channel, "gone"), { timeout: 3_000 }).toBe(0);
  });

  it("psubscribe(): pattern messages name the pattern and the channel", async () => {
    const pattern = k("orders:*");
    const sub = redis.psubscribe([pattern]);
    const subscribed = collect<number>((fn) => sub.on("psubscribe", fn), 1);
    const messages = collect<{ pattern: string; channel: string; message: unknown }>((fn) => sub.on("pmessage", fn), 1);
    await subscribed;
    await redis.publish(k("orders:42"), { status: "paid" });
    expect(await messages).toEqual([{ pattern, channel: k("orders:42"), message: { status: "paid" } }]);
    await sub.unsubscribe();
  });

  it("a wrong token is refused before any stream opens", async () => {
    const res = await fetch(`${standIn.url}/subscribe/${k("x")}`, {
      method: "POST",
      headers: { authorization: "Bearer wrong", accept: "text/event-stream" },
      body: "[]",
    });
    expect(res.status).toBe(401);
  });
});

describe("faults and latency", () => {
  it("error: the client throws", async () => {
    await standIn.setFault("error");
    await expect(redis.get(k("x"))).rejects.toThrow(/injected fault/);
  });

  it("refuse: the client throws (connection refused), then recovers", async () => {
    await redis.set(k("r"), "before");
    await standIn.setFault("refuse");
    const err = await redis.get(k("r")).then(
      () => undefined,
      (e: unknown) => e as Error & { cause?: { code?: string } },
    );
    expect(err?.cause?.code).toBe("ECONNREFUSED");
    await standIn.setFault("none");
    expect(await redis.get(k("r"))).toBe("before");
  });

  it("hang: the limiter's timeout resolves it, failing open", async () => {
    const limiter = new Ratelimit({
      redis,
      limiter: Ratelimit.slidingWindow(5, "10 s"),
      prefix: k("rl:hang"),
      timeout: 300,
    });
    await standIn.setFault("hang");
    const t0 = performance.now();
    const r = await limiter.limit("user");
    const took = performance.now() - t0;
    expect(r).toMatchObject({ success: true, reason: "timeout", limit: 0, remaining: 0, reset: 0 });
    expect(took).toBeGreaterThanOrEqual(295);
    expect(took).toBeLessThan(1500);
    expect(counters()["/"]).toBe(1); // the request arrived and was left hanging
  });

  it("latency: setLatency(50) delays every request by at least 50 ms", async () => {
    standIn.setLatency(50);
    const t0 = performance.now();
    await redis.get(k("x"));
    // libuv timers can fire up to ~1 ms early against performance.now(); the HTTP round trip adds more than that.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(50);
  });

  it("latency with jitter: setLatency(60, 40) spreads requests over 20–100 ms, not all at one value", async () => {
    standIn.setLatency(60, 40);
    expect(standIn.stats()).toMatchObject({ latencyMs: 60, jitterMs: 40 });
    const took: number[] = [];
    for (let i = 0; i < 12; i++) {
      const t0 = performance.now();
      await redis.get(k("x"));
      took.push(performance.now() - t0);
    }
    for (const ms of took) expect(ms).toBeGreaterThanOrEqual(19);
    expect(Math.min(...took)).toBeLessThan(Math.max(...took) - 10); // spread, not one fixed delay
  });

  it("sequential calls reuse kept-alive connections (no connection per request)", async () => {
    standIn.resetCounters();
    for (let i = 0; i < 200; i++) await redis.get(k("lat"));
    const { counters: c, connections } = standIn.stats();
    expect(c["/"]).toBe(200);
    expect(connections).toBeLessThanOrEqual(2); // speed itself is measured by npm run bench, not here
  });
});
