import { defineConfig } from "@medusajs/framework/utils"

// Medusa's documented production set-up for more than one process: every
// infrastructure module on Redis, so the processes of `medusa start --cluster`
// share events, workflow state, cache and locks. Without Redis the in-memory
// modules would keep them per process (locks would not lock across processes).
const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379/7"

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/peers_medusa",
    // loopback: no TLS, as for our side
    databaseDriverOptions: {
      ssl: false,
      // knex's default ceiling, made explicit: a process never holds more than
      // this, so two cluster processes stay within the ~20 connections we may use
      pool: { min: 2, max: Number(process.env.MEDUSA_DB_POOL || 10) },
    },
    redisUrl,
    workerMode: (process.env.MEDUSA_WORKER_MODE as "shared" | "worker" | "server") || "shared",
    http: {
      storeCors: "http://127.0.0.1",
      adminCors: "http://127.0.0.1",
      authCors: "http://127.0.0.1",
      jwtSecret: process.env.JWT_SECRET || "bench-only-jwt-secret",
      cookieSecret: process.env.COOKIE_SECRET || "bench-only-cookie-secret",
    },
  },
  // the admin dashboard is not part of a checkout; building it only costs time
  admin: { disable: true },
  modules: [
    { resolve: "@medusajs/medusa/cache-redis", options: { redisUrl } },
    { resolve: "@medusajs/medusa/event-bus-redis", options: { redisUrl } },
    { resolve: "@medusajs/medusa/workflow-engine-redis", options: { redis: { redisUrl } } },
    {
      resolve: "@medusajs/medusa/locking",
      options: {
        providers: [
          { resolve: "@medusajs/medusa/locking-redis", id: "locking-redis", is_default: true, options: { redisUrl } },
        ],
      },
    },
  ],
})
