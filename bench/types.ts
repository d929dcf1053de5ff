/** What every benchmark returns: printable lines and the raw figures. */
export interface BenchResult {
  name: string;
  lines: string[];
  figures: Record<string, number>;
}
