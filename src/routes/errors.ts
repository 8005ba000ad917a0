import type { Context } from "hono";
import type { App, AppEnv } from "../context";
import { allErrorPages, type ErrorPage, errorPage } from "../lib/error-catalogue";
import { AppError } from "../lib/errors";

const html = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`).replace(/`([^`]+)`/g, "<code>$1</code>");

const layout = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
  `<title>${html(title)} · edgepay errors</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;` +
  `margin:2rem auto;padding:0 1rem}code{background:#f2f2f2;padding:0 .2em}dt{font-weight:600}</style></head>` +
  `<body>${body}<p><a href="/errors">All errors</a> · <a href="/docs">API reference</a></p></body></html>`;

const pageHtml = (p: ErrorPage) =>
  layout(
    p.title,
    `<h1>${html(p.title)}</h1><p><code>${p.status}</code> · code <code>${p.code}</code> · type ` +
      `<code>${html(p.type)}</code></p><h2>What it means</h2><p>${html(p.meaning)}</p>` +
      `<h2>Common causes</h2><ul>${p.causes.map((c) => `<li>${html(c)}</li>`).join("")}</ul>` +
      `<h2>How to fix it</h2><p>${html(p.fix)}</p>`,
  );

const indexHtml = (pages: ErrorPage[]) =>
  layout(
    "Errors",
    `<h1>Errors</h1><p>Every error is an RFC 9457 problem (<code>application/problem+json</code>) whose ` +
      "<code>type</code> links to its page here, and whose <code>code</code> is stable.</p><dl>" +
      pages
        .map((p) => `<dt><a href="/errors/${p.code}">${p.code}</a> (${p.status})</dt><dd>${html(p.meaning)}</dd>`)
        .join("") +
      "</dl>",
  );

const wantsJson = (c: Context<AppEnv>) => /application\/(?:problem\+)?json/i.test(c.req.header("Accept") ?? "");

/**
 * Errors that teach: every problem's `type` URL (`…/errors/<code>`) resolves here to its meaning, common causes and
 * fix — HTML for people, JSON with `Accept: application/json`. `/` sends people to the reference. Documentation,
 * like /docs, so not in /openapi.json.
 */
export function registerErrorPages(app: App): void {
  app.get("/", (c) => c.redirect("/docs", 302));
  app.get("/errors", (c) => {
    const pages = allErrorPages();
    return wantsJson(c) ? c.json({ object: "list", data: pages }) : c.html(indexHtml(pages));
  });
  app.get("/errors/:code", (c) => {
    const page = errorPage(c.req.param("code"));
    if (!page) throw new AppError("not_found", { detail: `No such error code: ${c.req.param("code").slice(0, 100)}` });
    c.header("Cache-Control", "public, max-age=3600");
    return wantsJson(c) ? c.json({ object: "error_page", ...page }) : c.html(pageHtml(page));
  });
}
