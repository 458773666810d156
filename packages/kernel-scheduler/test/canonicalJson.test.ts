import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/index.js';

/** A double from its IEEE 754 bit pattern, as RFC 8785 Appendix B lists them. */
function fromHex(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe('canonicalJson: RFC 8785 published examples', () => {
  it('serializes the section 3.2.2 sample exactly', () => {
    // The input of RFC 8785 section 3.2.2, written as the JSON text the RFC shows, parsed by JSON.parse.
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
        '"literals":[null,true,false]}',
    );
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts keys by UTF-16 code units (section 3.2.3)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it.each([
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ])('formats the Appendix B number %s as %s', (hex, expected) => {
    expect(canonicalJson(fromHex(hex))).toBe(expected);
    expect(canonicalJson([fromHex(hex)])).toBe(`[${expected}]`);
  });

  it.each([
    ['7fffffffffffffff', 'NaN'],
    ['7ff0000000000000', 'Infinity'],
    ['fff0000000000000', '-Infinity'],
  ])('refuses the Appendix B number %s (%s)', (hex) => {
    expect(() => canonicalJson({ n: fromHex(hex) })).toThrow(
      expect.objectContaining({
        code: 'SCHEDULER_UNSERIALIZABLE',
        details: { path: '$.n', reason: 'non-finite-number' },
      }),
    );
  });

  it('escapes control characters, quotes and backslashes as RFC 8785 section 3.2.2.2 says', () => {
    const controls = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)).join('');
    expect(canonicalJson(controls)).toBe(
      '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f' +
        '\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"',
    );
    expect(canonicalJson('"\\/\u007f\u2028😀')).toBe('"\\"\\\\/\u007f\u2028😀"');
  });
});

describe('canonicalJson: the JSON the README describes', () => {
  it('drops function, symbol and undefined properties (canonicalize 4 kept them)', () => {
    expect(canonicalJson({ drop: () => 1, keep: 5, gone: undefined, sym: Symbol('s') })).toBe('{"keep":5}');
    expect(canonicalJson({ [Symbol('key')]: 1, a: 1 })).toBe('{"a":1}');
  });

  it('writes null for a function, undefined or symbol in an array (canonicalize 4 wrote [1,])', () => {
    expect(canonicalJson([1, () => 1])).toBe('[1,null]');
    expect(canonicalJson([undefined, Symbol('s'), 2])).toBe('[null,null,2]');
    // biome-ignore lint/suspicious/noSparseArray: a hole is what is tested
    expect(canonicalJson([1, , 3])).toBe('[1,null,3]');
  });

  it('drops a property whose toJSON returns undefined and passes toJSON its key', () => {
    expect(canonicalJson({ t: { toJSON: () => undefined }, k: 1 })).toBe('{"k":1}');
    const keys: string[] = [];
    const probe = {
      toJSON(key: string) {
        keys.push(key);
        return key;
      },
    };
    expect(canonicalJson({ a: probe, list: [probe] })).toBe('{"a":"a","list":["0"]}');
    expect(keys).toEqual(['a', '0']);
    expect(canonicalJson(new Date(Date.UTC(2026, 0, 2)))).toBe('"2026-01-02T00:00:00.000Z"');
  });

  it('maps a top-level value JSON drops to null, unwraps boxed primitives and sees only own enumerable keys', () => {
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson(() => 1)).toBe('null');
    expect(canonicalJson([Object(1), Object('s'), Object(false)])).toBe('[1,"s",false]');
    expect(canonicalJson(new Map([['a', 1]]))).toBe('{}');
    const inherited = Object.create({ hidden: 1 }) as Record<string, unknown>;
    Object.defineProperty(inherited, 'secret', { value: 2, enumerable: false });
    inherited.shown = 3;
    expect(canonicalJson(inherited)).toBe('{"shown":3}');
  });

  it('agrees with JSON.stringify on content for any JSON value, and is idempotent', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value) ?? 'null'));
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
    );
  });

  it('orders keys by UTF-16 code units, never by locale, for any keys', () => {
    const byCodeUnits = (a: string, b: string) => {
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        const d = a.charCodeAt(i) - b.charCodeAt(i);
        if (d !== 0) return d;
      }
      return a.length - b.length;
    };
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'grapheme' }), fc.integer()), (object) => {
        const keys = Object.keys(JSON.parse(canonicalJson(object)));
        // JSON.parse puts integer-like keys first, so compare the text's key order instead.
        const written = [...canonicalJson(object).matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((m) =>
          JSON.parse(`"${m[1]}"`),
        );
        expect(written).toEqual(Object.keys(object).sort(byCodeUnits));
        expect(new Set(keys)).toEqual(new Set(Object.keys(object)));
      }),
    );
  });
});

describe('canonicalJson: values RFC 8785 cannot express', () => {
  const refused = (value: unknown, path: string, reason: string) =>
    expect(() => canonicalJson(value)).toThrow(
      expect.objectContaining({ code: 'SCHEDULER_UNSERIALIZABLE', details: { path, reason } }),
    );

  it('refuses BigInt, lone surrogates and cycles with the path to the value', () => {
    refused(10n, '$', 'bigint');
    refused({ a: [1, { b: 2n }] }, '$.a[1].b', 'bigint');
    refused('lone \ud800', '$', 'lone-surrogate');
    refused({ 'odd key': ['\udc00'] }, '$["odd key"][0]', 'lone-surrogate');
    refused({ '\ud800': 1 }, '$["\\ud800"]', 'lone-surrogate');
    const cyclic: Record<string, unknown> = { list: [] };
    (cyclic.list as unknown[]).push(cyclic);
    refused(cyclic, '$.list[0]', 'cycle');
    const shared = { n: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"n":1},"b":{"n":1}}');
  });

  it('uses a BigInt toJSON as JSON.stringify does', () => {
    const big = Object.assign(Object(5n), { toJSON: () => '5' });
    expect(canonicalJson({ big })).toBe('{"big":"5"}');
  });

  it('refuses a throwing toJSON or getter, keeping the error as the cause', () => {
    const boom = new Error('boom');
    const hostile = {
      get x(): number {
        throw boom;
      },
    };
    expect(() => canonicalJson({ h: hostile })).toThrow(
      expect.objectContaining({ details: { path: '$.h.x', reason: 'threw' }, cause: boom }),
    );
    refused(
      {
        t: {
          toJSON() {
            throw boom;
          },
        },
      },
      '$.t',
      'threw',
    );
  });

  it('refuses nesting deeper than 1000 instead of overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(
      expect.objectContaining({
        code: 'SCHEDULER_UNSERIALIZABLE',
        details: expect.objectContaining({ reason: 'too-deep' }),
      }),
    );
    let ok: unknown = 1;
    for (let i = 0; i < 999; i++) ok = [ok];
    expect(canonicalJson(ok)).toBe(`${'['.repeat(999)}1${']'.repeat(999)}`);
  });
});
