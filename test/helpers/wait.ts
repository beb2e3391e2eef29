/** Polling instead of sleeping: wait for a condition, with a deadline that fails the test. */
export async function eventually<T>(probe: () => T | Promise<T>, opts: { timeoutMs?: number; everyMs?: number; what?: string } = {}): Promise<Exclude<T, false | 0 | '' | null | undefined>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (last) return last as Exclude<T, false | 0 | '' | null | undefined>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'a condition'} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 20));
  }
}
