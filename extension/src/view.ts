/**
 * The sidebar's rows and detail view, built from calls with dom.ts only (text, never HTML).
 * No JupyterLab imports: unit-tested in node against a DOM implementation.
 */
import { el, safeLink } from './dom';
import { CallInfo, formatTokens, formatUsd, traceUrl } from './model';

export const COLUMNS = ['model', 'prompt', 'tokens', 'cost', 'latency', 'TTFT', 'status'];

function ms(value: number | null): string {
  return value === null ? '—' : value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

/** A call's cost cell: a price, `cached (saved …)`, or `n/a` (unpriced, never $0). */
export function costText(c: CallInfo): string {
  if (c.cached) {
    return c.savedUsd ? `cached (saved ${formatUsd(c.savedUsd)})` : 'cached';
  }
  return c.costUsd === null ? 'n/a' : formatUsd(c.costUsd);
}

/** The cells of a call's row, as text. */
export function rowTexts(call: CallInfo): string[] {
  return [
    call.model,
    call.prompt ?? '—',
    `${formatTokens(call.inputTokens)}→${formatTokens(call.outputTokens)}`,
    costText(call),
    ms(call.latencyMs),
    ms(call.ttftMs),
    call.status + (call.findings ? ' 🛡' : '')
  ];
}

/** A call's row of the table. */
export function callRow(call: CallInfo, doc: Document = document): HTMLTableRowElement {
  const row = el('tr', 'jp-llmops-row', '', doc);
  row.dataset.traceId = call.traceId;
  if (call.status !== 'OK') {
    row.classList.add('jp-mod-error');
  }
  for (const text of rowTexts(call)) {
    row.append(el('td', '', text, doc));
  }
  row.title = call.findings ? `findings: ${call.findings}` : 'click for details';
  return row;
}

/** The facts of a call's detail view, as (label, text) pairs. */
export function detailFacts(call: CallInfo): Array<[string, string]> {
  const facts: Array<[string, string]> = [
    ['trace', call.traceId || '—'],
    ['provider', call.provider ?? '—'],
    ['cache hit', call.cached ? 'yes' : 'no'],
    ['findings', call.findings || 'none'],
    ['route', call.route ?? '—'],
    ['started', new Date(call.startedAt).toLocaleString()]
  ];
  if (call.group) {
    facts.push(['run', call.group]);
  }
  if (call.error) {
    facts.push(['error', call.error]);
  }
  for (const n of call.notes) {
    facts.push(['note', n]);
  }
  return facts;
}

/** The detail view's fact list. */
export function factList(call: CallInfo, doc: Document = document): HTMLDListElement {
  const dl = el('dl', '', '', doc);
  for (const [k, v] of detailFacts(call)) {
    dl.append(el('dt', '', k, doc), el('dd', '', v, doc));
  }
  return dl;
}

/** The link to a trace in the MLflow UI, or null without a safe (http or https) UI URL. */
export function traceLink(
  uiUrl: string | null,
  experimentId: string | null,
  traceId: string,
  doc: Document = document
): HTMLAnchorElement | null {
  return safeLink('Open the trace in MLflow ↗', traceUrl(uiUrl, experimentId, traceId), 'jp-llmops-link', doc);
}

export interface TraceDetails {
  request: unknown;
  response: unknown;
  attempts: unknown;
  findings: unknown;
  [key: string]: unknown;
}

/** A stored trace's prompt, answer, attempts and findings as one text (shown in a <pre>). */
export function traceText(t: TraceDetails): string {
  return [
    `prompt:\n${JSON.stringify(t.request, null, 1)}`,
    `answer:\n${typeof t.response === 'string' ? t.response : JSON.stringify(t.response, null, 1)}`,
    t.attempts ? `attempts:\n${JSON.stringify(t.attempts, null, 1)}` : '',
    t.findings ? `findings:\n${JSON.stringify(t.findings, null, 1)}` : ''
  ]
    .filter(Boolean)
    .join('\n\n');
}
