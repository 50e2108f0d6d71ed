/** The CLI's usage error: a bad flag value or an unusable input or output; exit 2 with one line on stderr. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
