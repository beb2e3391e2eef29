/** PLACEHOLDER until the evict branch lands: the interface and a plain LRU. */
export interface EvictionPolicy<K> {
  insert(key: K, size: number): void;
  touch(key: K): void;
  remove(key: K): void;
  evict(incoming: number): K[];
  has(key: K): boolean;
  readonly used: number;
  readonly count: number;
  readonly capacity: number;
}

export class Lru<K> implements EvictionPolicy<K> {
  private readonly m = new Map<K, number>();
  used = 0;
  constructor(readonly capacity: number) {}
  get count(): number {
    return this.m.size;
  }
  insert(key: K, size: number): void {
    this.remove(key);
    this.m.set(key, size);
    this.used += size;
  }
  touch(key: K): void {
    const s = this.m.get(key);
    if (s === undefined) return;
    this.m.delete(key);
    this.m.set(key, s);
  }
  remove(key: K): void {
    const s = this.m.get(key);
    if (s === undefined) return;
    this.m.delete(key);
    this.used -= s;
  }
  evict(incoming: number): K[] {
    const out: K[] = [];
    for (const [k] of this.m) {
      if (this.used + incoming <= this.capacity) break;
      out.push(k);
      this.remove(k);
    }
    return out;
  }
  has(key: K): boolean {
    return this.m.has(key);
  }
}
export { Lru as S3Fifo };
