// Cost of signing one S3 request (S3Origin.sign), to know whether SigV4 bounds origin fetches.
// Run: npx tsx bench/s3-sign.ts   (~3 s)
import { parseS3Url, S3Origin } from '../src/store/origin/s3.js';

const origin = new S3Origin(
  parseS3Url('s3://media/live', { region: 'eu-west-1' }),
  async () => ({ accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret', sessionToken: 'bench-token' }),
);

/** Mean µs per call over at least `minMs`, `batch` calls in flight at once. */
async function usPer(batch: number, minMs = 1000): Promise<number> {
  const once = (i: number) => origin.sign(`vidéo/seg ${i}.ts`, { range: 'bytes=0-1048575', 'if-none-match': '"abc"' });
  for (let i = 0; i < 2000; i++) await once(i); // warm-up
  let calls = 0;
  const t0 = process.hrtime.bigint();
  let el = 0;
  do {
    await Promise.all(Array.from({ length: batch }, () => once(calls++)));
    el = Number(process.hrtime.bigint() - t0) / 1e6;
  } while (el < minMs);
  return (el * 1000) / calls;
}

for (const batch of [1, 100]) {
  const us = await usPer(batch);
  console.log(`sign(), ${String(batch).padStart(3)} in flight: ${us.toFixed(1)} µs per call, ${Math.round(1e6 / us).toLocaleString('en')} per second on one core`);
}
