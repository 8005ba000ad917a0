/**
 * Webhook URL policy (SSRF, OWASP API7): https only, no credentials, and never a private, loopback, link-local,
 * CGNAT, multicast or reserved address, nor an internal-looking host name. In development and tests, plain-http
 * loopback receivers are allowed so a local receiver can be used (contract § Webhooks).
 * IP literals are checked after the WHATWG URL parser normalised them (so `http://2130706433` is 127.0.0.1). Host
 * names are not resolved here (Workers cannot); Cloudflare's egress does not route to private networks, which
 * covers DNS names that resolve to them.
 */
export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

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

export function checkWebhookUrl(raw: string, allowLoopback: boolean): UrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "must be an absolute URL" };
  }
  if (url.username || url.password) return { ok: false, reason: "must not contain credentials" };
  // A trailing dot is the same host (`localhost.` is localhost): strip it before any check.
  const host = url.hostname.toLowerCase().replace(/\.+$/, "");
  if (allowLoopback && isLoopback(host) && (url.protocol === "http:" || url.protocol === "https:")) {
    return { ok: true, url };
  }
  if (url.protocol !== "https:") return { ok: false, reason: "must use https" };
  if (ipv4Blocked(host) || ipv6Blocked(host) || blockedNames.test(host) || !host.includes(".")) {
    return { ok: false, reason: "must not point at a private, loopback, link-local or internal address" };
  }
  return { ok: true, url };
}
