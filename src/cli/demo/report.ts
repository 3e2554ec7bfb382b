/**
 * The demo's printer: sections with a title, readable lines and small tables.
 * Writes to any stream so tests can capture the report.
 */
export class DemoReport {
  readonly #write: (text: string) => void;

  constructor(write: (text: string) => void) {
    this.#write = write;
  }

  section(title: string): void {
    this.#write(`\n== ${title} ${"=".repeat(Math.max(0, 70 - title.length))}\n`);
  }

  line(text: string): void {
    this.#write(`  ${text}\n`);
  }

  table(rows: readonly (readonly (string | number)[])[]): void {
    const widths: number[] = [];
    for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, String(cell).length)));
    for (const row of rows) {
      this.#write(`  ${row.map((cell, i) => String(cell).padEnd(widths[i] ?? 0)).join("  ").trimEnd()}\n`);
    }
  }
}
