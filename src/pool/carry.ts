/**
 * Errors across the pool boundary. Piscina hands a task's exception back through structured
 * clone, which keeps an Error's message but drops its own properties: the errno `code` that
 * decides 403 against 404 against 500 never arrives. So workers never throw across: `carry`
 * turns an exception into a plain value with its code, and `unwrap` on the main thread throws
 * an equivalent Error again.
 */

export interface CarriedError {
  readonly message: string;
  readonly code?: string | undefined;
  readonly syscall?: string | undefined;
  readonly path?: string | undefined;
}

export type Carried<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: CarriedError };

/** Worker side: run `fn`, returning its value or its exception as plain data. */
export function carry<A, R>(fn: (arg: A) => R): (arg: A) => Carried<R> {
  return (arg) => {
    try {
      return { ok: true, value: fn(arg) };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { ok: false, error: { message: String(e?.message ?? e), code: e?.code, syscall: e?.syscall, path: e?.path } };
    }
  };
}

/** Main side: the value, or the worker's exception rebuilt with its code. */
export function unwrap<T>(c: Carried<T>): T {
  if (c.ok) return c.value;
  const { message, ...props } = c.error;
  throw Object.assign(new Error(message), props);
}
