import { describe, expect, it } from 'vitest';
import { ApiError, retryAfterOf, toProblem } from './problem';
import { unwrap } from './client';

describe('problems', () => {
  it('keeps the server problem and its field errors', () => {
    const body = { type: 't', title: 'x', status: 422, code: 'VALIDATION_FAILED', errors: [{ field: 'email', message: 'must be an email address' }] };
    const error = new ApiError(toProblem(422, body));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.field('email')).toBe('must be an email address');
    expect(error.field('name')).toBeUndefined();
  });

  it('describes answers that are not problems', () => {
    expect(toProblem(502, '<html>bad gateway</html>').code).toBe('SERVER_ERROR');
    expect(toProblem(404, null).code).toBe('UNEXPECTED_RESPONSE');
    expect(toProblem(0, null).code).toBe('NETWORK');
  });

  it('reads Retry-After seconds', () => {
    expect(retryAfterOf(new Response(null, { headers: { 'retry-after': '7' } }))).toBe(7);
    expect(retryAfterOf(new Response(null))).toBeNull();
  });
});

describe('unwrap', () => {
  it('answers the data of a success', async () => {
    const data = await unwrap(Promise.resolve({ data: { ok: 1 }, response: new Response(null, { status: 200 }) }));
    expect(data).toEqual({ ok: 1 });
  });

  it('throws the problem of a failure, with Retry-After', async () => {
    const response = new Response(null, { status: 409, headers: { 'retry-after': '3' } });
    const failed = unwrap(Promise.resolve({ error: { code: 'SEAT_UNAVAILABLE', status: 409, seat_ids: ['s1'] }, response }));
    await expect(failed).rejects.toMatchObject({ code: 'SEAT_UNAVAILABLE', status: 409, retryAfter: 3, problem: { seat_ids: ['s1'] } });
  });

  it('turns a network failure into a NETWORK problem', async () => {
    await expect(unwrap(Promise.reject(new TypeError('fetch failed')))).rejects.toMatchObject({ code: 'NETWORK', status: 0 });
  });
});
