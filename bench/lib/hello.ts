/**
 * The hello-world page slabcast serves on `GET /`. Both the server under test and the
 * node:http peer must put exactly these bytes on the wire; the harness probes each
 * target before measuring and records a note when they differ.
 */
export const HELLO_BODY =
  '<!doctype html><html><head><title>slabcast</title></head><body><h1>Hello from slabcast</h1></body></html>';

/** The `Content-Type` both targets send with {@link HELLO_BODY}. */
export const HELLO_CONTENT_TYPE = 'text/html; charset=utf-8';
