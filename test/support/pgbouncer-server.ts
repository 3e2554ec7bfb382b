import { chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureServerBinaries } from "./binaries.js";
import { asPostgresUser, freePort, startDaemon, stopDaemon, waitForPort } from "./process.js";

export interface PgBouncerServer {
  /** URL of database `database` through PgBouncer, as `user`. */
  urlFor(database: string, user?: string): string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  readonly postgresPort: number;
  /** Server connections per (database, user) pair. @default 5 */
  readonly poolSize?: number;
  /** Roles allowed to connect (trust auth still needs them listed). @default ["postgres"] */
  readonly users?: readonly string[];
}

/**
 * Starts PgBouncer in transaction-pooling mode in front of a Postgres on
 * loopback: every database, trust auth, as the `postgres` OS user.
 */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncerServer> {
  await ensureServerBinaries();
  const dir = mkdtempSync(join(tmpdir(), "tk-pgb-"));
  const port = await freePort();
  const users = options.users ?? ["postgres"];
  writeFileSync(join(dir, "userlist.txt"), users.map((u) => `"${u}" ""`).join("\n") + "\n");
  writeFileSync(
    join(dir, "pgbouncer.ini"),
    [
      "[databases]",
      `* = host=127.0.0.1 port=${options.postgresPort}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = trust",
      `auth_file = ${join(dir, "userlist.txt")}`,
      "pool_mode = transaction",
      "admin_users = postgres",
      `default_pool_size = ${options.poolSize ?? 5}`,
      "max_client_conn = 2000",
      "ignore_startup_parameters = extra_float_digits,options",
      `pidfile = ${join(dir, "pgbouncer.pid")}`,
    ].join("\n") + "\n",
  );
  const asPostgres = await asPostgresUser();
  if (asPostgres.uid !== undefined && asPostgres.gid !== undefined) {
    chownSync(dir, asPostgres.uid, asPostgres.gid);
    for (const f of ["userlist.txt", "pgbouncer.ini"]) chownSync(join(dir, f), asPostgres.uid, asPostgres.gid);
  }
  let log = "";
  const child = startDaemon("/usr/sbin/pgbouncer", [join(dir, "pgbouncer.ini")], (l) => (log += l), asPostgres);
  try {
    await waitForPort(port, 15_000);
  } catch (error) {
    await stopDaemon(child, "SIGKILL");
    throw new Error(`pgbouncer did not start: ${String(error)}\n${log}`);
  }
  return {
    port,
    urlFor: (database, user = "postgres") => `postgres://${user}@127.0.0.1:${port}/${database}`,
    stop: async () => {
      await stopDaemon(child, "SIGINT");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
