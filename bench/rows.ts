/** The shape of a benchmark figure, shared by every bench/*.bench.ts and printed by bench/main.ts. */

/** A bound a figure must meet: `of` the row's value or its ratio to the baseline. */
export interface BenchTarget {
  of: "value" | "ratio";
  op: ">=" | "<=" | "<";
  limit: number;
}

/** One printed figure. `ratio` = value / baseline, both measured in the same run. */
export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  /** What the baseline is, when the name does not say. */
  baselineName?: string;
  /** Targets from the issue; bench/main.ts prints PASS/MISS for each row that has some. */
  targets?: BenchTarget[];
  /** Extra detail printed under the line (spread, sample count, …). */
  note?: string;
}
