import { describe, expect, it } from 'vitest';
import {
  AUTHORITY_CHAR,
  COLON,
  CR,
  FIELD_VALUE_CHAR,
  HEX_VALUE,
  HTAB,
  LF,
  LOWER,
  QDTEXT_CHAR,
  SP,
  TARGET_CHAR,
  TCHAR,
  asciiBytes,
  equalsLowerAscii,
  startsWithLowerAscii,
} from '../../../../src/protocols/http/bytes.js';

const ALPHA = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DIGIT = '0123456789';

function members(t: Uint8Array | Int8Array, pick: (v: number) => boolean = (v) => v !== 0): string {
  let s = '';
  for (let c = 0; c < 256; c++) if (pick(t[c])) s += String.fromCharCode(c);
  return s;
}

describe('byte constants', () => {
  it('have their ASCII values', () => {
    expect([CR, LF, SP, HTAB, COLON]).toEqual([13, 10, 32, 9, 58]);
  });
});

describe('TCHAR (RFC 9110 §5.6.2)', () => {
  it('is exactly ALPHA / DIGIT / the 15 symbols', () => {
    const expected = [..."!#$%&'*+-.^_`|~" + DIGIT + ALPHA].sort().join('');
    expect([...members(TCHAR)].sort().join('')).toBe(expected);
  });
});

describe('FIELD_VALUE_CHAR (RFC 9110 §5.5)', () => {
  it('allows HTAB, SP, VCHAR and obs-text only', () => {
    for (let c = 0; c < 256; c++) {
      const ok = c === HTAB || c === SP || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
      expect(FIELD_VALUE_CHAR[c], `byte ${c}`).toBe(ok ? 1 : 0);
    }
  });
});

describe('TARGET_CHAR', () => {
  it('marks ? as 2, rejects # SP controls DEL and non-ASCII', () => {
    expect(TARGET_CHAR[0x3f]).toBe(2);
    for (const c of [0x23, 0x20, 0x00, 0x09, 0x0d, 0x0a, 0x7f, 0x80, 0xff]) expect(TARGET_CHAR[c], `byte ${c}`).toBe(0);
    for (const ch of "/azAZ09-._~!$&'()*+,;=:@%[]") expect(TARGET_CHAR[ch.charCodeAt(0)], ch).toBe(1);
  });
});

describe('AUTHORITY_CHAR and QDTEXT_CHAR', () => {
  it('authority excludes userinfo, path and whitespace bytes', () => {
    for (const ch of '@/?# \t"') expect(AUTHORITY_CHAR[ch.charCodeAt(0)], ch).toBe(0);
    for (const ch of 'a-Z.9:[]%') expect(AUTHORITY_CHAR[ch.charCodeAt(0)], ch).toBe(1);
  });

  it('qdtext excludes the quote, the backslash and controls', () => {
    expect(QDTEXT_CHAR[0x22]).toBe(0);
    expect(QDTEXT_CHAR[0x5c]).toBe(0);
    expect(QDTEXT_CHAR[0x0d]).toBe(0);
    expect(QDTEXT_CHAR[HTAB]).toBe(1);
    expect(QDTEXT_CHAR[0xe9]).toBe(1);
  });
});

describe('LOWER and HEX_VALUE', () => {
  it('LOWER folds A-Z only', () => {
    for (let c = 0; c < 256; c++) {
      expect(LOWER[c]).toBe(c >= 0x41 && c <= 0x5a ? c + 32 : c);
    }
  });

  it('HEX_VALUE maps hex digits in both cases and -1 elsewhere', () => {
    expect(members(HEX_VALUE, (v) => v >= 0)).toBe('0123456789ABCDEFabcdef');
    expect(HEX_VALUE['f'.charCodeAt(0)]).toBe(15);
    expect(HEX_VALUE['A'.charCodeAt(0)]).toBe(10);
    expect(HEX_VALUE['g'.charCodeAt(0)]).toBe(-1);
  });
});

describe('equalsLowerAscii / startsWithLowerAscii', () => {
  const buf = asciiBytes('xxContent-LENGTH[{');

  it('compares case-insensitively against lowercase bytes', () => {
    expect(equalsLowerAscii(buf, 2, 16, asciiBytes('content-length'))).toBe(true);
    expect(equalsLowerAscii(buf, 2, 15, asciiBytes('content-length'))).toBe(false);
    expect(equalsLowerAscii(buf, 2, 16, asciiBytes('content-lengtx'))).toBe(false);
    expect(equalsLowerAscii(buf, 0, 0, new Uint8Array(0))).toBe(true);
  });

  it('does not fold non-letters ([ is not {)', () => {
    expect(equalsLowerAscii(buf, 16, 17, asciiBytes('{'))).toBe(false);
    expect(equalsLowerAscii(buf, 16, 17, asciiBytes('['))).toBe(true);
  });

  it('startsWithLowerAscii checks a prefix', () => {
    expect(startsWithLowerAscii(buf, 2, 18, asciiBytes('content'))).toBe(true);
    expect(startsWithLowerAscii(buf, 2, 5, asciiBytes('content'))).toBe(false);
  });
});

describe('asciiBytes', () => {
  it('encodes ASCII and throws RangeError otherwise', () => {
    expect(Array.from(asciiBytes('Hi:'))).toEqual([0x48, 0x69, 0x3a]);
    expect(() => asciiBytes('café')).toThrow(RangeError);
  });
});
