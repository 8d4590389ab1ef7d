/**
 * Pure parsing of `%%llm` / `%%prompt` cells into highlight ranges (no CodeMirror here, so it
 * is unit-tested in node).
 */

export type TokenKind =
  | 'magic' // %%llm, %%prompt, %llm
  | 'model' // provider:model
  | 'name' // %%prompt NAME, --prompt NAME@VERSION
  | 'option' // -t, --max-tokens
  | 'value' // an option's value
  | 'variable'; // {{name}}

export interface TokenRange {
  from: number;
  to: number;
  kind: TokenKind;
}

/** Options of `%%llm` / `%%prompt` that take no value. */
const FLAGS = new Set(['--no-cache', '--no-stream', '-h', '--help']);
/** Options whose following words (until the next option) are prompt refs. */
const MULTI_NAME = new Set(['--prompt']);
const MAGIC_RE = /^(%%?)(llm|prompt)(?=\s|$)/;
/** The same pattern as `llmops_nb.prompts.VARIABLE`. */
const VARIABLE_RE = /\{\{\s*[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\s*\}\}/g;

/** The cell magic a cell starts with (`llm` or `prompt`), or null for any other cell. */
export function cellMagic(source: string): 'llm' | 'prompt' | null {
  const m = /^%%(llm|prompt)(?=\s|$)/.exec(source);
  return m ? (m[1] as 'llm' | 'prompt') : null;
}

interface Word {
  text: string;
  from: number;
  to: number;
}

/** Split a magic line into shell-like words (quotes kept inside a word), with offsets. */
export function splitWords(line: string): Word[] {
  const words: Word[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i])) {
      i++;
    }
    if (i >= line.length) {
      break;
    }
    const from = i;
    let quote: string | null = null;
    while (i < line.length && (quote !== null || !/\s/.test(line[i]))) {
      const ch = line[i];
      if (quote === null && (ch === '"' || ch === "'")) {
        quote = ch;
      } else if (quote !== null && ch === quote) {
        quote = null;
      } else if (ch === '\\' && i + 1 < line.length) {
        i++;
      }
      i++;
    }
    words.push({ text: line.slice(from, i), from, to: i });
  }
  return words;
}

/** Highlight ranges of a magic line (offsets relative to the line start). */
export function parseMagicLine(line: string): TokenRange[] {
  const head = MAGIC_RE.exec(line);
  if (!head) {
    return [];
  }
  const isPrompt = head[2] === 'prompt';
  const ranges: TokenRange[] = [{ from: 0, to: head[0].length, kind: 'magic' }];
  let expectValue = false;
  let inNames = false;
  let positional = 0;
  for (const w of splitWords(line.slice(head[0].length))) {
    const from = w.from + head[0].length;
    const to = w.to + head[0].length;
    if (/^--?[A-Za-z]/.test(w.text)) {
      const [opt] = w.text.split('=', 1);
      const inlineValue = w.text.length > opt.length;
      ranges.push({ from, to: from + opt.length, kind: 'option' });
      if (inlineValue) {
        ranges.push({ from: from + opt.length + 1, to, kind: 'value' });
      }
      inNames = MULTI_NAME.has(opt) && !inlineValue;
      expectValue = !inNames && !inlineValue && !FLAGS.has(opt);
      continue;
    }
    if (expectValue) {
      ranges.push({ from, to, kind: 'value' });
      expectValue = false;
      continue;
    }
    if (inNames && !w.text.includes(':')) {
      ranges.push({ from, to, kind: 'name' });
      continue;
    }
    positional++;
    if (isPrompt && positional === 1) {
      ranges.push({ from, to, kind: 'name' });
    } else if (/^[A-Za-z0-9_.-]+:\S+$/.test(w.text)) {
      ranges.push({ from, to, kind: 'model' });
    }
  }
  // A --model value of %%prompt is a model id.
  return ranges.map((r, i) =>
    r.kind === 'value' && i > 0 && line.slice(ranges[i - 1].from, ranges[i - 1].to) === '--model'
      ? { ...r, kind: 'model' as const }
      : r
  );
}

/** `{{variable}}` ranges in any text. */
export function findVariables(text: string, offset = 0): TokenRange[] {
  const ranges: TokenRange[] = [];
  for (const m of text.matchAll(VARIABLE_RE)) {
    ranges.push({ from: offset + m.index!, to: offset + m.index! + m[0].length, kind: 'variable' });
  }
  return ranges;
}

/**
 * Every highlight range of a cell, absolute offsets, sorted; [] unless the cell starts with
 * `%%llm` or `%%prompt`. Also returns where the prose body begins.
 */
export function highlightCell(source: string): { ranges: TokenRange[]; bodyFrom: number } | null {
  if (!cellMagic(source)) {
    return null;
  }
  const nl = source.indexOf('\n');
  const line = nl < 0 ? source : source.slice(0, nl);
  const ranges = [...parseMagicLine(line), ...findVariables(line)];
  const bodyFrom = nl < 0 ? source.length : nl + 1;
  ranges.push(...findVariables(source.slice(bodyFrom), bodyFrom));
  // variables inside a value win over the value's own mark: drop overlapping non-variables
  const vars = ranges.filter(r => r.kind === 'variable');
  const kept = ranges.filter(
    r => r.kind === 'variable' || !vars.some(v => v.from < r.to && r.from < v.to)
  );
  kept.sort((a, b) => a.from - b.from || a.to - b.to);
  return { ranges: kept, bodyFrom };
}
