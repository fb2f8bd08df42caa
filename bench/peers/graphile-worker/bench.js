#!/usr/bin/env node
// graphile-worker's side of `bench/run peers`: the same three scenarios as
// `checkout loadtest jobs` (bench/peers/README.md). One JSON report on stdout.
//
//   node bench.js enqueue --jobs N [--batch B]          N no-op jobs, B per add_jobs call
//   node bench.js drain   [--processes P]               run what is queued; jobs/s
//   node bench.js noop    --jobs N [--batch B] [--processes P]   enqueue, then drain
//   node bench.js latency --rate R --seconds S [--processes P]   commit -> start, open loop
//   node bench.js chain   --chains N [--processes P]    3-step chains started together
//
// DATABASE_URL: its own database. Settings: GW_CONCURRENCY (jobs at once per process),
// GW_POLL_MS (pollInterval), GW_POOL (maxPoolSize). Runners are child processes of this
// one (`runner` below), so the enqueuer's timing never shares an event loop with them.
"use strict";

const { fork } = require("child_process");
const { performance } = require("perf_hooks");
const { Pool } = require("pg");
const { run, runMigrations, Logger } = require("graphile-worker");

const DATABASE_URL = process.env.DATABASE_URL;
const CONCURRENCY = Number(process.env.GW_CONCURRENCY || 16);
const POLL_MS = Number(process.env.GW_POLL_MS || 2000);
const POOL = Number(process.env.GW_POOL || CONCURRENCY + 2);

// wall clock in ms with sub-ms resolution: comparable across processes on one machine
const wallMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// warnings and errors only: the success line per job would be most of the work
const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`[gw ${level}] ${message}`);
});

function args(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) out[argv[i].slice(2)] = argv[i + 1];
  }
  return out;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, i)] * 100) / 100;
}

// ---- the runner child: graphile-worker's `run` with the three tasks ----

async function runner() {
  const stats = { first_start: null, last_complete: null, completed: 0 };
  const events = new (require("events").EventEmitter)();
  events.on("job:start", () => {
    if (stats.first_start === null) stats.first_start = wallMs();
  });
  events.on("job:complete", ({ error }) => {
    if (!error) stats.completed++;
    stats.last_complete = wallMs();
  });
  const taskList = {
    noop: async () => {},
    // records its start instant (taken before the insert) for the latency scenario
    lat: async (payload, helpers) => {
      const started = wallMs();
      await helpers.query("insert into bench_starts (id, started_ms) values ($1, $2) on conflict do nothing", [
        payload.id,
        started,
      ]);
    },
    // a workflow step: enqueues the next step in its own transaction
    chain: async (payload, helpers) => {
      if (payload.left > 0) {
        await helpers.withPgClient(async (client) => {
          await client.query("begin");
          await client.query("select graphile_worker.add_job('chain', json_build_object('left', $1::int))", [
            payload.left - 1,
          ]);
          await client.query("commit");
        });
      }
    },
  };
  const r = await run({
    connectionString: DATABASE_URL,
    concurrency: CONCURRENCY,
    maxPoolSize: POOL,
    pollInterval: POLL_MS,
    noHandleSignals: true,
    taskList,
    events,
    logger,
  });
  process.send({ ready: true });
  process.on("message", async (m) => {
    if (m.stop) {
      await r.stop();
      const cpu = process.cpuUsage();
      stats.cpu_s = (cpu.user + cpu.system) / 1e6;
      process.send({ stats });
      process.exit(0);
    }
  });
}

// ---- the parent: enqueues, starts runners, measures ----

async function startRunners(n) {
  const children = [];
  for (let i = 0; i < n; i++) {
    const child = fork(__filename, ["runner"], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    await new Promise((resolve, reject) => {
      child.once("message", (m) => (m.ready ? resolve() : reject(new Error("runner failed"))));
      child.once("exit", (code) => reject(new Error(`runner exited ${code}`)));
    });
    children.push(child);
  }
  return children;
}

async function stopRunners(children) {
  const all = await Promise.all(
    children.map(
      (c) =>
        new Promise((resolve) => {
          c.once("message", (m) => resolve(m.stats));
          c.send({ stop: true });
        })
    )
  );
  return {
    first_start: Math.min(...all.map((s) => s.first_start ?? Infinity)),
    last_complete: Math.max(...all.map((s) => s.last_complete ?? -Infinity)),
    completed: all.reduce((a, s) => a + s.completed, 0),
    cpu_s: all.reduce((a, s) => a + s.cpu_s, 0),
  };
}

// waits until no job is left (graphile-worker deletes a job when it completes)
async function drained(pool, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { rows } = await pool.query("/* harness */ select exists (select 1 from graphile_worker._private_jobs) as busy");
    if (!rows[0].busy) return true;
    await sleep(20);
  }
  return false;
}

async function reset(pool) {
  await pool.query("drop schema if exists graphile_worker cascade");
  await pool.query("drop table if exists bench_starts");
  await pool.query("create table bench_starts (id bigint primary key, started_ms double precision not null)");
  await runMigrations({ connectionString: DATABASE_URL, logger });
}

