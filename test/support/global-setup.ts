import type { TestProject } from "vitest/node";
import { startPgBouncer } from "./pgbouncer-server.js";
import { startPostgres } from "./postgres-server.js";
import { startRedis, startRedisCluster } from "./redis-server.js";
import { PGBOUNCER_USERS, type TestServers } from "./servers.js";

/**
 * Starts real Postgres 15, Redis 7, a 3-master Redis Cluster and PgBouncer on
 * loopback for the integration project, or uses existing servers named by
 * TENANCY_TEST_DATABASE_URL / TENANCY_TEST_REDIS_URL /
 * TENANCY_TEST_REDIS_CLUSTER_NODES ("host:port,host:port,…").
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const stops: (() => Promise<void>)[] = [];
  const env = process.env;

  const postgres = env.TENANCY_TEST_DATABASE_URL
    ? { url: env.TENANCY_TEST_DATABASE_URL, port: Number(new URL(env.TENANCY_TEST_DATABASE_URL).port || 5432) }
    : await startPostgres();
  if ("stop" in postgres) stops.push(postgres.stop);

  const [redisUrl, clusterNodes] = await Promise.all([
    env.TENANCY_TEST_REDIS_URL
      ? Promise.resolve(env.TENANCY_TEST_REDIS_URL)
      : startRedis().then((r) => {
          stops.push(() => r.stop());
          return r.url;
        }),
    env.TENANCY_TEST_REDIS_CLUSTER_NODES
      ? Promise.resolve(
          env.TENANCY_TEST_REDIS_CLUSTER_NODES.split(",").map((n) => {
            const [host = "127.0.0.1", port = "0"] = n.split(":");
            return { host, port: Number(port) };
          }),
        )
      : startRedisCluster(3).then((c) => {
          stops.push(c.stop);
          return c.nodes;
        }),
  ]);
  const pgbouncer = await startPgBouncer({ postgresPort: postgres.port, users: PGBOUNCER_USERS });
  stops.push(pgbouncer.stop);

  const servers: TestServers = { postgresUrl: postgres.url, redisUrl, clusterNodes, pgbouncerPort: pgbouncer.port };
  project.provide("servers", servers);
  console.log(
    `[integration] real servers up in ${Date.now() - started} ms: postgres ${postgres.url}, redis ${redisUrl}, ` +
      `cluster ${clusterNodes.map((n) => `${n.host}:${n.port}`).join(",")}, pgbouncer 127.0.0.1:${pgbouncer.port} (transaction mode)`,
  );
  return async () => {
    await Promise.all(stops.reverse().map((stop) => stop().catch(() => undefined)));
  };
}
