// The computation of carol's app: private set intersection of the first
// column ("id") of two CSV files, done on plaintext inside the TEE. Pure.

/** The ids in the first column of a CSV with a header row. */
export function idsOf(csv: string): Set<string> {
  const lines = csv.split(/\r?\n/).filter((l) => l.trim().length > 0);
  return new Set(lines.slice(1).map((l) => l.split(',')[0]!.trim()));
}

/** CSV text with header "id" and the sorted intersection of both inputs' ids. */
export function intersectCsv(a: string, b: string): string {
  const bs = idsOf(b);
  const common = [...idsOf(a)].filter((id) => bs.has(id)).sort();
  return `id\n${common.map((id) => `${id}\n`).join('')}`;
}
