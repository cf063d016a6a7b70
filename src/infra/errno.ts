/** Whether `error` is a Node system error with one of `codes` (`ENOENT`, `EEXIST`…). */
export function isErrno(error: unknown, ...codes: readonly string[]): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code !== undefined && codes.includes(code);
}
