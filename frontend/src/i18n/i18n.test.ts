import { describe, expect, it } from 'vitest';
import { format, messages, translate } from './index';

describe('messages', () => {
  it('every key exists in Korean and English, and neither is empty where the other is not', () => {
    const ko = Object.keys(messages.ko).sort();
    expect(Object.keys(messages.en).sort()).toEqual(ko);
    for (const key of ko as (keyof typeof messages.ko)[]) {
      expect(messages.en[key] === '', key).toBe(messages.ko[key] === '');
      const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(names(messages.en[key]), key).toEqual(names(messages.ko[key]));
    }
  });

  it('fills variables and leaves unknown ones visible', () => {
    expect(format('{a} and {b}', { a: 1 })).toBe('1 and {b}');
    expect(translate('en', 'queue.ahead', { ahead: 3, size: 10 })).toBe('3 ahead of you · 10 waiting');
    expect(translate('ko', 'seats.capReached', { cap: 4 })).toContain('4석');
  });
});
