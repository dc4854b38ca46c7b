import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { clock, secondsLeft } from './countdown';
import { oauthReturn, safeNext } from './nav';
import { leadingZeroBits, solve } from './proof';
import { backoff, channelOf } from './realtime';

describe('countdown', () => {
  it('counts whole seconds down to zero, never below', () => {
    const now = Date.parse('2026-12-04T10:00:00Z');
    expect(secondsLeft('2026-12-04T10:20:00Z', now)).toBe(1200);
    expect(secondsLeft('2026-12-04T10:00:00.001Z', now)).toBe(1);
    expect(secondsLeft('2026-12-04T09:59:00Z', now)).toBe(0);
    expect(secondsLeft('not a time', now)).toBe(0);
  });

  it('shows m:ss, and h:mm:ss from an hour', () => {
    expect(clock(0)).toBe('0:00');
    expect(clock(65)).toBe('1:05');
    expect(clock(1200)).toBe('20:00');
    expect(clock(3725)).toBe('1:02:05');
  });
});

describe('navigation', () => {
  it('returns only to pages of this site', () => {
    expect(safeNext('/events/1/queue')).toBe('/events/1/queue');
    for (const bad of [null, '', 'https://evil.example', '//evil.example', '/\\evil.example', 'events']) {
      expect(safeNext(bad)).toBe('/');
    }
    expect(oauthReturn('/events/1')).toBe('/events/1?signed_in=1');
    expect(oauthReturn('/?q=a')).toBe('/?q=a&signed_in=1');
  });
});

describe('realtime', () => {
  it('routes server messages to their channels', () => {
    expect(channelOf({ type: 'queue.position', event_id: 'e' })).toBe('queue:e');
    expect(channelOf({ type: 'queue.admitted', event_id: 'e' })).toBe('queue:e');
    expect(channelOf({ type: 'seats.changed', event_id: 'e' })).toBe('seats:e');
    expect(channelOf({ type: 'subscribed', channel: 'seats:e' })).toBe('seats:e');
    expect(channelOf({ type: 'pong' })).toBeNull();
  });

  it('backs off from half a second to fifteen, with jitter', () => {
    expect(backoff(0, () => 0)).toBe(250);
    expect(backoff(0, () => 1)).toBe(500);
    expect(backoff(3, () => 1)).toBe(4000);
    expect(backoff(10, () => 1)).toBe(15_000);
    expect(backoff(10, () => 0)).toBe(7500);
  });
});

describe('proof of work', () => {
  it('counts zero bits from the first byte', () => {
    expect(leadingZeroBits(new Uint8Array([0, 0, 0x80]))).toBe(16);
    expect(leadingZeroBits(new Uint8Array([0, 0x0f]))).toBe(12);
    expect(leadingZeroBits(new Uint8Array([0xff]))).toBe(0);
  });

  it('finds a solution the server would accept (checked with another SHA-256)', () => {
    const challenge = 'c1.0190-event.0190-user.12.1764000000000.abc.tag';
    const proof = solve(challenge, 12);
    expect(proof.startsWith(`${challenge}:`)).toBe(true);
    const digest = createHash('sha256').update(proof).digest();
    expect(leadingZeroBits(new Uint8Array(digest))).toBeGreaterThanOrEqual(12);
    // The first such n: every smaller one fails.
    const n = Number(proof.slice(challenge.length + 1));
    expect(n).toBe(701); // as the server's own solver finds it (a vector pinned in proof.rs)
    for (let i = 0; i < n; i++) {
      const other = createHash('sha256').update(`${challenge}:${i}`).digest();
      expect(leadingZeroBits(new Uint8Array(other))).toBeLessThan(12);
    }
  });
});
