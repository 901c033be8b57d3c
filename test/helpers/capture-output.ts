// Runs a CLI entry point in-process with stdout and stderr captured, restoring
// both before returning (tap writes its own output to stdout, so assert after).
export interface Captured<T> {
  value: T;
  out: string;
  err: string;
}

export async function captureOutput<T>(fn: () => T | Promise<T>): Promise<Captured<T>> {
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  let out = '';
  let err = '';
  const text = (c: string | Uint8Array) => (typeof c === 'string' ? c : Buffer.from(c).toString());
  process.stdout.write = ((c: string | Uint8Array) => ((out += text(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((err += text(c)), true)) as typeof process.stderr.write;
  try {
    const value = await fn();
    return { value, out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}