async function enqueue(pool, jobs, batch) {
  const t0 = wallMs();
  for (let from = 1; from <= jobs; from += batch) {
    const to = Math.min(jobs, from + batch - 1);
    // its batch API: one add_jobs call, one statement, per batch
    await pool.query(
      `select count(*) from graphile_worker.add_jobs(
         (select array_agg(row('noop', json_build_object('i', i), null, null, null, null, null, null)::graphile_worker.job_spec)
            from generate_series($1::int, $2::int) i))`,
      [from, to]
    );
  }
  const s = (wallMs() - t0) / 1000;
  return { jobs, batch, enqueue_s: round(s), enqueued_per_s: round(jobs / s) };
}

async function drain(pool, processes, expected) {
  const children = await startRunners(processes);
  const ok = await drained(pool, 600_000);
  const st = await stopRunners(children);
  const s = (st.last_complete - st.first_start) / 1000;
  return {
    processes,
    completed: st.completed,
    expected,
    drained: ok,
    drain_s: round(s),
    jobs_per_s: round(st.completed / s),
    worker_cpu_s_per_1000_jobs: cpuPer1000(st),
  };
}

async function latency(pool, rate, seconds, processes) {
  const children = await startRunners(processes);
  const total = Math.round(rate * seconds);
  const commits = new Map();
  const rtts = [];
  const pending = [];
  const t0 = wallMs() + 100;
  let i = 0;
  // open loop: every job is sent at its scheduled instant (or at once when late),
  // whatever the earlier ones are doing
  while (i < total) {
    const now = wallMs();
    while (i < total && t0 + (i * 1000) / rate <= now) {
      const id = ++i;
      const sent = wallMs();
      pending.push(
        pool
          .query("select graphile_worker.add_job('lat', json_build_object('id', $1::bigint))", [id])
          .then(() => {
            const at = wallMs();
            commits.set(id, at);
            rtts.push(at - sent);
          })
      );
    }
    await sleep(1);
  }
  await Promise.all(pending);
  // below `offered_per_s` when the enqueuer fell behind its schedule
  const committedPerS = total / ((wallMs() - t0) / 1000);
  const ok = await drained(pool, 120_000);
  const st = await stopRunners(children);
  const { rows } = await pool.query("/* harness */ select id, started_ms from bench_starts");
  const lat = rows.map((r) => r.started_ms - commits.get(Number(r.id))).sort((a, b) => a - b);
  return {
    processes,
    offered_per_s: rate,
    committed_per_s: round(committedPerS),
    seconds,
    jobs: total,
    started: rows.length,
    drained: ok,
    p50_ms: percentile(lat, 50),
    p99_ms: percentile(lat, 99),
    max_ms: percentile(lat, 100),
    // from sending the add_job to seeing it committed, for reading the above
    enqueue_p50_ms: percentile(rtts.sort((a, b) => a - b), 50),
    worker_cpu_s_per_1000_jobs: cpuPer1000(st),
  };
}

async function chain(pool, chains, processes) {
  const children = await startRunners(processes);
  await sleep(200);
  // every chain's first step in one transaction: they start together
  await pool.query(
    `select count(*) from graphile_worker.add_jobs(
       (select array_agg(row('chain', json_build_object('left', 2), null, null, null, null, null, null)::graphile_worker.job_spec)
          from generate_series(1, $1::int)))`,
    [chains]
  );
  const committed = wallMs();
  const ok = await drained(pool, 600_000);
  const st = await stopRunners(children);
  const s = (st.last_complete - committed) / 1000;
  return {
    processes,
    chains,
    steps: 3,
    jobs_completed: st.completed,
    drained: ok,
    elapsed_s: round(s),
    chains_per_s: round(chains / s),
    worker_cpu_s_per_1000_jobs: cpuPer1000(st),
  };
}

const round = (x) => Math.round(x * 100) / 100;
// CPU seconds of the runner processes (start-up included, as for ours) per 1,000 jobs
const cpuPer1000 = (st) => (st.completed > 0 ? round((st.cpu_s * 1000) / st.completed) : null);

async function main() {
  const [scenario, ...rest] = process.argv.slice(2);
  if (scenario === "runner") return runner();
  if (!DATABASE_URL) throw new Error("DATABASE_URL is not set");
  const a = args(rest);
  const processes = Number(a.processes || 1);
  const pool = new Pool({ connectionString: DATABASE_URL, max: 16 });
  let report;
  const settings = { concurrency: CONCURRENCY, poll_interval_ms: POLL_MS, max_pool_size: POOL, prepared_statements: true };
  switch (scenario) {
    case "enqueue":
      await reset(pool);
      report = await enqueue(pool, Number(a.jobs || 50000), Number(a.batch || 1000));
      break;
    case "drain":
      report = await drain(pool, processes, null);
      break;
    case "noop": {
      await reset(pool);
      const e = await enqueue(pool, Number(a.jobs || 50000), Number(a.batch || 1000));
      report = { ...e, ...(await drain(pool, processes, e.jobs)) };
      break;
    }
    case "latency":
      await reset(pool);
      report = await latency(pool, Number(a.rate || 200), Number(a.seconds || 20), processes);
      break;
    case "chain":
      await reset(pool);
      report = await chain(pool, Number(a.chains || 2000), processes);
      break;
    default:
      throw new Error(`unknown scenario ${scenario}: enqueue | drain | noop | latency | chain`);
  }
  await pool.end();
  const version = require("graphile-worker/package.json").version;
  console.log(JSON.stringify({ runtime: `graphile-worker ${version}`, scenario, settings, ...report }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
