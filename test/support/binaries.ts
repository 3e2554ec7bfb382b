import { existsSync } from "node:fs";
import { run } from "./process.js";

export const PG_BIN = "/usr/lib/postgresql/15/bin";

interface Requirement {
  readonly binary: string;
  readonly debianPackage: string;
}

const REQUIREMENTS: readonly Requirement[] = [
  { binary: `${PG_BIN}/postgres`, debianPackage: "postgresql-15" },
  { binary: `${PG_BIN}/initdb`, debianPackage: "postgresql-15" },
  { binary: "/usr/bin/redis-server", debianPackage: "redis-server" },
  { binary: "/usr/bin/redis-cli", debianPackage: "redis-tools" },
  { binary: "/usr/sbin/pgbouncer", debianPackage: "pgbouncer" },
];

let ensured: Promise<void> | undefined;

/**
 * Makes sure the server binaries the integration tests start are installed:
 * installs the missing Debian packages when running as root, otherwise fails
 * with a message naming them.
 */
export function ensureServerBinaries(): Promise<void> {
  ensured ??= (async () => {
    const missing = REQUIREMENTS.filter((r) => !existsSync(r.binary));
    if (missing.length === 0) return;
    const packages = [...new Set(missing.map((r) => r.debianPackage))];
    if (process.getuid?.() !== 0) {
      throw new Error(
        `integration tests need ${missing.map((r) => r.binary).join(", ")}; install the Debian packages: apt-get install ${packages.join(" ")} ` +
          "(or set TENANCY_TEST_DATABASE_URL / TENANCY_TEST_REDIS_URL to existing servers)",
      );
    }
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    await run("apt-get", ["update", "-qq"], { env });
    await run("apt-get", ["install", "-y", "-qq", ...packages], { env });
    // The Debian postinst starts system services on their default ports; ours use their own ports and data dirs.
    const stillMissing = REQUIREMENTS.filter((r) => !existsSync(r.binary));
    if (stillMissing.length > 0) throw new Error(`still missing after apt-get install: ${stillMissing.map((r) => r.binary).join(", ")}`);
  })();
  return ensured;
}
