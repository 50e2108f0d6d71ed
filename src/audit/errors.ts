/** Unusable audit input: the message names the line or the byte offset (the CLI exits 2 on it). */
import { InputError } from '../parse.js';

export class AuditInputError extends InputError {
  constructor(where: string, message: string) {
    super(where, message);
    this.name = 'AuditInputError';
  }
}
