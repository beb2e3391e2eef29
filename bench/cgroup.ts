// A memory cgroup for the disk scenario: a server's processes are moved into it for one
// measurement, so that the page cache they may use is a fraction of the library and reads really
// go to the device. Works with cgroup v1's memory controller and with cgroup v2; needs root.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

interface Layout {
  /** Where new groups are made (and where processes go back to). */
  root: string;
  limitFile: string;
  /** Highest usage since creation, if the kernel tracks it. */
  peakFile: string;
}

const V1: Layout = { root: '/sys/fs/cgroup/memory', limitFile: 'memory.limit_in_bytes', peakFile: 'memory.max_usage_in_bytes' };
const V2: Layout = { root: '/sys/fs/cgroup', limitFile: 'memory.max', peakFile: 'memory.peak' };

function layout(): Layout | null {
  if (existsSync(path.join(V1.root, V1.limitFile))) return V1;
  const controllers = path.join(V2.root, 'cgroup.subtree_control');
  if (existsSync(controllers) && readFileSync(controllers, 'utf8').split(/\s+/).includes('memory')) return V2;
  return null;
}

/** Why no memory cgroup can be made here, or null when one can. */
export function cgroupUnavailable(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root (a memory cgroup and dropping the page cache)';
  if (!layout()) return 'no cgroup memory controller (v1 at /sys/fs/cgroup/memory, or v2 with memory enabled)';
  return null;
}

/** Drops the clean page cache, so pages cached before (and charged to other groups) are read again. */
export function dropPageCache(): void {
  spawnSync('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}

export class MemoryCgroup {
  private readonly members = new Set<number>();

  private constructor(
    private readonly l: Layout,
    readonly dir: string,
    readonly limitBytes: number,
  ) {}

  /** A new group with `limitBytes` of memory (page cache included); throws where cgroupUnavailable() says why. */
  static create(name: string, limitBytes: number): MemoryCgroup {
    const why = cgroupUnavailable();
    if (why) throw new Error(why);
    const l = layout()!;
    const dir = path.join(l.root, `${name}-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, l.limitFile), String(limitBytes));
    return new MemoryCgroup(l, dir, limitBytes);
  }

  /** Moves processes in (all their threads follow); memory they already hold stays charged where it was. */
  enter(pids: number[]): void {
    for (const pid of pids) {
      writeFileSync(path.join(this.dir, 'cgroup.procs'), String(pid));
      this.members.add(pid);
    }
  }

  /** The most memory the group has held, or NaN where the kernel does not say. */
  peakBytes(): number {
    try {
      return Number(readFileSync(path.join(this.dir, this.l.peakFile), 'utf8').trim());
    } catch {
      return NaN;
    }
  }

  /** Moves every member still alive back to the root group and removes this one. */
  remove(): void {
    for (const pid of this.members) {
      try {
        writeFileSync(path.join(this.l.root, 'cgroup.procs'), String(pid));
      } catch {
        // exited meanwhile
      }
    }
    this.members.clear();
    rmdirSync(this.dir);
  }
}
