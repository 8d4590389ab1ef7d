/**
 * The data model: a kernel's report (`llmops_nb.kernel_report.snapshot()`: its spend, the very
 * figures `%llm cost` prints, and its latest calls' measured facts) and the store's rows. Pure
 * functions, no JupyterLab imports, unit-tested in node.
 *
 * Everything here is data to show as text: model names, prompt names, errors and findings come
 * from the kernel or a store and are untrusted (see dom.ts).
 */
import { safeHref } from './dom';

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens?: number;
  cache_write_tokens?: number;
}

export interface Finding {
  type?: string;
  action?: string;
  direction?: string;
  [key: string]: unknown;
}

/** One call as the front end knows it. */
export interface CallInfo {
  traceId: string;
  model: string;
  provider: string | null;
  prompt: string | null;
  inputTokens: number;
  outputTokens: number;
  costUsd: number | null;
  savedUsd: number | null;
  latencyMs: number | null;
  ttftMs: number | null;
  cached: boolean;
  status: string;
  error: string | null;
  findings: string;
  route: string | null;
  group: string | null;
  notes: string[];
  startedAt: number; // ms since epoch (when the front end saw it, or the store's time)
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** `email×2 redact · prompt_injection×1 warn` from finding dicts, or a summary string as is. */
export function findingsSummary(findings: unknown): string {
  if (typeof findings === 'string') {
    return findings;
  }
  if (!Array.isArray(findings)) {
    return '';
  }
  const counts = new Map<string, number>();
  for (const f of findings as Finding[]) {
    const key = `${f.type ?? '?'} ${f.action ?? ''}`.trim();
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .map(([k, n]) => {
      const [type, ...rest] = k.split(' ');
      return `${type}×${n}${rest.length ? ' ' + rest.join(' ') : ''}`;
    })
    .join(' · ');
}

/** A call from a history-style row (side-by-side columns, or the server's /calls rows). */
export function callFromRow(row: Record<string, unknown>, now = Date.now()): CallInfo | null {
  if (!row || typeof row !== 'object' || typeof row.model !== 'string') {
    return null;
  }
  const started = row.started_at;
  return {
    traceId: str(row.trace_id) ?? '',
    model: row.model,
    provider: str(row.provider),
    prompt: str(row.prompt),
    inputTokens: num(row.input_tokens) ?? 0,
    outputTokens: num(row.output_tokens) ?? 0,
    costUsd: num(row.cost_usd),
    savedUsd: num(row.saved_usd),
    latencyMs: num(row.latency_ms),
    ttftMs: num(row.ttft_ms),
    cached: row.cached === true,
    status: str(row.status) ?? 'OK',
    error: str(row.error),
    findings: findingsSummary(row.findings),
    route: str(row.answered_by),
    group: str(row.group),
    notes: [],
    startedAt: typeof started === 'number' ? started : typeof started === 'string' ? Date.parse(started) || now : now
  };
}

export interface SpendTotals {
  calls: number;
  cachedCalls: number;
  spentUsd: number;
  savedUsd: number;
  inputTokens: number;
  outputTokens: number;
  unpricedCalls: number;
  pricedCalls: number;
  inFlight: number;
}

/** Totals of no calls at all. */
export function emptyTotals(): SpendTotals {
  return {
    calls: 0,
    cachedCalls: 0,
    spentUsd: 0,
    savedUsd: 0,
    inputTokens: 0,
    outputTokens: 0,
    unpricedCalls: 0,
    pricedCalls: 0,
    inFlight: 0
  };
}

/** Totals from a kernel's `spend()` dict (missing or malformed figures count as 0). */
export function totalsFromSpend(spend: unknown): SpendTotals {
  const s = (spend && typeof spend === 'object' ? spend : {}) as Record<string, unknown>;
  const n = (key: string) => num(s[key]) ?? 0;
  return {
    calls: n('calls'),
    cachedCalls: n('cached_calls'),
    spentUsd: n('spent_usd'),
    savedUsd: n('saved_usd'),
    inputTokens: n('input_tokens'),
    outputTokens: n('output_tokens'),
    unpricedCalls: n('unpriced_calls'),
    pricedCalls: num(s['priced_calls']) ?? Math.max(0, n('calls') - n('unpriced_calls')),
    inFlight: n('in_flight')
  };
}

/** What a kernel reported: its spend and its latest calls, newest first. */
export interface KernelReport {
  totals: SpendTotals;
  calls: CallInfo[];
}

/**
 * The kernel's answer to `SNAPSHOT_EXPRESSION` (one `user_expressions` entry): a report, or
 * null when the kernel has not imported llmops_nb. Throws on an error in the kernel.
 */
export function parseSnapshot(result: unknown): KernelReport | null {
  const r = (result ?? {}) as { status?: string; data?: Record<string, unknown>; ename?: string; evalue?: string };
  if (r.status !== 'ok') {
    throw new Error(`the kernel could not report its spend: ${r.ename ?? 'error'} ${r.evalue ?? ''}`.trim());
  }
  let body: unknown = r.data?.['application/json'];
  if (body === undefined) {
    const text = r.data?.['text/plain'];
    if (typeof text !== 'string' || text === 'None') {
      return null;
    }
    body = JSON.parse(text);
  }
  if (!body || typeof body !== 'object') {
    return null;
  }
  const b = body as { spend?: unknown; calls?: unknown };
  const calls = Array.isArray(b.calls)
    ? (b.calls as Record<string, unknown>[]).map(c => callFromRow(c)).filter((c): c is CallInfo => c !== null)
    : [];
  return { totals: totalsFromSpend(b.spend), calls };
}

/** `$0.0123` with enough digits for sub-cent amounts. */
export function formatUsd(usd: number): string {
  if (usd === 0) {
    return '$0';
  }
  if (usd >= 1) {
    return `$${usd.toFixed(2)}`;
  }
  if (usd >= 0.01) {
    return `$${usd.toFixed(4)}`;
  }
  return `$${usd.toPrecision(2)}`;
}

/** `1.2k` style token counts. */
export function formatTokens(n: number): string {
  if (n >= 1e6) {
    return `${(n / 1e6).toFixed(1)}M`;
  }
  if (n >= 1e4) {
    return `${Math.round(n / 1e3)}k`;
  }
  if (n >= 1e3) {
    return `${(n / 1e3).toFixed(1)}k`;
  }
  return String(n);
}

/** Dollars as `%llm cost` prints them (`$0.000522`), so the two read the same. */
export function spendUsd(usd: number): string {
  return `$${usd.toFixed(6)}`;
}

/**
 * The status bar's text: `LLM $0.000522 · 1.2k tok · 18 calls (3 cached, saved $0.000110) ·
 * 2 unpriced`. Calls with no known price are counted apart, never folded into a silent $0.
 */
export function spendLabel(t: SpendTotals): string {
  const tokens = formatTokens(t.inputTokens + t.outputTokens);
  // no priced call at all: the cost is unknown, not $0 (as `%llm cost` says)
  const cost = t.calls && !t.pricedCalls ? 'cost unknown' : spendUsd(t.spentUsd);
  let label = `LLM ${cost} · ${tokens} tok · ${t.calls} call${t.calls === 1 ? '' : 's'}`;
  if (t.cachedCalls) {
    label += ` (${t.cachedCalls} cached${t.savedUsd ? `, saved ${spendUsd(t.savedUsd)}` : ''})`;
  }
  if (t.unpricedCalls) {
    label += ` · ${t.unpricedCalls} unpriced`;
  }
  if (t.inFlight) {
    label += ` · ${t.inFlight} running`;
  }
  return label;
}

/** The MLflow UI link of a trace, or null when no (http or https) UI URL is configured. */
export function traceUrl(uiUrl: string | null, experimentId: string | null, traceId: string): string | null {
  const safe = safeHref(uiUrl);
  if (!safe || !traceId) {
    return null;
  }
  const base = safe.replace(/\/+$/, '');
  const exp = experimentId ? `experiments/${encodeURIComponent(experimentId)}/` : '';
  return `${base}/#/${exp}traces?selectedEvaluationId=${encodeURIComponent(traceId)}`;
}
