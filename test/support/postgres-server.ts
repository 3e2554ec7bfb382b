import { setTimeout as sleep } from "node:timers/promises";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { PG_BIN, ensureServerBinaries } from "./binaries.js";
import { asPostgresUser, freePort, run, startDaemon, stopDaemon, waitForPort } from "./process.js";

export interface PostgresServer {
  /** Superuser URL to the `postgres` database. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}


/**
 * Starts a throwaway PostgreSQL 15 on a free loopback port: `initdb` into a
 * temp dir (as the `postgres` OS user when we are root), trust auth on
 * loopback only, and a postmaster that is killed when this process exits.
 */
export async function startPostgres(options: { settings?: Record<string, string> } = {}): Promise<PostgresServer> {
  await ensureServerBinaries();
  const dir = mkdtempSync(join(tmpdir(), "tk-pg-"));
  const dataDir = join(dir, "data");
  const asPostgres = await asPostgresUser();
  if (asPostgres.uid !== undefined && asPostgres.gid !== undefined) chownSync(dir, asPostgres.uid, asPostgres.gid);
  await run(
    `${PG_BIN}/initdb`,
    ["-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"],
    asPostgres,
  );
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    port: String(port),
    unix_socket_directories: dir,
    max_connections: "300",
    shared_buffers: "128MB",
    ...options.settings,
  };
  const args = Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
  let log = "";
  const child = startDaemon(`${PG_BIN}/postgres`, ["-D", dataDir, ...args], (line) => (log += line), asPostgres);
  try {
    await waitForPort(port, 30_000);
    await waitForAcceptingQueries(`postgres://postgres@127.0.0.1:${port}/postgres`);
  } catch (error) {
    await stopDaemon(child, "SIGKILL");
    throw new Error(`postgres did not start: ${String(error)}\n${log}`);
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: async () => {
      // SIGINT is Postgres's "fast shutdown": disconnect clients, then exit cleanly.
      await stopDaemon(child, "SIGINT");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForAcceptingQueries(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query("select 1");
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * Creates a fresh database on the server for one test file (files run in
 * parallel) and returns its URL; `drop` removes it.
 */
export async function createTestDatabase(adminUrl: string, prefix = "tk"): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        // pg.Pool#end resolves before its sockets have closed; forcing the drop while they
        // are still open makes the server terminate them, and pg reports that as an uncaught
        // error on the caller's pool. Wait (briefly) for them to go away on their own first.
        for (let waited = 0; waited < 5_000; waited += 25) {
          const open = await client.query(`select count(*)::int as n from pg_stat_activity where datname = $1`, [name]);
          if (open.rows[0].n === 0) break;
          await sleep(25);
        }
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
