/**
 * Text checks for strings that leave the process: a lone surrogate has no
 * UTF-8 form (Node, ioredis and Postgres all write U+FFFD instead, so two
 * different strings would become one), and Postgres text and jsonb refuse U+0000.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const nativeWellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;

/** False for a string with a lone surrogate (the native check where the runtime has one: Node 20 does). */
export const isWellFormed: (text: string) => boolean =
  nativeWellFormed === undefined ? (text) => !LONE_SURROGATE.test(text) : (text) => nativeWellFormed.call(text);

/** A string Postgres stores as it is: well-formed and without U+0000. */
export function isStorableText(value: unknown): value is string {
  return typeof value === "string" && isWellFormed(value) && !value.includes("\u0000");
}
