/**
 * The reader of the markdown protocol fixtures (llhttp `test/request/*.md` style) shared by the HTTP
 * and WebSocket conformance suites: a `## ` heading starts a case (its title is the test name),
 * prose documents it, an optional `<!-- meta={…} -->` line carries JSON options, and fenced blocks
 * hold the input (```http, ```hex) and the expected event log (```log).
 */

import { readdirSync, readFileSync } from 'node:fs';

/** One case of a fixture file, before its blocks are decoded. */
export interface MarkdownCase<Meta> {
  name: string;
  /** The case's `<!-- meta=… -->` JSON, or `{}`. */
  meta: Meta;
  /** The input block's lines, as written. */
  input: string[];
  /** The expected log, blank lines dropped. */
  expected: string[];
}

/** The `*.md` files of `dir` (README.md excluded), sorted. */
export function fixtureFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.md') && f !== 'README.md')
    .sort();
}

/** Reads the cases of `dir/file`; every case needs one ````inputLang` block and one ```log block. */
export function readMarkdownCases<Meta>(dir: string, file: string, inputLang: string): MarkdownCase<Meta>[] {
  return parseMarkdownCases<Meta>(file, readFileSync(dir + file, 'utf8'), inputLang);
}

/** {@link readMarkdownCases} over text already read (`file` names it in errors). */
export function parseMarkdownCases<Meta>(file: string, text: string, inputLang: string): MarkdownCase<Meta>[] {
  const cases: MarkdownCase<Meta>[] = [];
  const sections = text.split(/^## /m).slice(1);
  for (const section of sections) {
    const lines = section.split('\n');
    const name = lines[0].trim();
    let meta = {} as Meta;
    let input: string[] | null = null;
    let expected: string[] | null = null;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const m = /^<!-- meta=(.*) -->\s*$/.exec(line);
      if (m) meta = JSON.parse(m[1]) as Meta;
      const fence = /^```(\w+)\s*$/.exec(line);
      if (!fence) continue;
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i].startsWith('```'); i++) body.push(lines[i]);
      if (fence[1] === inputLang) input = body;
      else if (fence[1] === 'log') expected = body.filter((l) => l.trim() !== '');
    }
    if (input === null || expected === null) throw new Error(`${file}: case "${name}" needs a ${inputLang} and a log block`);
    cases.push({ name, meta, input, expected });
  }
  return cases;
}

/**
 * Decodes an ```http block: physical newlines are layout only; bytes are printable ASCII plus the
 * escapes `\r`, `\n`, `\t`, `\\` and `\xHH`.
 */
export function decodeEscapedText(lines: readonly string[]): Uint8Array {
  const out: number[] = [];
  for (const line of lines) {
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (ch !== '\\') {
        const c = line.charCodeAt(i);
        if (c > 0x7e) throw new Error(`non-ASCII character in fixture input (use \\xHH): ${ch}`);
        out.push(c);
        continue;
      }
      const next = line[++i];
      if (next === 'r') out.push(0x0d);
      else if (next === 'n') out.push(0x0a);
      else if (next === 't') out.push(0x09);
      else if (next === '\\') out.push(0x5c);
      else if (next === 'x') {
        const hex = line.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error(`bad \\x escape in fixture line: ${line}`);
        out.push(parseInt(hex, 16));
        i += 2;
      } else {
        throw new Error(`unknown escape \\${next} in fixture line: ${line}`);
      }
    }
  }
  return Uint8Array.from(out);
}

/**
 * Decodes a ```hex block: pairs of hex digits, whitespace and `|` separators ignored, and a `#`
 * starting a comment to the end of the line (annotate each frame's fields there).
 */
export function decodeHexBlock(lines: readonly string[]): Uint8Array {
  let digits = '';
  for (const line of lines) {
    const code = line.replace(/#.*$/, '').replace(/[\s|]+/g, '');
    if (/[^0-9a-fA-F]/.test(code)) throw new Error(`bad hex in fixture line: ${line}`);
    digits += code;
  }
  if (digits.length % 2 !== 0) throw new Error(`odd number of hex digits in fixture block: ${lines.join(' / ')}`);
  return Uint8Array.from(Buffer.from(digits, 'hex'));
}
