/**
 * Called when a connection hits a limit or breaks a protocol rule (one call per event, never per
 * message): `code` is the registry code (e.g. `ERR_HTTP_HEADERS_TOO_LARGE`, `ERR_WS_MESSAGE_TOO_BIG`),
 * `detail` what an operator needs (connection id, status or close code). Used for logging; counters
 * are kept separately in each component's stats.
 */
export type LimitHook = (code: string, detail: Readonly<Record<string, string | number>>) => void;
