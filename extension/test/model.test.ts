import { describe, expect, it } from 'vitest';

import {
  CallLedger,
  callsFromIopub,
  callsFromMetadata,
  findingsSummary,
  formatUsd,
  spendLabel,
  traceUrl
} from '../src/model';

function footer(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: 'sim:default',
    provider: 'sim',
    usage: { input_tokens: 12, output_tokens: 30, cache_read_tokens: 0, cache_write_tokens: 0 },
    cost_usd: 0.00042,
    latency_s: 0.25,
    ttft_s: 0.05,
    cached: false,
    trace_id: 'tr-1',
    prompt: null,
    notes: [],
    route: null,
    findings: [],
    ...over
  };
}

function display(meta: Record<string, unknown>, type = 'display_data') {
  return { header: { msg_type: type }, content: { data: {}, metadata: { llmops_nb: meta } } };
}

describe('reading calls from outputs', () => {
  it('reads a %%llm footer', () => {
    const [c] = callsFromMetadata({ llmops_nb: footer({ prompt: 'greet@2' }) }, 1000);
    expect(c).toMatchObject({
      traceId: 'tr-1',
      model: 'sim:default',
      prompt: 'greet@2',
      inputTokens: 12,
      outputTokens: 30,
      costUsd: 0.00042,
      latencyMs: 250,
      ttftMs: 50,
      cached: false,
      status: 'OK',
      startedAt: 1000
    });
  });

  it('reads the columns of a side-by-side comparison', () => {
    const calls = callsFromMetadata({
      llmops_nb: {
        columns: [
          { model: 'sim:a', status: 'OK', input_tokens: 1, output_tokens: 2, cost_usd: 0.1, latency_ms: 5, ttft_ms: null, cached: false, error: null, trace_id: 'a' },
          { model: 'sim:b', status: 'ERROR', input_tokens: 0, output_tokens: 0, cost_usd: null, latency_ms: 1, ttft_ms: null, cached: false, error: 'boom', trace_id: 'b' }
        ]
      }
    });
    expect(calls.map(c => [c.model, c.status, c.error])).toEqual([
      ['sim:a', 'OK', null],
      ['sim:b', 'ERROR', 'boom']
    ]);
  });

  it('ignores other outputs and messages', () => {
    expect(callsFromMetadata({})).toEqual([]);
    expect(callsFromMetadata(undefined)).toEqual([]);
    expect(callsFromMetadata({ llmops_nb: { nothing: 1 } })).toEqual([]);
    expect(callsFromIopub({ header: { msg_type: 'stream' }, content: { metadata: { llmops_nb: footer() } } })).toEqual([]);
    expect(callsFromIopub(display(footer(), 'update_display_data'))).toHaveLength(1);
    expect(callsFromIopub(display(footer(), 'execute_result'))).toHaveLength(1);
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
});

describe('CallLedger', () => {
  it('accumulates spend and tokens; a streamed display updated twice is one call', () => {
    const ledger = new CallLedger();
    expect(ledger.add(callsFromIopub(display(footer())))).toBe(1);
    expect(ledger.add(callsFromIopub(display(footer(), 'update_display_data')))).toBe(0);
    ledger.add(callsFromIopub(display(footer({ trace_id: 'tr-2', cost_usd: 0.001 }))));
    const t = ledger.totals();
    expect(t.calls).toBe(2);
    expect(t.spentUsd).toBeCloseTo(0.00142, 10);
    expect(t.inputTokens).toBe(24);
    expect(t.outputTokens).toBe(60);
    expect(ledger.calls[0].traceId).toBe('tr-2'); // newest first
  });

  it('counts cached calls as saved money, not as spend or tokens', () => {
    const ledger = new CallLedger();
    ledger.add(callsFromMetadata({ llmops_nb: footer() }));
    ledger.add(callsFromMetadata({ llmops_nb: footer({ trace_id: 'tr-3', cached: true, cost_usd: 0, saved_usd: 0.00042 }) }));
    const t = ledger.totals();
    expect(t).toMatchObject({ calls: 2, cachedCalls: 1, inputTokens: 12, outputTokens: 30 });
    expect(t.spentUsd).toBeCloseTo(0.00042, 10);
    expect(t.savedUsd).toBeCloseTo(0.00042, 10);
    expect(spendLabel(t)).toBe('LLM $0.00084 · 42 tok · 2 calls (1 cached, saved $0.00042)'.replace('$0.00084', '$0.00042'));
  });

  it('counts unpriced calls apart and failed calls not at all', () => {
    const ledger = new CallLedger();
    ledger.add(callsFromMetadata({ llmops_nb: footer({ cost_usd: null }) }));
    ledger.add(callsFromMetadata({ llmops_nb: { columns: [{ model: 'x:y', status: 'ERROR', trace_id: 'e' }] } }));
    expect(ledger.totals()).toMatchObject({ calls: 1, unpricedCalls: 1, spentUsd: 0 });
    expect(spendLabel(ledger.totals())).toBe('LLM $0 · 42 tok · 1 call · 1 unpriced');
  });

  it('calls without a trace id are each new; clear() empties it', () => {
    const ledger = new CallLedger();
    ledger.add(callsFromMetadata({ llmops_nb: footer({ trace_id: '' }) }));
    ledger.add(callsFromMetadata({ llmops_nb: footer({ trace_id: '' }) }));
    expect(ledger.calls).toHaveLength(2);
    ledger.clear();
    expect(ledger.totals().calls).toBe(0);
  });

  it('keeps at most its limit, newest first', () => {
    const ledger = new CallLedger(3);
    for (let i = 0; i < 5; i++) {
      ledger.add(callsFromMetadata({ llmops_nb: footer({ trace_id: `t${i}` }) }));
    }
    expect(ledger.calls.map(c => c.traceId)).toEqual(['t4', 't3', 't2']);
  });
});

describe('formatting', () => {
  it('formats dollars for sub-cent and larger amounts', () => {
    expect(formatUsd(0)).toBe('$0');
    expect(formatUsd(0.000123)).toBe('$0.00012');
    expect(formatUsd(0.0345)).toBe('$0.0345');
    expect(formatUsd(12.5)).toBe('$12.50');
  });

  it('links a trace only when an MLflow UI is configured', () => {
    expect(traceUrl(null, '1', 'tr-1')).toBeNull();
    expect(traceUrl('http://127.0.0.1:5000/', '7', 'tr-1')).toBe(
      'http://127.0.0.1:5000/#/experiments/7/traces?selectedEvaluationId=tr-1'
    );
  });
});
