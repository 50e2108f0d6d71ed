// Exit statuses (the CLI's conventions; here, with the error type, so that main.ts can map a usage error
// without loading the input/output plumbing).
export const EXIT_OK = 0;
export const EXIT_CHECK_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 3;

/** The CLI's usage error: a bad flag value or an unusable input or output; exit 2 with one line on stderr. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
