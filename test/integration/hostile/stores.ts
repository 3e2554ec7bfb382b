import fc from "fast-check";
import type { Redis } from "ioredis";
import type { Result } from "neverthrow";
import pg from "pg";
import { afterAll, beforeAll, inject } from "vitest";
import { createTestDatabase } from "../../support/postgres-server.js";
import { redisClient, whenReady } from "../../support/redis-clients.js";

/**
 * The project standard (test/unit/hostile/hostile-values.ts) for the variants
 * backed by real servers: bad input gets a typed Err with a clear message,
 * never an exception and never a partial write. Checked against the Redis 7 and
 * Postgres 15 the integration project starts (global-setup.ts); nothing is
 * mocked. Every run works in a fresh workspace, so "nothing written" is read
 * straight from the server: the workspace's Redis keys (DUMP) or its rows.
 *
 * Containers the library must read (requests, entries, options) get bad shapes
 * but no throwing reads, as in the unit suite; leaf values may be anything.
 *
 * This module holds what the files here (one per module) share: a test file's
 * own Redis client and Postgres database, the server-side snapshots, and the
 * strings a store cannot hold.
 */

/**
 * A Redis client of the test file's own on the shared server, ready before
 * its tests and disconnected after them. Call at the top level of a test file.
 */
export function fileRedis(): Redis {
  const redis = redisClient();
  beforeAll(() => whenReady(redis));
  afterAll(() => {
    redis.disconnect();
  });
  return redis;
}

/**
 * A fresh database of the test file's own on the shared Postgres (`prefix`
 * names it), with a pool on it (6 connections) that `migrate` has prepared.
 * The pool is closed and the database dropped after the file's tests. Call at
 * the top level of a test file; the returned getter is valid inside tests.
 */
export function filePostgres(prefix: string, migrate: (pool: pg.Pool) => Promise<Result<unknown, unknown>>): () => pg.Pool {
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let pool: pg.Pool | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(inject("servers").postgresUrl, prefix);
    pool = new pg.Pool({ connectionString: database.url, max: 6 });
    pool.on("error", () => undefined);
    (await migrate(pool))._unsafeUnwrap();
  });
  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });
  return () => {
    if (pool === undefined) throw new Error("filePostgres: the pool is open only inside the file's tests");
    return pool;
  };
}

/** Every key matching `pattern` with its DUMP (hex), sorted: the server's own view of what is stored. */
export async function redisState(redis: Redis, pattern: string): Promise<string> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== "0");
  keys.sort();
  const dumps = await Promise.all(keys.map(async (k) => [k, (await redis.dumpBuffer(k))?.toString("hex") ?? null]));
  return JSON.stringify(dumps);
}

export const isWellFormed = (s: string): boolean => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
/** A string Postgres text (and UTF-8, and so Redis) stores exactly as given. */
export const storable = (s: string): boolean => isWellFormed(s) && !s.includes("\u0000");

/** Strings a text column or a UTF-8 key cannot hold faithfully. */
export const unstorable = fc.constantFrom("a\u0000b", "\u0000", "a\uD800b", "\uDC00", "x\uDBFF", "\uDFFF\uD800");

/** Text Postgres stores as given: any Unicode but U+0000 and lone surrogates. */
export const pgText = fc.oneof(
  fc.string({ minLength: 1, maxLength: 24, unit: "grapheme" }),
  fc.string({ minLength: 1, maxLength: 24, unit: "binary" }).filter(storable),
  fc.constantFrom("'; drop table audit_entry; --", "\\x00", "%s%n", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\u200b", "\uFEFF", "e\u0301"),
).filter((s) => storable(s) && s.length > 0 && s.length <= 512);
