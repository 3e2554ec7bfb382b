// Keeps package.json "typesVersions" in step with "exports". TypeScript's
// node10 resolution (what a CommonJS project without a `module` setting gets,
// Dittofeed included) ignores "exports", so each subpath also needs a
// typesVersions entry pointing at its .d.cts. Run by `npm run build`.
import { readFileSync, writeFileSync } from "node:fs";

const text = readFileSync("package.json", "utf8");
const pkg = JSON.parse(text);
const mapping = {};
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (subpath === "." || typeof target !== "object") continue;
  mapping[subpath.slice(2)] = [target.require.types];
}
const next = {};
for (const [key, value] of Object.entries(pkg)) {
  if (key === "typesVersions") continue;
  next[key] = value;
  if (key === "exports") next.typesVersions = { "*": mapping };
}
const output = `${JSON.stringify(next, null, 2)}\n`;
if (output !== text) {
  writeFileSync("package.json", output);
  console.log("package.json: typesVersions updated from exports");
}
