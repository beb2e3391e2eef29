/**
 * The unit of fairness for connection limits: one IPv4 address, or one IPv6 /64 (a single host
 * usually owns a whole /64, so counting its addresses one by one would limit nothing).
 */
export function addressKey(remote: string | undefined): string {
  if (remote === undefined) return '';
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  if (v4 !== null) return v4[1]!;
  if (!remote.includes(':')) return remote;
  const bare = remote.split('%')[0]!; // drop a zone index (fe80::1%eth0)
  const [head, tail] = bare.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
