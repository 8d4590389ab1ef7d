/**
 * The data model: calls read from output metadata (`metadata["llmops_nb"]`) and a per-kernel
 * ledger of them. Pure functions, no JupyterLab imports, unit-tested in node.
 *
 * The metadata carries measured facts only (model, usage, cost, timings, finding hashes): never
 * a key nor a redacted value.
 */

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
  notes: string[];
  startedAt: number; // ms since epoch (when the front end saw it, or the store's time)
}

/** The iopub message shape we read (a subset of @jupyterlab/services' KernelMessage). */
export interface IopubLike {
  header: { msg_type: string };
  content: { metadata?: Record<string, unknown>; data?: unknown; transient?: { display_id?: string } };
}

const DISPLAY_TYPES = new Set(['display_data', 'update_display_data', 'execute_result']);

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

/** A call from a `%%llm` footer's metadata (render.footer_metadata). */
export function callFromFooter(meta: Record<string, unknown>, now = Date.now()): CallInfo | null {
  if (typeof meta.model !== 'string') {
    return null;
  }
  const usage = (meta.usage ?? {}) as Partial<Usage>;
  const latency = num(meta.latency_s);
  const ttft = num(meta.ttft_s);
  return {
    traceId: str(meta.trace_id) ?? '',
    model: meta.model,
    provider: str(meta.provider),
    prompt: str(meta.prompt),
    inputTokens: num(usage.input_tokens) ?? 0,
    outputTokens: num(usage.output_tokens) ?? 0,
    costUsd: num(meta.cost_usd),
    savedUsd: num(meta.saved_usd),
    latencyMs: latency === null ? null : latency * 1000,
    ttftMs: ttft === null ? null : ttft * 1000,
    cached: meta.cached === true,
    status: str(meta.status) ?? 'OK',
    error: null,
    findings: findingsSummary(meta.findings),
    route: str(meta.route),
    notes: Array.isArray(meta.notes) ? (meta.notes as unknown[]).map(String) : [],
    startedAt: now
  };
}

/** A call from a history-style row (side-by-side columns, or the server's /calls rows). */
export function callFromRow(row: Record<string, unknown>, now = Date.now()): CallInfo | null {
  if (typeof row.model !== 'string') {
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
    notes: [],
    startedAt: typeof started === 'number' ? started : typeof started === 'string' ? Date.parse(started) || now : now
  };
}

/** The calls an output's metadata describes (one footer, or the columns of a comparison). */
export function callsFromMetadata(metadata: unknown, now = Date.now()): CallInfo[] {
  if (!metadata || typeof metadata !== 'object') {
    return [];
  }
  const ours = (metadata as Record<string, unknown>)['llmops_nb'];
  if (!ours || typeof ours !== 'object') {
    return [];
  }
  const o = ours as Record<string, unknown>;
  if (Array.isArray(o.columns)) {
    return (o.columns as Record<string, unknown>[])
      .map(c => callFromRow(c, now))
      .filter((c): c is CallInfo => c !== null);
  }
  const one = callFromFooter(o, now);
  return one ? [one] : [];
}

/** The calls a kernel iopub message carries ([] for any other message). */
export function callsFromIopub(msg: IopubLike, now = Date.now()): CallInfo[] {
  if (!DISPLAY_TYPES.has(msg.header.msg_type)) {
    return [];
  }
  return callsFromMetadata(msg.content.metadata, now);
}

export interface SpendTotals {
  calls: number;
  cachedCalls: number;
  spentUsd: number;
  savedUsd: number;
  inputTokens: number;
  outputTokens: number;
  unpricedCalls: number;
}

/**
 * One kernel's calls, newest first, each counted once (by trace id): a streamed answer's
 * display is updated several times but is one call.
 */
/** Totals of no calls at all. */
export function emptyTotals(): SpendTotals {
  return {
    calls: 0,
    cachedCalls: 0,
    spentUsd: 0,
    savedUsd: 0,
    inputTokens: 0,
    outputTokens: 0,
    unpricedCalls: 0
  };
}

export class CallLedger {
  private _calls: CallInfo[] = [];
  private _seen = new Set<string>();
  private _anon = 0;

  constructor(private readonly limit = 500) {}

  /** Add calls; returns how many were new. */
  add(calls: CallInfo[]): number {
    let added = 0;
    for (const call of calls) {
      const key = call.traceId || `anon-${this._anon++}`;
      if (this._seen.has(key)) {
        continue;
      }
      this._seen.add(key);
      this._calls.unshift(call);
      added++;
    }
    if (this._calls.length > this.limit) {
      this._calls.length = this.limit;
    }
    return added;
  }

  get calls(): readonly CallInfo[] {
    return this._calls;
  }

  totals(): SpendTotals {
    const t = emptyTotals();
    for (const c of this._calls) {
      if (c.status !== 'OK') {
        continue;
      }
      t.calls++;
      if (c.cached) {
        t.cachedCalls++;
        t.savedUsd += c.savedUsd ?? 0;
        continue; // a cache hit used no tokens and cost nothing
      }
      t.inputTokens += c.inputTokens;
      t.outputTokens += c.outputTokens;
      if (c.costUsd === null) {
        t.unpricedCalls++;
      } else {
        t.spentUsd += c.costUsd;
      }
    }
    return t;
  }

  clear(): void {
    this._calls = [];
    this._seen.clear();
  }
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

/** The status bar's text: `LLM $0.0042 · 1.2k tok · 3 calls (1 cached, saved $0.0011)`. */
export function spendLabel(t: SpendTotals): string {
  const tokens = formatTokens(t.inputTokens + t.outputTokens);
  let label = `LLM ${formatUsd(t.spentUsd)} · ${tokens} tok · ${t.calls} call${t.calls === 1 ? '' : 's'}`;
  if (t.cachedCalls) {
    label += ` (${t.cachedCalls} cached${t.savedUsd ? `, saved ${formatUsd(t.savedUsd)}` : ''})`;
  }
  if (t.unpricedCalls) {
    label += ` · ${t.unpricedCalls} unpriced`;
  }
  return label;
}

/** The MLflow UI link of a trace, or null when no UI URL is configured. */
export function traceUrl(uiUrl: string | null, experimentId: string | null, traceId: string): string | null {
  if (!uiUrl || !traceId) {
    return null;
  }
  const base = uiUrl.replace(/\/+$/, '');
  const exp = experimentId ? `experiments/${encodeURIComponent(experimentId)}/` : '';
  return `${base}/#/${exp}traces?selectedEvaluationId=${encodeURIComponent(traceId)}`;
}
