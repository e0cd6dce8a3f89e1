/**
 * The routes instances use to copy audio streams between them, every one behind the cluster
 * secret (`Authorization: Bearer <--cluster-secret>`, compared in constant time; `401
 * CLUSTER_SECRET` otherwise):
 *
 * - `GET /internal/streams/{id}`: the bytes of a complete stream or of an upload in progress here
 *   (Range requests, 206), served like a public audio read;
 * - `POST /internal/streams/{id}/hold`: "hold a copy of this stream", a {@link HoldRequest};
 *   answered `held` (200), `fetching`/`current` (202), `deleted` (410) or a conflict (409);
 * - `DELETE /internal/streams/{id}?deletedAt={ms}`: the stream was deleted at that time; a copy
 *   here not newer than that goes.
 */
import { timingSafeEqual } from 'node:crypto';
import type { HttpRequest } from '../protocols/http/http-request.js';
import type { HttpResponse } from '../protocols/http/http-response.js';
import type { Router } from '../protocols/http/router.js';
import type { AudioHttp } from '../services/audio-cache/audio-http.js';
import { isValidStreamId } from '../services/audio-cache/stream-id.js';
import { SHA256_HEX } from '../storage/file-digest.js';

/** Where an instance's internal stream routes live. */
export const INTERNAL_STREAMS_PATH = '/internal/streams';

/** What a hold request carries: where the original is and what it is. */
export interface HoldRequest {
  /** http:// base of the asking instance. */
  from: string;
  /** The original is complete (then `sha256` is its digest), or being uploaded at the asker (`sha256` is ''). */
  complete: boolean;
  size: number;
  sha256: string;
  createdAt: number;
  updatedAt: number;
}

/** An answer to a hold request. */
export interface HoldAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** What the routes ask of the instance. */
export interface InternalStreamHandlers {
  /** Whether `id` may be served as a copy's source (a complete stream, or an upload by a client here). */
  isSource(id: string): boolean;
  hold(id: string, hold: HoldRequest): Promise<HoldAnswer>;
  /** `id` was deleted at `deletedAt` elsewhere. */
  forget(id: string, deletedAt: number): void;
}

/** Mounts the internal routes on `router`; reads are served by `http` like public ones. */
export function mountInternalStreamRoutes(router: Router, http: AudioHttp, secret: string, handlers: InternalStreamHandlers): void {
  const expected = Buffer.from(`Bearer ${secret}`);
  const authorized = (req: HttpRequest, res: HttpResponse): boolean => {
    const got = Buffer.from(req.header('authorization') ?? '');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return true;
    res.json({ error: 'CLUSTER_SECRET', message: 'internal stream routes need the cluster secret (Authorization: Bearer)' }, 401);
    return false;
  };
  router.add('GET', `${INTERNAL_STREAMS_PATH}/:id`, (req, res) => {
    if (!authorized(req, res)) return;
    const id = req.params.id ?? '';
    // Sources: complete copies, and uploads by clients here (their bytes so far); never a copy still being fetched.
    if (!handlers.isSource(id)) return res.json({ error: 'NOT_FOUND', message: `no complete copy or upload of stream ${id} here` }, 404);
    http.serve(req, res, id, 'copy');
  });
  router.add('POST', `${INTERNAL_STREAMS_PATH}/:id/hold`, async (req, res) => {
    if (!authorized(req, res)) return;
    const id = req.params.id ?? '';
    const hold = holdRequest(req);
    if (!isValidStreamId(id) || hold === null) return res.json({ error: 'BAD_REQUEST', message: 'a hold request is {from, complete, size, sha256, createdAt, updatedAt}' }, 400);
    const answer = await handlers.hold(id, hold);
    res.json(answer.body, answer.status);
  });
  router.add('DELETE', `${INTERNAL_STREAMS_PATH}/:id`, (req, res) => {
    if (!authorized(req, res)) return;
    const id = req.params.id ?? '';
    const deletedAt = Number(new URLSearchParams(req.query).get('deletedAt'));
    if (!isValidStreamId(id) || !Number.isSafeInteger(deletedAt)) return res.json({ error: 'BAD_REQUEST', message: 'DELETE /internal/streams/{id}?deletedAt={ms}' }, 400);
    handlers.forget(id, deletedAt);
    res.json({ state: 'deleted' });
  });
}

/** The hold request in `req`'s body, or null when it is not one. */
function holdRequest(req: HttpRequest): HoldRequest | null {
  let value: Partial<HoldRequest>;
  try {
    value = req.json() as Partial<HoldRequest>;
  } catch {
    return null; // answered 400 by the caller
  }
  if (value === null || typeof value !== 'object') return null;
  const { from, complete, size, sha256, createdAt, updatedAt } = value;
  if (typeof from !== 'string' || !/^https?:\/\/\S+$/.test(from) || typeof complete !== 'boolean') return null;
  if (!Number.isSafeInteger(size) || (size as number) < 0 || typeof sha256 !== 'string' || (complete ? !SHA256_HEX.test(sha256) : sha256 !== '')) return null;
  if (!Number.isSafeInteger(createdAt) || !Number.isSafeInteger(updatedAt)) return null;
  return { from, complete, size: size as number, sha256, createdAt: createdAt as number, updatedAt: updatedAt as number };
}
