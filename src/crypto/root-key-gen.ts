import { randomBytes } from "node:crypto";

/**
 * A fresh TENANCY_ROOT_KEYS entry (`id:base64` of 32 random bytes), for the
 * `tenancykit root-key` command. Put it first in the variable to make it the
 * primary, then run `rewrapAll`.
 */
export function generateRootKeyEntry(id = `k${new Date().toISOString().slice(0, 10).replaceAll("-", "")}`): string {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw new TypeError("root key id: 1-64 of A-Z a-z 0-9 . _ -");
  return `${id}:${randomBytes(32).toString("base64")}`;
}
