/** An error in what segd was asked to do (bad options, a missing directory): one clear line, no stack. */
export class SegdError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'SegdError';
  }
}
