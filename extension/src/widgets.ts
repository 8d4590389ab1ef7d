/** The status bar item and the "LLM calls" sidebar (plain DOM in Lumino widgets). */
import { Widget } from '@lumino/widgets';

import { fetchConfig, fetchStoreCalls, fetchTrace } from './api';
import { CallInfo, emptyTotals, formatTokens, formatUsd, spendLabel, traceUrl } from './model';
import { CallStore } from './store';

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls = '',
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) {
    node.className = cls;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

/** Status bar: the current notebook kernel's spend; a click opens the sidebar. */
export class SpendStatus extends Widget {
  constructor(
    private readonly store: CallStore,
    onClick: () => void
  ) {
    super();
    this.addClass('jp-llmops-status');
    this.node.title = 'LLM spend of this notebook’s kernel — click for the calls';
    this.node.addEventListener('click', onClick);
    store.changed.connect(() => this.refresh());
    store.activeChanged.connect(() => this.refresh());
    this.refresh();
  }

  refresh(): void {
    const ledger = this.store.ledger();
    this.node.textContent = spendLabel(ledger ? ledger.totals() : emptyTotals());
  }
}

const COLUMNS = ['model', 'prompt', 'tokens', 'cost', 'latency', 'TTFT', 'status'];

function ms(value: number | null): string {
  return value === null ? '—' : value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

function cost(c: CallInfo): string {
  if (c.cached) {
    return c.savedUsd ? `cached (saved ${formatUsd(c.savedUsd)})` : 'cached';
  }
  return c.costUsd === null ? 'n/a' : formatUsd(c.costUsd);
}

/** Sidebar: this kernel's recent calls, or (toggle) the whole store's through the server. */
export class CallsPanel extends Widget {
  private _scope: 'kernel' | 'store' = 'kernel';
  private _summary = el('div', 'jp-llmops-summary');
  private _table = el('table', 'jp-llmops-table');
  private _message = el('div', 'jp-llmops-message');
  private _toggle = el('button', 'jp-llmops-toggle jp-mod-styled');
  private _uiUrl: string | null = null;
  private _experimentId: string | null = null;
  private _selected: string | null = null;

  constructor(private readonly store: CallStore) {
    super();
    this.id = 'llmops-nb-calls';
    this.addClass('jp-llmops-panel');
    this.title.caption = 'LLM calls';
    this.title.label = 'LLM calls';
    const head = el('div', 'jp-llmops-head');
    head.append(el('span', 'jp-llmops-title', 'LLM calls'), this._toggle);
    this._toggle.addEventListener('click', () => {
      this._scope = this._scope === 'kernel' ? 'store' : 'kernel';
      void this.refresh();
    });
    this.node.append(head, this._summary, this._message, this._table);
    store.changed.connect(() => void this.refresh());
    store.activeChanged.connect(() => void this.refresh());
    fetchConfig()
      .then(cfg => {
        this._uiUrl = cfg.mlflowUiUrl;
        this._experimentId = cfg.experimentId;
      })
      .catch(() => undefined);
    void this.refresh();
  }

  get scope(): 'kernel' | 'store' {
    return this._scope;
  }

  async refresh(): Promise<void> {
    this._toggle.textContent = this._scope === 'kernel' ? 'Show whole store' : 'Show this kernel';
    this._message.textContent = '';
    let calls: readonly CallInfo[] = [];
    if (this._scope === 'kernel') {
      const ledger = this.store.ledger();
      calls = ledger ? ledger.calls : [];
      this._summary.textContent = ledger
        ? spendLabel(ledger.totals()) + ' (this kernel)'
        : 'Open a notebook to see its calls.';
      if (ledger && !calls.length) {
        this._message.textContent = 'No %%llm call in this kernel yet.';
      }
    } else {
      this._summary.textContent = 'Whole store (every kernel), newest first';
      try {
        const found = await fetchStoreCalls(200);
        calls = found.calls;
        this._uiUrl = found.mlflowUiUrl;
        this._experimentId = found.experimentId;
      } catch (err) {
        this._message.textContent = `Cannot read the store: ${(err as Error).message}`;
      }
    }
    this._render(calls);
  }

  private _render(calls: readonly CallInfo[]): void {
    this._table.replaceChildren();
    if (!calls.length) {
      return;
    }
    const head = el('tr');
    for (const c of COLUMNS) {
      head.append(el('th', '', c));
    }
    this._table.append(head);
    for (const call of calls) {
      const row = el('tr', 'jp-llmops-row');
      row.dataset.traceId = call.traceId;
      if (call.status !== 'OK') {
        row.classList.add('jp-mod-error');
      }
      const cells = [
        call.model,
        call.prompt ?? '—',
        `${formatTokens(call.inputTokens)}→${formatTokens(call.outputTokens)}`,
        cost(call),
        ms(call.latencyMs),
        ms(call.ttftMs),
        call.status + (call.findings ? ' 🛡' : '')
      ];
      for (const text of cells) {
        row.append(el('td', '', text));
      }
      row.title = call.findings ? `findings: ${call.findings}` : 'click for details';
      row.addEventListener('click', () => {
        this._selected = this._selected === call.traceId ? null : call.traceId;
        this._render(calls);
      });
      this._table.append(row);
      if (this._selected && this._selected === call.traceId) {
        this._table.append(this._details(call));
      }
    }
  }

  private _details(call: CallInfo): HTMLTableRowElement {
    const tr = el('tr', 'jp-llmops-details');
    const td = el('td');
    td.colSpan = COLUMNS.length;
    const facts: Array<[string, string]> = [
      ['trace', call.traceId || '—'],
      ['provider', call.provider ?? '—'],
      ['cache hit', call.cached ? 'yes' : 'no'],
      ['findings', call.findings || 'none'],
      ['route', call.route ?? '—'],
      ['started', new Date(call.startedAt).toLocaleString()]
    ];
    if (call.error) {
      facts.push(['error', call.error]);
    }
    for (const n of call.notes) {
      facts.push(['note', n]);
    }
    const dl = el('dl');
    for (const [k, v] of facts) {
      dl.append(el('dt', '', k), el('dd', '', v));
    }
    td.append(dl);
    const linkSlot = el('div');
    td.append(linkSlot);
    const showLink = () => {
      const link = traceUrl(this._uiUrl, this._experimentId, call.traceId);
      if (link && !linkSlot.firstChild) {
        const a = el('a', 'jp-llmops-link', 'Open the trace in MLflow ↗');
        a.href = link;
        a.target = '_blank';
        a.rel = 'noopener';
        linkSlot.append(a);
      }
    };
    showLink();
    if (!this._uiUrl || !this._experimentId) {
      fetchConfig()
        .then(cfg => {
          this._uiUrl = cfg.mlflowUiUrl;
          this._experimentId = cfg.experimentId ?? this._experimentId;
          showLink();
        })
        .catch(() => undefined);
    }
    const more = el('pre', 'jp-llmops-trace', call.traceId ? 'loading the trace from the store…' : '');
    td.append(more);
    if (call.traceId) {
      fetchTrace(call.traceId)
        .then(t => {
          more.textContent = [
            `prompt:\n${JSON.stringify(t.request, null, 1)}`,
            `answer:\n${typeof t.response === 'string' ? t.response : JSON.stringify(t.response, null, 1)}`,
            t.attempts ? `attempts:\n${JSON.stringify(t.attempts, null, 1)}` : '',
            t.findings ? `findings:\n${JSON.stringify(t.findings, null, 1)}` : ''
          ]
            .filter(Boolean)
            .join('\n\n');
        })
        .catch(err => {
          more.textContent = `(prompt and answer not available: ${(err as Error).message})`;
        });
    }
    tr.append(td);
    return tr;
  }
}
