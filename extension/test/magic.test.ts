import { describe, expect, it } from 'vitest';

import { cellMagic, findVariables, highlightCell, parseMagicLine, splitWords } from '../src/magic';

function marked(line: string): Array<[string, string]> {
  return parseMagicLine(line).map(r => [r.kind, line.slice(r.from, r.to)]);
}

describe('cellMagic', () => {
  it('knows %%llm and %%prompt cells only', () => {
    expect(cellMagic('%%llm sim:default\nhi')).toBe('llm');
    expect(cellMagic('%%prompt greet\nHello {{name}}')).toBe('prompt');
    expect(cellMagic('%%llm')).toBe('llm');
    expect(cellMagic('%%llmx foo')).toBeNull();
    expect(cellMagic(' %%llm sim:default')).toBeNull();
    expect(cellMagic('print("%%llm")')).toBeNull();
    expect(cellMagic('%llm sim:default hi')).toBeNull();
  });
});

describe('splitWords', () => {
  it('keeps quoted text in one word with offsets', () => {
    const words = splitWords(`a -s "be brief" 'x y'`);
    expect(words.map(w => w.text)).toEqual(['a', '-s', '"be brief"', "'x y'"]);
    expect(words[2]).toMatchObject({ from: 5, to: 15 });
  });
});

describe('parseMagicLine', () => {
  it('marks the magic, model, options and their values', () => {
    expect(marked('%%llm openai:gpt-5.4-mini -t 0.2 --max-tokens 50 -f json --no-cache')).toEqual([
      ['magic', '%%llm'],
      ['model', 'openai:gpt-5.4-mini'],
      ['option', '-t'],
      ['value', '0.2'],
      ['option', '--max-tokens'],
      ['value', '50'],
      ['option', '-f'],
      ['value', 'json'],
      ['option', '--no-cache']
    ]);
  });

  it('treats flags as valueless and --opt=value as option plus value', () => {
    expect(marked('%%llm --no-stream sim:default --guard=strict')).toEqual([
      ['magic', '%%llm'],
      ['option', '--no-stream'],
      ['model', 'sim:default'],
      ['option', '--guard'],
      ['value', 'strict']
    ]);
  });

  it('marks --prompt refs as names and later model ids as models', () => {
    expect(marked('%%llm --prompt summarize@2 summarize@prod sim:default')).toEqual([
      ['magic', '%%llm'],
      ['option', '--prompt'],
      ['name', 'summarize@2'],
      ['name', 'summarize@prod'],
      ['model', 'sim:default']
    ]);
  });

  it('marks several models for side by side', () => {
    expect(marked('%%llm sim:default sim:fast').map(m => m[0])).toEqual(['magic', 'model', 'model']);
  });

  it('marks the %%prompt name, a quoted message and the --model value as a model', () => {
    expect(marked('%%prompt greet -m "first try" --alias prod --model sim:default')).toEqual([
      ['magic', '%%prompt'],
      ['name', 'greet'],
      ['option', '-m'],
      ['value', '"first try"'],
      ['option', '--alias'],
      ['value', 'prod'],
      ['option', '--model'],
      ['model', 'sim:default']
    ]);
  });

  it('returns nothing for other lines', () => {
    expect(parseMagicLine('x = 1')).toEqual([]);
    expect(parseMagicLine('%%html')).toEqual([]);
  });
});

describe('findVariables', () => {
  it('finds {{name}} only, not single braces, JSON or LaTeX', () => {
    // the same matches as llmops_nb.prompts.VARIABLE
    const text = 'Hi {{ name }}, {"a": 1} $\\frac{1}{2}$ f"{x}" {{ok_2}} {{user.name}} $5 {{ 3x }} {x}';
    expect(findVariables(text).map(r => text.slice(r.from, r.to))).toEqual(['{{ name }}', '{{ok_2}}', '{{user.name}}']);
  });

  it('gives offsets from the given start', () => {
    expect(findVariables('a {{b}}', 10)).toEqual([{ from: 12, to: 17, kind: 'variable' }]);
  });
});

describe('highlightCell', () => {
  it('gives absolute ranges for the line and the body, and where the prose starts', () => {
    const src = '%%llm sim:default -s "{{tone}}"\nSummarise {{text}} in {{n}} words.\n';
    const found = highlightCell(src)!;
    expect(found.bodyFrom).toBe(src.indexOf('\n') + 1);
    expect(found.ranges.map(r => [r.kind, src.slice(r.from, r.to)])).toEqual([
      ['magic', '%%llm'],
      ['model', 'sim:default'],
      ['option', '-s'],
      ['variable', '{{tone}}'],
      ['variable', '{{text}}'],
      ['variable', '{{n}}']
    ]);
    const starts = found.ranges.map(r => r.from);
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
  });

  it('is null for a Python cell', () => {
    expect(highlightCell('import llmops_nb\n{{x}}')).toBeNull();
  });
});
