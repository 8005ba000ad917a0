/**
 * Webhook URL policy (SSRF, OWASP API7; contract § Webhooks), in every environment: https, no credentials, never a
 * private, loopback, link-local, CGNAT, multicast or reserved address, nor an internal-looking host name, nor a
 * well-known name that resolves to loopback (`*.nip.io`, `localtest.me`, …), nor the API's own origin. Outside
 * development and test also: no IP-literal host at all (Workers cannot fetch a bare IP in production: error 1003)
 * and port 443 only. In development and test, loopback receivers (http or https, any port but the API's own) are
 * allowed, so a local receiver can be used.
 * IP literals are checked after the WHATWG URL parser normalised them (so `http://2130706433` is 127.0.0.1). Host
 * names are not resolved here (Workers cannot), so this is a first filter, not the guard: the final one is
 * production egress, which does not route from Workers to private networks or loopback whatever a name resolves to.
 */
export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

export interface UrlPolicy {
  /** development or test: loopback receivers, IP literals and any port allowed. */
  development: boolean;
  /** The API's own origin (the request's), never a webhook target. */
  selfOrigin?: string;
}

/** Public wildcard DNS names that answer with loopback or any IP embedded in the name (and DNS-rebinding helpers). */
const loopbackAliases =
  /(^|\.)(nip\.io|sslip\.io|xip\.io|nip\.direct|localtest\.me|lvh\.me|vcap\.me|lacolhost\.com|fuf\.me|localhost\.direct|localho\.st|local\.gd|traefik\.me|1u\.ms|rbndr\.us)$/i;

const blockedNames = /(^|\.)(localhost|local|internal|intranet|lan|home|corp|localdomain|home\.arpa)$/i;

function ipv4Blocked(host: string): boolean {
  const m = host.match(/^(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0) ||
    (a === 198 && (b === 18 || b === 19)) ||
    a >= 224
  );
}

function ipv6Blocked(host: string): boolean {
  if (!host.startsWith("[")) return false;
  const h = host.slice(1, -1).toLowerCase();
  if (h === "::" || h === "::1") return true;
  if (/^f[cd]/.test(h) || /^fe[89ab]/.test(h) || h.startsWith("ff")) return true;
  const mapped = h.match(/^::ffff:(.+)$/);
  if (mapped?.[1]) {
    const v4 = mapped[1].includes(".") ? mapped[1] : hexToV4(mapped[1]);
    return v4 === undefined || ipv4Blocked(v4);
  }
  return false;
}

function hexToV4(hex: string): string | undefined {
  const parts = hex.split(":");
  if (parts.length !== 2) return undefined;
  const n = (Number.parseInt(parts[0] ?? "", 16) << 16) | Number.parseInt(parts[1] ?? "", 16);
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

const isLoopback = (host: string) => host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
const isIpLiteral = (host: string) => host.startsWith("[") || /^\d+\.\d+\.\d+\.\d+$/.test(host);
/** A trailing dot is the same host (`localhost.` is localhost): stripped before any check. */
const hostOf = (url: URL) => url.hostname.toLowerCase().replace(/\.+$/, "");
const portOf = (url: URL) => url.port || (url.protocol === "https:" ? "443" : url.protocol === "http:" ? "80" : "");

/** The API's own origin: same host and port, every spelling of loopback counting as one host. */
function isSelf(url: URL, selfOrigin: string | undefined): boolean {
  if (!selfOrigin) return false;
  let self: URL;
  try {
    self = new URL(selfOrigin);
  } catch {
    return false;
  }
  const [a, b] = [hostOf(url), hostOf(self)];
  return (a === b || (isLoopback(a) && isLoopback(b))) && portOf(url) === portOf(self);
}

export function checkWebhookUrl(raw: string, policy: UrlPolicy): UrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "must be an absolute URL" };
  }
  if (url.username || url.password) return { ok: false, reason: "must not contain credentials" };
  const host = hostOf(url);
  if (url.protocol !== "https:" && url.protocol !== "http:") return { ok: false, reason: "must use https" };
  if (isSelf(url, policy.selfOrigin)) return { ok: false, reason: "must not point at this API itself" };
  if (policy.development && isLoopback(host)) return { ok: true, url };
  if (url.protocol !== "https:") return { ok: false, reason: "must use https" };
  if (ipv4Blocked(host) || ipv6Blocked(host) || blockedNames.test(host) || !host.includes(".")) {
    return { ok: false, reason: "must not point at a private, loopback, link-local or internal address" };
  }
  if (loopbackAliases.test(host)) return { ok: false, reason: "must not use a host name that resolves to loopback" };
  if (!policy.development) {
    if (isIpLiteral(host)) return { ok: false, reason: "must use a host name, not an IP address" };
    if (url.port !== "") return { ok: false, reason: "must use the default https port (443)" };
  }
  return { ok: true, url };
}
