/**
 * A response's HEADERS for node:http2, made from node:http's flat header list.
 *
 * A small answer's headers cost node:http2 about as much as everything else segd does for it:
 * node copies a header object into a dictionary and walks it again to build the string its C++
 * side reads.
 * So the form made of a frozen list (a representation's, shared by all its requests) is kept and
 * handed out again, and where node's respond() takes a flat list itself (Node 24; raw headers,
 * nodejs/node#59455) it gets one, which skips the object altogether.
 */
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';

/** Fields HTTP/2 forbids (RFC 9113, 8.2.2): a response carrying one would be refused by the client. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** Header names in lower case, as HTTP/2 sends them; remembered, since segd sends the same few all day. */
const lowered = new Map<string, string>();
export function h2Name(name: string): string {
  let l = lowered.get(name);
  if (l === undefined) {
    l = name.toLowerCase();
    if (lowered.size < 256) lowered.set(name, l);
  }
  return l;
}

/**
 * The raw header list node:http2 takes: `:status` first, names in lower case, connection-specific
 * fields left out, repeated names kept in order. `extra` replaces any field of the same name.
 */
export function headerList(status: number, head: readonly string[], extra?: ReadonlyMap<string, string>): string[] {
  const list = [':status', String(status)];
  for (let i = 0; i + 1 < head.length; i += 2) {
    const name = h2Name(head[i]!);
    if (!CONNECTION_SPECIFIC.has(name) && extra?.has(name) !== true) list.push(name, head[i + 1]!);
  }
  if (extra !== undefined) for (const [name, value] of extra) list.push(name, value);
  return list;
}

/** The same fields as a header object (of headerList's list: name and value pairs after `:status`); a repeated name's values become one array. */
export function headerObject(list: readonly string[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':status': Number(list[1]) };
  for (let i = 2; i < list.length; i += 2) {
    const name = list[i]!;
    const value = list[i + 1]!;
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
  }
  return out;
}

interface Made {
  readonly status: number;
  readonly list: string[];
  object: OutgoingHttpHeaders | undefined;
  /** Kept for the head's later answers. */
  readonly kept: boolean;
}

/** Sends HEADERS on the streams of one server, in the form its Node takes (found at the first answer). */
export class HeadSender {
  /** undefined until the first answer tells. */
  private lists: boolean | undefined;
  private readonly made = new WeakMap<readonly string[], Made>();

  /** Throws, with nothing sent, for a header node:http2 refuses. */
  respond(stream: ServerHttp2Stream, status: number, head: readonly string[], extra: ReadonlyMap<string, string> | undefined, endStream: boolean): void {
    const m = extra === undefined ? this.formsOf(status, head) : { status, list: headerList(status, head, extra), object: undefined, kept: false };
    const options = { endStream };
    if (this.lists !== false) {
      try {
        // node adds its date field to the list it is given: a kept list goes as a copy, or every
        // later answer would carry the first one's date.
        stream.respond((m.kept ? [...m.list] : m.list) as unknown as OutgoingHttpHeaders, options);
        this.lists = true;
        return;
      } catch (err) {
        // A Node whose respond() takes only objects refuses a list before it changes the stream.
        if (this.lists === true || (err as NodeJS.ErrnoException).code !== 'ERR_INVALID_ARG_TYPE') throw err;
        this.lists = false;
      }
    }
    stream.respond((m.object ??= headerObject(m.list)), options);
  }

  /** Whether this server's Node takes header lists; undefined before its first answer. */
  get takesLists(): boolean | undefined {
    return this.lists;
  }

  private formsOf(status: number, head: readonly string[]): Made {
    const kept = this.made.get(head);
    if (kept !== undefined && kept.status === status) return kept;
    const keep = kept === undefined && Object.isFrozen(head);
    const m: Made = { status, list: headerList(status, head), object: undefined, kept: keep };
    if (keep) this.made.set(head, m);
    return m;
  }
}
