import { getSystemErrorName } from 'node:util';

/** A Node-style system error ({ code: 'ECONNRESET', errno, syscall }) like the ones net.Socket emits. */
export function systemError(errno: number, syscall: string): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(errno);
  } catch {
    // getSystemErrorName throws for an errno libuv does not name: keep the number in the code.
    code = `E${-errno}`;
  }
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}`);
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  return err;
}
