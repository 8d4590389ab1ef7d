import { describe, expect, it } from 'vitest';

import { callFromRow, findingsSummary, formatUsd, parseSnapshot, spendLabel, totalsFromSpend, traceUrl } from '../src/model';

function spend(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    calls: 18,
    cached_calls: 3,
    unpriced_calls: 0,
    spent_usd: 0.000522,
    saved_usd: 0.00011,
    input_tokens: 900,
    output_tokens: 340,
    in_flight: 0,
    budget_usd: null,
    remaining_usd: null,
    ...over
  };
}

function row(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    trace_id: 'tr-1',
    model: 'sim:default',
    provider: 'sim',
    prompt: 'greet@2',
    input_tokens: 12,
    output_tokens: 30,
    cost_usd: 0.00042,
    latency_ms: 250,
    ttft_ms: 50,
    cached: false,
    status: 'OK',
    error: null,
    findings: [{ type: 'email', action: 'redact' }],
    answered_by: null,
    group: 'playground: edited template',
    started_at: 1000,
    ...over
  };
}

describe("reading the kernel's report", () => {
  it('reads application/json (the Snapshot display)', () => {
    const r = parseSnapshot({ status: 'ok', data: { 'application/json': { spend: spend(), calls: [row()] } } });
    expect(r?.totals).toMatchObject({ calls: 18, cachedCalls: 3, spentUsd: 0.000522, inputTokens: 900 });
    expect(r?.calls[0]).toMatchObject({
      traceId: 'tr-1',
      model: 'sim:default',
      prompt: 'greet@2',
      costUsd: 0.00042,
      latencyMs: 250,
      findings: 'email×1 redact',
      group: 'playground: edited template',
      startedAt: 1000
    });
  });

  it('reads a JSON text/plain when there is no application/json', () => {
    const text = JSON.stringify({ spend: spend({ calls: 2 }), calls: [] });
    expect(parseSnapshot({ status: 'ok', data: { 'text/plain': text } })?.totals.calls).toBe(2);
  });

  it('a kernel that has not imported llmops_nb has no report', () => {
    expect(parseSnapshot({ status: 'ok', data: { 'text/plain': 'None' } })).toBeNull();
  });

  it('an error in the kernel is an error, not zero spend', () => {
    expect(() => parseSnapshot({ status: 'error', ename: 'NameError', evalue: 'x' })).toThrow(/NameError/);
  });

  it('skips malformed calls and figures', () => {
    const r = parseSnapshot({
      status: 'ok',
      data: { 'application/json': { spend: { calls: 'many', spent_usd: null }, calls: [null, 7, { model: 3 }, row()] } }
    });
    expect(r?.totals.calls).toBe(0);
    expect(r?.calls).toHaveLength(1);
  });
});

describe('the status bar label', () => {
  it('shows the dollars as %llm cost prints them', () => {
    expect(spendLabel(totalsFromSpend(spend()))).toBe(
      'LLM $0.000522 · 1.2k tok · 18 calls (3 cached, saved $0.000110)'
    );
  });

  it('counts unpriced calls apart, never a silent $0', () => {
    const label = spendLabel(totalsFromSpend(spend({ calls: 2, cached_calls: 0, spent_usd: 0, unpriced_calls: 2 })));
    expect(label).toBe('LLM cost unknown · 1.2k tok · 2 calls · 2 unpriced');
    const some = spendLabel(totalsFromSpend(spend({ calls: 3, cached_calls: 0, priced_calls: 1, unpriced_calls: 2 })));
    expect(some).toBe('LLM $0.000522 · 1.2k tok · 3 calls · 2 unpriced');
  });

  it('says when calls are still running', () => {
    expect(spendLabel(totalsFromSpend(spend({ cached_calls: 0, in_flight: 2 })))).toMatch(/· 2 running$/);
  });

  it('one call is singular', () => {
    expect(spendLabel(totalsFromSpend({ calls: 1, spent_usd: 0.5 }))).toBe('LLM $0.500000 · 0 tok · 1 call');
  });
});

describe('rows and formatting', () => {
  it('reads a store row', () => {
    const c = callFromRow(row({ status: 'ERROR', error: 'boom', cost_usd: null }));
    expect(c).toMatchObject({ status: 'ERROR', error: 'boom', costUsd: null });
  });

  it('summarises findings by type and action (hashes only travel)', () => {
    const f = [
      { type: 'email', action: 'redact', value_hash: 'h1' },
      { type: 'email', action: 'redact', value_hash: 'h2' },
      { type: 'prompt_injection', action: 'warn' }
    ];
    expect(findingsSummary(f)).toBe('email×2 redact · prompt_injection×1 warn');
    expect(findingsSummary('email×1 redact')).toBe('email×1 redact');
    expect(findingsSummary(null)).toBe('');
  });

  it('formats dollars for sub-cent and larger amounts', () => {
    expect(formatUsd(0)).toBe('$0');
    expect(formatUsd(0.000123)).toBe('$0.00012');
    expect(formatUsd(0.0345)).toBe('$0.0345');
    expect(formatUsd(12.5)).toBe('$12.50');
  });

  it('links a trace only when an http(s) MLflow UI is configured', () => {
    expect(traceUrl(null, '1', 'tr-1')).toBeNull();
    expect(traceUrl('http://127.0.0.1:5000/', '7', 'tr-1')).toBe(
      'http://127.0.0.1:5000/#/experiments/7/traces?selectedEvaluationId=tr-1'
    );
    expect(traceUrl('javascript:alert(1)//', '7', 'tr-1')).toBeNull();
    expect(traceUrl('data:text/html,<script>alert(1)</script>', '7', 'tr-1')).toBeNull();
  });
});
