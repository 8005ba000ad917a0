import { mkdirSync, writeFileSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { parseCli, usage } from "./lib/args";
import { budgets, repoRoot, uploadBudgetKiB } from "./lib/build";
import { cpuTable, latencyTable, mainTable, renderMarkdown, results, textTable } from "./lib/report";
import { correctnessFailures, studiesText, svgFooter } from "./lib/report-text";
import { findScenarios } from "./lib/scenarios";
import { estimateSeconds, runSession } from "./lib/session";
import { renderSvg } from "./lib/svg";

/**
 * `npm run bench`: the Worker bundle in workerd (Miniflare API) against the local stand-ins, driven by autocannon.
 * Writes bench/results/<timestamp>.json, latest.md and latest.svg, and prints the table. See `--help`.
 */
async function main(): Promise<number> {
  const cli = parseCli(process.argv.slice(2));
  if (cli.help) {
    console.log(usage);
    return 0;
  }
  process.env.WRANGLER_SEND_METRICS ??= "false";
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false";
  const scenarios = findScenarios(cli.scenarios);
  const outDir = isAbsolute(cli.outDir) ? cli.outDir : join(repoRoot, cli.outDir);
  const profiledStudies: string[] = ["stream", "queue"];
  const profilesStudy =
    cli.profile !== undefined &&
    profiledStudies.includes(cli.profile) &&
    (cli.studies.studies as string[]).includes(cli.profile);
  if (cli.profile && !profilesStudy && !scenarios.some((s) => s.name === cli.profile)) {
    throw new Error(`--profile ${cli.profile}: not among the scenarios (or the stream / queue study) run`);
  }
  mkdirSync(outDir, { recursive: true }); // before the session: --profile writes there mid-run
  const t0 = Date.now();
  const log = (m: string) => console.log(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(3)}s] ${m}`);
  const estimate = estimateSeconds({ ...cli, scenarios, studies: cli.studies });
  log(
    `${scenarios.length} scenarios × latencies [${cli.latencies.join(", ")}] ms, ` +
      `studies [${cli.studies.studies.join(", ") || "none"}]${cli.studies.studies.includes("fuzz") ? ` (fuzz seed ${cli.studies.fuzz.seed})` : ""}; ` +
      `measuring ≈ ${Math.ceil(estimate / 60)} min + setup (≈ 20 s)`,
  );

  // One Ctrl-C can arrive twice (the terminal signals the whole group and tsx relays it to this process too), so
  // only a second one more than a second later means "quit now, skip the cleanup".
  let stoppedAt = 0;
  process.on("SIGINT", () => {
    if (stoppedAt && Date.now() - stoppedAt > 1_000) process.exit(130);
    if (stoppedAt) return;
    stoppedAt = Date.now();
    log("interrupted: finishing the current scenario, then cleaning up (Ctrl-C again to quit at once)");
  });
  const stop = () => stoppedAt > 0;

  const report = await runSession({
    scenarios,
    base: cli.base,
    latencyPasses: cli.latencyPasses,
    latencies: cli.latencies,
    seed: cli.seed,
    minify: cli.minify,
    entry: cli.entry,
    quick: cli.quick,
    studies: cli.studies,
    ...(cli.profile ? { profile: { scenario: cli.profile, file: join(outDir, `profile-${cli.profile}.md`) } } : {}),
    log,
    shouldStop: stop,
  });

  const stamp = report.startedAt.replace(/[:.]/g, "-").replace(/-\d+Z$/, "Z");
  const files = {
    json: join(outDir, `${stamp}.json`),
    md: join(outDir, "latest.md"),
    svg: join(outDir, "latest.svg"),
  };
  writeFileSync(files.json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(files.md, renderMarkdown(report));
  const base = report.passes.find((p) => p.latencyMs === 0) ?? report.passes[0];
  const rows = results(base?.outcomes ?? []);
  writeFileSync(
    files.svg,
    renderSvg(
      rows,
      `${report.machine.cpus} CPUs, ${report.settings.base.connections} connections, L=${base?.latencyMs ?? 0} ms, ${report.startedAt.slice(0, 10)}`,
      svgFooter(report),
    ),
  );

  console.log("");
  if (base) console.log(`${textTable(mainTable(base.outcomes))}\n`);
  const ratio = report.ratios.getCachedVsBaseline;
  if (ratio) console.log(`get-cached / baseline: throughput ${ratio.rps.toFixed(2)}×, p99 ${ratio.p99.toFixed(2)}×\n`);
  const cpu = base && cpuTable(base.outcomes);
  if (cpu) console.log(`CPU share of the machine during each measurement:\n${textTable(cpu)}\n`);
  const lat = latencyTable(report.passes);
  if (lat) console.log(`${textTable(lat)}\n`);
  const studies = studiesText(report);
  if (studies.length) console.log(`${studies.join("\n")}\n`);
  const b = budgets(report.bundle.app);
  console.log(
    `bundle gzip: fetch path ${b.fetchPathKiB.toFixed(1)} / ${report.bundle.budgetKiB} KiB, whole upload ` +
      `${b.uploadKiB.toFixed(1)} / ${uploadBudgetKiB} KiB${b.within ? "" : " — OVER"}`,
  );
  for (const f of Object.values(files)) console.log(`wrote ${relative(process.cwd(), f)}`);
  log("done");
  // Correctness (fuzz 5xx or contract breaks, duplicate keys) fails the run; missed performance targets do not.
  const failures = correctnessFailures(report);
  for (const f of failures) console.error(`FAILED: ${f}`);
  return report.bundle.withinBudget && failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
