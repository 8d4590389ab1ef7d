// @vitest-environment happy-dom
/**
 * Untrusted text (model names, prompt names, errors, findings, stored prompts and answers, the
 * MLflow UI URL) reaches the sidebar and status bar only as text. Every payload of the corpus
 * must come out verbatim as text, with no element, attribute or link it did not ask for.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { el, safeHref, safeLink } from '../src/dom';
import { CallInfo, callFromRow, parseSnapshot, spendLabel } from '../src/model';
import { callRow, factList, traceLink, traceText } from '../src/view';

export const PAYLOADS = [
  '<img src=x onerror="document.title=\'pwned\'">',
  '<IMG SRC=x OnErRoR=alert(1)>',
  '<script>document.title="pwned"</script>',
  '<ScRiPt>alert(1)</sCrIpT>',
  '<svg onload="alert(1)"></svg>',
  '<svg><script>alert(1)</script></svg>',
  '<iframe srcdoc="<script>parent.document.title=1</script>"></iframe>',
  '[x](javascript:alert(1))',
  '[x](JaVaScRiPt:alert(1))',
  '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
  '&lt;img src=x onerror=alert(1)&gt;',
  '&#60;script&#62;alert(1)&#60;/script&#62;',
  '<a href="java&#x09;script:alert(1)">x</a>',
  '<a href="&#106;avascript:alert(1)">x</a>',
  '"><img src=x onerror=alert(1)>',
  "'><svg/onload=alert(1)>",
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>'
];

const BAD_URLS = [
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  ' javascript:alert(1)',
  'java\tscript:alert(1)',
  '\u0000javascript:alert(1)',
  'javascript&colon;alert(1)',
  '&#106;avascript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'DATA:text/html;base64,PHNjcmlwdD4=',
  'vbscript:msgbox(1)',
  '//evil.example/x',
  '/relative',
  'file:///etc/passwd',
  'http://',
  '',
  null,
  42
];

function call(text: string): CallInfo {
  const c = callFromRow({
    trace_id: text,
    model: text,
    provider: text,
    prompt: text,
    input_tokens: 1,
    output_tokens: 2,
    cost_usd: null,
    status: text,
    error: text,
    findings: text,
    answered_by: text,
    group: text,
    started_at: 0
  });
  if (!c) {
    throw new Error('no call');
  }
  c.notes = [text];
  return c;
}

/** Every element under `root` (the root included). */
function elements(root: Element): Element[] {
  return [root, ...Array.from(root.querySelectorAll('*'))];
}

function assertInert(root: Element, allowedTags: string[]): void {
  for (const node of elements(root)) {
    expect(allowedTags).toContain(node.tagName.toLowerCase());
    for (const attr of Array.from(node.attributes)) {
      expect(attr.name.startsWith('on'), `${node.tagName} has ${attr.name}`).toBe(false);
      expect(['href', 'src', 'srcdoc', 'style', 'action', 'formaction']).not.toContain(attr.name);
    }
  }
}

describe('payloads stay text', () => {
  it.each(PAYLOADS)('a sidebar row: %s', payload => {
    const row = callRow(call(payload));
    assertInert(row, ['tr', 'td']);
    expect(Array.from(row.querySelectorAll('td')).map(td => td.textContent)).toContain(payload);
    expect(row.title).toBe(`findings: ${payload}`);
  });

  it.each(PAYLOADS)('the detail facts: %s', payload => {
    const dl = factList(call(payload));
    assertInert(dl, ['dl', 'dt', 'dd']);
    const texts = Array.from(dl.querySelectorAll('dd')).map(dd => dd.textContent);
    for (const label of ['trace', 'provider', 'findings', 'route', 'run', 'error', 'note']) {
      expect(texts[Array.from(dl.querySelectorAll('dt')).findIndex(dt => dt.textContent === label)]).toBe(payload);
    }
  });

  it.each(PAYLOADS)('the stored prompt and answer: %s', payload => {
    const pre = el('pre', 'jp-llmops-trace', traceText({
      request: [{ role: 'user', content: payload }],
      response: payload,
      attempts: [{ model: payload, error: payload }],
      findings: [{ type: payload }]
    }));
    assertInert(pre, ['pre']);
    expect(pre.textContent).toContain(`answer:\n${payload}`);
  });

  it.each(PAYLOADS)('the status bar: %s', payload => {
    const report = parseSnapshot({ status: 'ok', data: { 'application/json': { spend: { calls: payload }, calls: [] } } });
    const status = el('div', 'jp-llmops-status', spendLabel(report!.totals));
    assertInert(status, ['div']);
    expect(status.textContent).toBe('LLM $0.000000 · 0 tok · 0 calls');
  });
});

describe('links', () => {
  it.each(BAD_URLS)('drops %s', url => {
    expect(safeHref(url)).toBeNull();
    expect(safeLink('x', url)).toBeNull();
    expect(traceLink(url as string, '1', 'tr-1')).toBeNull();
  });

  it('keeps http and https, as the browser resolves them', () => {
    expect(safeHref('http://127.0.0.1:5000')).toBe('http://127.0.0.1:5000/');
    expect(safeHref(' HTTPS://mlflow.example/x ')).toBe('https://mlflow.example/x');
    const a = traceLink('http://127.0.0.1:5000', '7', '"><img src=x onerror=alert(1)>');
    expect(a?.protocol).toBe('http:');
    expect(a?.rel).toBe('noopener noreferrer');
    expect(a?.children).toHaveLength(0);
  });
});

describe('the sources', () => {
  it('never parse text as HTML', () => {
    const dir = join(__dirname, '..', 'src');
    const sinks = /\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser|srcdoc)\b|\.html\s*\(|setAttribute\(\s*['"]on/;
    for (const file of readdirSync(dir)) {
      const code = readFileSync(join(dir, file), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '') // comments may name the sinks they forbid
        .replace(/^\s*\/\/.*$/gm, '');
      expect(sinks.exec(code)?.[0] ?? null, `${file} uses an HTML sink`).toBeNull();
    }
  });
});
