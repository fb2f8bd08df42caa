#!/usr/bin/env node
// Open-loop driver of Medusa v2's store checkout: an order starts every 1/rate s for
// --seconds, at its instant however the earlier ones fare, and runs the storefront's
// whole sequence (cart, item, address, shipping method, payment collection, payment
// session, complete). One JSON report on stdout.
//
//   node driver.mjs --base-url http://127.0.0.1:9100 --seed seed.json --rate 4 --seconds 20 --pid 1234
//
// CPU is read from /proc as `checkout loadtest` reads it (src/loadtest/chaos.rs): user +
// system seconds of the Medusa processes (--pid and all their descendants, so cluster
// children count), of every postgres process and of every redis-server process, alive
// at the end minus the same pid at the start (a process started during the run counts
// whole; one that ended is lost), per completed order.
import { readFileSync, readdirSync } from "node:fs"
import { execSync } from "node:child_process"

const args = parseArgs(process.argv.slice(2))
const base = args["base-url"] || "http://127.0.0.1:9100"
const rate = Number(args.rate || 4)
const seconds = Number(args.seconds || 20)
const timeoutMs = Number(args["timeout-s"] || 60) * 1000
const seed = JSON.parse(readFileSync(args.seed || "seed.json", "utf8"))
const rootPids = String(args.pid || "").split(",").filter(Boolean).map(Number)

// Node's own fetch: keep-alive connections without a per-origin ceiling, so the
// driver never queues an order behind another and hides the server's latency

const TICK = Number(execSync("getconf CLK_TCK").toString().trim()) || 100

function parseArgs(argv) {
  const out = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a.startsWith("--")) {
      const [k, v] = a.slice(2).split("=", 2)
      if (v !== undefined) out[k] = v
      else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) out[k] = argv[++i]
      else out[k] = true
    }
  }
  return out
}

function stat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8")
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ")
    // after the ")" : state is f[0], ppid f[1], utime f[11], stime f[12]
    return { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / TICK }
  } catch {
    return null
  }
}

function allPids() {
  return readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number)
}

function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim()
  } catch {
    return ""
  }
}

// CPU seconds by pid of: the Medusa process trees, every postgres, every redis-server
function cpuReading() {
  const pids = allPids()
  const info = new Map()
  for (const p of pids) {
    const s = stat(p)
    if (s) info.set(p, s)
  }
  const tree = new Set(rootPids.filter((p) => info.has(p)))
  // descendants: repeat until no new child joins (cluster primary -> workers -> ...)
  for (let grew = true; grew; ) {
    grew = false
    for (const [p, s] of info) if (!tree.has(p) && tree.has(s.ppid)) (tree.add(p), (grew = true))
  }
  const pick = (want) => new Map([...info].filter(([p]) => want(p)).map(([p, s]) => [p, s.cpu]))
  return {
    medusa: pick((p) => tree.has(p)),
    postgres: pick((p) => comm(p) === "postgres"),
    redis: pick((p) => comm(p) === "redis-server"),
    machine: machineBusy(),
    generator: process.cpuUsage(),
  }
}

function since(before, after) {
  let s = 0
  for (const [p, v] of after) s += Math.max(0, v - (before.get(p) ?? 0))
  return s
}

function machineBusy() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq: busy = all but idle and iowait
  return (f[0] + f[1] + f[2] + f[5] + f[6]) / TICK
}

const headers = {
  "content-type": "application/json",
  "x-publishable-api-key": seed.publishable_key,
}

class StepError extends Error {
  constructor(kind, detail) {
    super(`${kind}: ${detail}`)
    this.kind = kind
  }
}

async function call(step, method, path, body, signal) {
  let res
  try {
    res = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined, signal })
  } catch (e) {
    throw new StepError(`${step}: ${e.name === "AbortError" || e.name === "TimeoutError" ? "timeout" : "network"}`, e.message)
  }
  const text = await res.text()
  if (!res.ok) throw new StepError(`${step}: http ${res.status}`, text.slice(0, 300))
  return JSON.parse(text)
}

