/** A mistake in how the command was called: printed as one line with the usage hint, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Runs a parser of command-line values (durations, server options); the RangeError it throws for a bad value,
 * which names the flag, becomes a UsageError (exit 2) instead of a failed call.
 */
export function parseFlags<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
}
