/**
 * Error types shared by every engine.
 *
 * Two families: `UsageError` (and its subclasses) means the invocation or its input is wrong and nothing
 * was written (exit 2); an `EntryFailure` is data, not an exception: one entry could not be handled and
 * the run goes on (exit 1 at the end).
 */

/** Invalid invocation or input, detected before anything is written. Exit status 2. */
export class UsageError extends Error {
  readonly code: string;
  constructor(message: string, code = 'EUSAGE') {
    super(message);
    this.name = 'UsageError';
    this.code = code;
  }
}

/** Nothing to do: no source and no configured jobs. The usage text follows the message. */
export class NothingToDoError extends UsageError {
  constructor(message: string) {
    super(message, 'ENOSOURCE');
    this.name = 'NothingToDoError';
  }
}

/** A config file that cannot be read or does not validate; the message names the field. */
export class ConfigError extends UsageError {
  constructor(message: string) {
    super(message, 'ECONFIG');
    this.name = 'ConfigError';
  }
}

/** One entry that could not be handled. Plain data so that it crosses thread boundaries intact. */
export interface EntryFailure {
  readonly path: string;
  readonly code: string;
  readonly message: string;
}

/** A problem worth telling the user that does not make the run fail (a FIFO skipped, a file vanished). */
export interface EntryWarning {
  readonly path: string;
  readonly code: string;
  readonly message: string;
}

/** An error as plain `{code, message}`: class and `code` do not survive structured clone. */
export interface ErrorData {
  readonly code: string;
  readonly message: string;
}

export function errorData(err: unknown): ErrorData {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { code: typeof code === 'string' ? code : 'EUNKNOWN', message: stripSyscallDecoration(err.message) };
  }
  return { code: 'EUNKNOWN', message: String(err) };
}

export function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Node's messages repeat the code and the (possibly garbled, byte-string) path:
 * "EACCES: permission denied, open '/x'", or without a path "ENOSPC: no space left on device, write".
 * Keep the human part; callers name the path themselves.
 */
function stripSyscallDecoration(message: string): string {
  const match = /^[A-Z0-9_]+: (.*?), \w+(?: '.*')?$/s.exec(message);
  return match?.[1] ?? message;
}
