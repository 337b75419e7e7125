/** Bad input from an operator or a config file: reported as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Bad configuration: names the file and key so the operator can fix it in one go. */
export class ConfigError extends UsageError {
  override name = "ConfigError";
  constructor(
    readonly file: string,
    readonly key: string,
    reason: string,
  ) {
    super(`${file}: ${key}: ${reason}`);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
