// A small LRU of recent decisions with a short TTL. Each entry also expires
// at the identity's own expiry (certificate notAfter, JWT exp). Cleared on any
// revocation or trust change, so the cache never outlives a revocation.
export class DecisionCache<V> {
  private readonly map = new Map<string, { value: V; expiresAt: number }>();
  hits = 0;
  misses = 0;

  constructor(private readonly maxEntries: number, private readonly ttlMs: number) {}

  get(key: string, now: number): V | undefined {
    const e = this.map.get(key);
    if (!e || e.expiresAt <= now) {
      if (e) this.map.delete(key);
      this.misses++;
      return undefined;
    }
    // refresh LRU position
    this.map.delete(key);
    this.map.set(key, e);
    this.hits++;
    return e.value;
  }

  set(key: string, value: V, now: number, notAfter?: number): void {
    if (this.maxEntries === 0 || this.ttlMs === 0) return;
    const expiresAt = Math.min(now + this.ttlMs, notAfter ?? Number.POSITIVE_INFINITY);
    if (expiresAt <= now) return;
    this.map.delete(key);
    while (this.map.size >= this.maxEntries) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, { value, expiresAt });
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}
