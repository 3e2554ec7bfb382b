import { KIND_CONCURRENCY, KIND_COUNT, KIND_GCRA, KIND_PERIOD, type StoreItem } from "../store.js";

/**
 * Where the Redis store keeps state. Rate, period and sliding-window state of
 * a whole workspace family lives in ONE hash, `tk:{<root>}:quota:state`, so a
 * decision over several limits of a child and its parent reads every value
 * with one HMGET and writes them with one HSET (a script's cost on Redis is
 * mostly its number of commands). Stale fields need no cleanup: a GCRA
 * arrival time in the past, a period that has ended or an old window reads
 * exactly as an absent field. The hash's own expiry covers its longest-lived
 * field; field `x` records that expiry so it is only extended when needed.
 * Count and concurrency state (usage plus a sorted set of holds) keep their
 * own keys, `tk:{<root>}:quota:<ws>:<limit>` and `…:holds`.
 *
 * Field names carry the kind (`#g`, `#e`/`#u`, `#w`/`#c`/`#p`), so a limit
 * whose kind changes in a policy never reads another kind's numbers.
 */
export const STATE_SUFFIX = "state";
/** The hash field holding the hash's expiry instant (epoch ms). */
export const EXPIRY_FIELD = "x";
/** How far past the longest-lived field the hash expiry is set, so it is extended rarely. */
export const EXPIRY_SLACK_MS = 3_600_000;

/** True for the kinds whose state lives in the family hash. */
export function inFamilyHash(kind: number): boolean {
  return kind !== KIND_COUNT && kind !== KIND_CONCURRENCY;
}

/** `tk:{root}:quota:` of an item key `tk:{root}:quota:<ws>:<limit>` (its first `}:quota:`). */
function prefixLength(key: string): number {
  const at = key.indexOf("}:quota:");
  return at === -1 ? 0 : at + 8;
}

/** The family hash key for an item key. */
export function familyKey(key: string): string {
  return key.slice(0, prefixLength(key)) + STATE_SUFFIX;
}

/**
 * The hash fields of one item, in the order the scripts read them: the
 * family root's own limits as `:<limit>#…`, a child's as `<child id>:<limit>#…`
 * (shorter arguments for the common root-only decision).
 */
export function fieldsOf(item: StoreItem): string[] {
  const key = item.key;
  const start = prefixLength(key);
  let base = key.slice(start);
  const open = key.indexOf("{");
  const root = open === -1 || start === 0 ? "" : key.slice(open + 1, start - 8);
  if (root !== "" && base.startsWith(`${root}:`)) base = base.slice(root.length);
  if (item.kind === KIND_GCRA) return [`${base}#g`];
  if (item.kind === KIND_PERIOD) return [`${base}#e`, `${base}#u`];
  return [`${base}#w`, `${base}#c`, `${base}#p`];
}

/** A JSON string literal for a field name (limit names and ids need no escaping, but stay safe). */
function quoted(s: string): string {
  return JSON.stringify(s);
}

/**
 * The arguments of the minimal consume/check scripts, split so that what all
 * workspaces on one plan share is one string:
 * - `shape`, a JSON array `[check, nf, suffix…, owned…, kind, limit, cost, a, b, …]`
 *   that Lua decodes in C (cjson); field i is `owner .. suffix[i]` when
 *   `owned[i]` is 1 (a child's own limits), else `suffix[i]` (the root's);
 * - `owner`, the child's id, or "" for a root workspace.
 * One batch sends each distinct shape once (redis-batch.ts), so Redis decodes
 * the numbers once per batch, not per decision, and a decision adds two short
 * arguments.
 */
export interface HotArgs {
  readonly shape: string;
  readonly owner: string;
}

export function hotArgs(items: readonly StoreItem[], check: boolean): HotArgs {
  const suffixes: string[] = [];
  const owned: number[] = [];
  let owner = "";
  let nums = "";
  for (const item of items) {
    for (const field of fieldsOf(item)) {
      const colon = field.indexOf(":");
      if (colon > 0) owner = field.slice(0, colon);
      suffixes.push(quoted(colon > 0 ? field.slice(colon) : field));
      owned.push(colon > 0 ? 1 : 0);
    }
    nums += `,${item.kind},${item.limit},${item.cost},${item.a},${item.b}`;
  }
  suffixes.push(quoted(EXPIRY_FIELD));
  owned.push(0);
  return { shape: `[${check ? 1 : 0},${suffixes.length},${suffixes.join(",")},${owned.join(",")}${nums}]`, owner };
}

/** The argument of the one-GCRA-item consume script: `[field, limit, cost, periodMs, burst]`. */
export function gcraPayload(item: StoreItem): string {
  return `[${quoted(fieldsOf(item)[0]!)},${item.limit},${item.cost},${item.a},${item.b}]`;
}

/**
 * Lua that sets local `out` to the decimal string of the (fractional) GCRA
 * arrival time `x`, with nine fraction digits. Redis formats a Lua number
 * argument with `%.17g`, which glibc does slowly for non-integers (~1-3 µs a
 * write, measured); integer formatting is cheap. Nine digits (1e-9 ms) are far
 * finer than a double's resolution at epoch milliseconds (~2.4e-4 ms), so
 * `tonumber` reads back exactly the same double.
 */
export function tatStringLua(x: string, out: string): string {
  return `local ${out}
do
  local ip = math.floor(${x})
  local fp = math.floor((${x} - ip) * 1e9 + 0.5)
  if fp >= 1e9 then ip, fp = ip + 1, 0 end
  ${out} = string.format('%d.%09d', ip, fp)
end`;
}

/**
 * Lua statements that read a sliding window's state (fields `h[fi]`, `h[fi+1]`,
 * `h[fi+2]`: window start, its count, the previous window's count) for windows
 * of length `len` at `now`, defining locals `w`, `cur` and `prev`. A stored
 * window older than the previous one reads as empty. Spliced as text (like
 * `tatStringLua`) so both scripts share it without a Lua function per run.
 */
export function slidingStateLua(len: string): string {
  return `local w = floor(now / ${len}) * ${len}
    local sw, sc = tonumber(h[fi]), tonumber(h[fi + 1]) or 0
    local cur, prev = 0, 0
    if sw == w then cur, prev = sc, tonumber(h[fi + 2]) or 0 elseif sw == w - ${len} then prev = sc end`;
}

/** The Lua expression for the units a sliding window still admits: the previous window weighted by its overlap. */
export function slidingAvailableLua(limit: string, len: string): string {
  return `floor(${limit} - (prev * (${len} - (now - w)) / ${len} + cur) + 1e-9)`;
}
