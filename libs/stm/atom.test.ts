import { describe, expect, it } from 'vitest';
import { atom } from './atom.js';

describe('atom', () => {
  it('swap, reset and compareAndSet change the value; watches see each change', () => {
    const a = atom(1);
    const seen: [unknown, number, number][] = [];
    a.addWatch('w', (key, ref, oldV, newV) => {
      expect(ref).toBe(a);
      seen.push([key, oldV, newV]);
    });
    expect(a.swap((x) => x + 1)).toBe(2);
    expect(a.reset(10)).toBe(10);
    expect(a.compareAndSet(3, 4)).toBe(false);
    expect(a.compareAndSet(10, 11)).toBe(true);
    expect(a.deref()).toBe(11);
    expect(seen).toEqual([
      ['w', 1, 2],
      ['w', 2, 10],
      ['w', 10, 11],
    ]);
  });

  it('a rejecting validator leaves the value and calls no watch', () => {
    const a = atom(5, { validator: (x) => x >= 0 });
    let calls = 0;
    a.addWatch('w', () => calls++);
    expect(() => a.swap((x) => x - 10)).toThrow(expect.objectContaining({ code: 'stm/validator' }));
    expect(() => a.setValidator((x) => x > 100)).toThrow(
      expect.objectContaining({ code: 'stm/validator' }),
    );
    expect(a.deref()).toBe(5);
    expect(calls).toBe(0);
  });

  it('a throwing watch reports stm/watch-failed after the change is made', () => {
    const a = atom('a');
    a.addWatch('bad', () => {
      throw new Error('nope');
    });
    expect(() => a.reset('b')).toThrow(expect.objectContaining({ code: 'stm/watch-failed' }));
    expect(a.deref()).toBe('b');
  });
});