// One storefront checkout, as Medusa's Next.js starter storefront sends it.
async function order(n, signal) {
  const { cart } = await call("create cart", "POST", "/store/carts", { region_id: seed.region_id }, signal)
  await call("add item", "POST", `/store/carts/${cart.id}/line-items`, { variant_id: seed.variant_id, quantity: 1 }, signal)
  const address = {
    first_name: "Bench",
    last_name: `Student ${n}`,
    address_1: "1 MG Road",
    city: "Bengaluru",
    province: "KA",
    postal_code: "560001",
    country_code: "in",
    phone: "+919999999999",
  }
  await call("address", "POST", `/store/carts/${cart.id}`, {
    email: `student-${n}-${process.pid}@bench.example`,
    shipping_address: address,
    billing_address: address,
  }, signal)
  const { shipping_options } = await call("shipping options", "GET", `/store/shipping-options?cart_id=${cart.id}`, null, signal)
  if (!shipping_options?.length) throw new StepError("shipping options: none", cart.id)
  await call("shipping method", "POST", `/store/carts/${cart.id}/shipping-methods`, { option_id: shipping_options[0].id }, signal)
  const { payment_collection } = await call("payment collection", "POST", "/store/payment-collections", { cart_id: cart.id }, signal)
  await call("payment session", "POST", `/store/payment-collections/${payment_collection.id}/payment-sessions`,
    { provider_id: "pp_system_default" }, signal)
  const done = await call("complete", "POST", `/store/carts/${cart.id}/complete`, null, signal)
  if (done.type !== "order" || !done.order?.id) throw new StepError("complete: not an order", JSON.stringify(done).slice(0, 300))
  return done.order.id
}

function pct(sorted, p) {
  if (!sorted.length) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return Math.round(sorted[i] * 100) / 100
}

async function main() {
  const total = Math.max(1, Math.round(rate * seconds))
  const latencies = []
  const errors = {}
  let started = 0
  let completed = 0
  let lateMax = 0
  let lastDone = 0
  const before = cpuReading()
  const t0 = performance.now()
  const running = []
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate
    const wait = due - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    lateMax = Math.max(lateMax, performance.now() - due)
    started++
    running.push(
      order(i, AbortSignal.timeout(timeoutMs)).then(
        () => {
          const now = performance.now()
          // from the intended start, so a late start counts against the server
          latencies.push(now - due)
          completed++
          lastDone = Math.max(lastDone, now)
        },
        (e) => {
          const kind = e.kind || `other: ${e.message}`
          errors[kind] = (errors[kind] || 0) + 1
          if (errors[kind] === 1) process.stderr.write(`order ${i}: ${e.message}\n`)
        },
      ),
    )
  }
  const offeredS = (performance.now() - t0) / 1000
  await Promise.all(running)
  const elapsedS = (performance.now() - t0) / 1000
  const after = cpuReading()
  latencies.sort((a, b) => a - b)
  const medusaCpu = since(before.medusa, after.medusa)
  const pgCpu = since(before.postgres, after.postgres)
  const redisCpu = since(before.redis, after.redis)
  const gen = after.generator
  const genCpu = (gen.user + gen.system - before.generator.user - before.generator.system) / 1e6
  const machineCpu = after.machine - before.machine
  const per = (v) => (completed ? Math.round((v / completed) * 1e5) / 1e5 : null)
  // orders/s over the window in which they completed: from the start to the last
  // completion, less the fastest order's latency, and at least the offering period.
  // Orders that all take L give exactly the rate; a server falling behind stretches
  // the window. (From the start alone, as `checkout loadtest` counts, a 2 s order
  // would cap a 20 s run at 91 % of any rate it sustains.)
  const fastest = latencies.length ? latencies[0] : 0
  const window = Math.max(total / rate, (lastDone - t0 - fastest) / 1000)
  const windowFromStart = Math.max(total / rate, (lastDone - t0) / 1000)
  const round2 = (v) => Math.round(v * 100) / 100
  const report = {
    peer: "medusa",
    target_rate: rate,
    seconds,
    offered: total,
    started,
    completed,
    errors,
    offered_s: round2(offeredS),
    elapsed_s: round2(elapsedS),
    generator_late_max_ms: round2(lateMax),
    achieved_orders_per_s: round2(completed / window),
    achieved_from_start_per_s: round2(completed / windowFromStart),
    order_latency_ms: {
      count: latencies.length,
      p50: pct(latencies, 50),
      p95: pct(latencies, 95),
      p99: pct(latencies, 99),
      max: pct(latencies, 100),
    },
    cpu: {
      medusa_pids: [...after.medusa.keys()],
      medusa_processes_s: round2(medusaCpu),
      postgres_all_s: round2(pgCpu),
      redis_s: round2(redisCpu),
      generator_s: round2(genCpu),
      machine_busy_s: round2(machineCpu),
      medusa_processes_per_order_s: per(medusaCpu),
      postgres_per_order_s: per(pgCpu),
      redis_per_order_s: per(redisCpu),
      generator_per_order_s: per(genCpu),
      machine_per_order_s: per(machineCpu),
    },
  }
  process.stdout.write(JSON.stringify(report) + "\n")
}

main().catch((e) => {
  process.stderr.write(`driver: ${e.stack || e}\n`)
  process.exit(1)
})
