import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from "node:crypto";
import { xchacha20poly1305 } from "@noble/ciphers/chacha";
import { TenantCipher } from "../src/crypto/index.js";
import { blackhole, type BenchContext } from "./harness.js";

/**
 * TenantCipher (default suite XChaCha20-Poly1305, node path, warm key cache,
 * public async API) against raw node:crypto AES-256-GCM (fresh
 * createCipheriv/createDecipheriv per message, one fixed key, a random 12-byte
 * IV from randomBytes per message, no envelope) and pure @noble/ciphers
 * xchacha20poly1305. Each side has its own loop function.
 */
const AES_KEY = randomBytes(32);

function rawSeal(plaintext: Uint8Array): { iv: Buffer; body: Buffer; tag: Buffer } {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", AES_KEY, iv, { authTagLength: 16 });
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, body, tag: cipher.getAuthTag() };
}
function rawOpen(sealed: { iv: Buffer; body: Buffer; tag: Buffer }): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", AES_KEY, sealed.iv, { authTagLength: 16 });
  decipher.setAuthTag(sealed.tag);
  return Buffer.concat([decipher.update(sealed.body), decipher.final()]);
}

export default async function cryptoBench(ctx: BenchContext): Promise<void> {
  const cipher = new TenantCipher({ rootKeys: `bench:${randomBytes(32).toString("base64")}` });
  const workspaceId = randomUUID();
  const purpose = "secret:sendgrid";

  const oursRoundTrip = (plaintext: Uint8Array, iterations: number) => async (): Promise<number> => {
    let sink = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      const sealed = await cipher.encrypt({ workspaceId, purpose, plaintext });
      if (sealed.isErr()) throw new Error(sealed.error.message);
      const opened = await cipher.decrypt({ workspaceId, purpose, ciphertext: sealed.value });
      if (opened.isErr()) throw new Error(opened.error.message);
      sink += opened.value.length;
    }
    blackhole(sink);
    return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  const rawRoundTrip = (plaintext: Uint8Array, iterations: number) => (): number => {
    let sink = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += rawOpen(rawSeal(plaintext)).length;
    blackhole(sink);
    return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  const nobleRoundTrip = (plaintext: Uint8Array, iterations: number) => (): number => {
    const key = randomBytes(32);
    let sink = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      const nonce = randomBytes(24);
      const sealed = xchacha20poly1305(key, nonce).encrypt(plaintext);
      sink += xchacha20poly1305(key, nonce).decrypt(sealed).length;
    }
    blackhole(sink);
    return iterations / (Number(process.hrtime.bigint() - start) / 1e9);
  };

  const small = randomBytes(100);
  await ctx.compare({
    id: "crypto.small",
    note: "100-byte field, encrypt+decrypt, default suite, warm key cache, public async API",
    unit: "ops/s",
    higherIsBetter: true,
    goal: 0.8,
    ours: oursRoundTrip(small, ctx.size(60_000, 15_000)),
    peer: { name: "node:crypto aes-256-gcm (raw)", measure: rawRoundTrip(small, ctx.size(60_000, 15_000)) },
  });

  const large = randomBytes(1024 * 1024);
  await ctx.compare({
    id: "crypto.large",
    note: "1 MiB, encrypt+decrypt, default suite",
    unit: "ops/s",
    higherIsBetter: true,
    goal: 0.6,
    ours: oursRoundTrip(large, ctx.size(150, 40)),
    peer: { name: "node:crypto aes-256-gcm (raw)", measure: rawRoundTrip(large, ctx.size(150, 40)) },
  });

  const medium = randomBytes(64 * 1024);
  await ctx.compare({
    id: "crypto.vsNoble",
    note: "64 KiB, encrypt+decrypt, default suite vs pure-JS noble xchacha20poly1305",
    unit: "ops/s",
    higherIsBetter: true,
    goal: 5,
    ours: oursRoundTrip(medium, ctx.size(2_000, 500)),
    peer: { name: "@noble/ciphers xchacha20poly1305", measure: nobleRoundTrip(medium, ctx.size(300, 80)) },
  });

  // Re-encryption: rows under key version 1, rotated to version 2. Ours runs the
  // streaming reencrypt helper (parse, decrypt v1, encrypt v2, batch write);
  // the peer decrypts and re-encrypts the same number of 100-byte rows raw.
  const rowCount = ctx.size(100_000, 20_000);
  const rows: { workspaceId: string; purpose: string; value: Uint8Array }[] = [];
  for (let i = 0; i < rowCount; i++) {
    const sealed = await cipher.encrypt({ workspaceId, purpose, plaintext: small });
    if (sealed.isErr()) throw new Error(sealed.error.message);
    rows.push({ workspaceId, purpose, value: sealed.value });
  }
  const rotated = await cipher.rotate({ workspaceId });
  if (rotated.isErr()) throw new Error(rotated.error.message);
  const rawRows = Array.from({ length: rowCount }, () => rawSeal(small));
  const oursReencrypt = async (): Promise<number> => {
    let written = 0;
    const start = process.hrtime.bigint();
    const stats = await cipher.reencrypt({ rows, batchSize: 1_000, write: (updates) => void (written += updates.length) });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (stats.isErr() || written !== rowCount) throw new Error("reencrypt did not rewrite every row");
    return rowCount / seconds;
  };
  const rawReencrypt = (): number => {
    let sink = 0;
    const start = process.hrtime.bigint();
    for (let i = 0; i < rowCount; i++) {
      const row = rawRows[i];
      if (row === undefined) continue;
      sink += rawSeal(rawOpen(row)).body.length;
    }
    blackhole(sink);
    return rowCount / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  await ctx.compare({
    id: "crypto.reencrypt",
    note: `${rowCount} rows of 100 B, decrypt v1 + encrypt v2 through cipher.reencrypt (batches of 1,000)`,
    unit: "rows/s",
    higherIsBetter: true,
    goal: 0.7,
    rounds: ctx.quick ? 3 : 5,
    ours: oursReencrypt,
    peer: { name: "node:crypto aes-256-gcm decrypt+encrypt loop", measure: rawReencrypt },
  });
}
