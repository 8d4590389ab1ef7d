/** The status bar item and the "LLM calls" sidebar (plain DOM in Lumino widgets, via dom.ts). */
import { Widget } from '@lumino/widgets';

import { fetchConfig, fetchStoreCalls, fetchTrace } from './api';
import { el } from './dom';
import { CallInfo, emptyTotals, spendLabel } from './model';
import { CallStore } from './store';
import { callRow, COLUMNS, factList, traceLink, traceText } from './view';

/** Status bar: the current notebook kernel's spend, as the kernel reports it; a click opens the sidebar. */
export class SpendStatus extends Widget {
  constructor(
    private readonly store: CallStore,
    onClick: () => void
  ) {
    super();
    this.addClass('jp-llmops-status');
    this.node.addEventListener('click', onClick);
    store.changed.connect(() => this.refresh());
    store.activeChanged.connect(() => this.refresh());
    this.refresh();
  }

  refresh(): void {
    const state = this.store.state();
    const totals = state?.report?.totals ?? emptyTotals();
    this.node.textContent = spendLabel(totals);
    this.node.title =
      (state?.error ? `${state.error}\n` : '') +
      'LLM spend of this notebook’s kernel (what %llm cost says) — click for the calls';
  }
}

/** Sidebar: this kernel's recent calls (as it reports them), or every live kernel's store. */
export class CallsPanel extends Widget {
  private _scope: 'kernel' | 'store' = 'kernel';
  private _summary = el('div', 'jp-llmops-summary');
  private _table = el('table', 'jp-llmops-table');
  private _message = el('div', 'jp-llmops-message');
  private _toggle = el('button', 'jp-llmops-toggle jp-mod-styled');
  private _uiUrl: string | null = null;
  private _experimentId: string | null = null;
  private _configFor: string | null | undefined = undefined; // kernel id the config was read for
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
      this._selected = null; // a detail view belongs to the list it was opened in
      void this.refresh();
    });
    this.node.append(head, this._summary, this._message, this._table);
    store.changed.connect(() => void this.refresh());
    store.activeChanged.connect(() => void this.refresh());
    void this.refresh();
  }

  get scope(): 'kernel' | 'store' {
    return this._scope;
  }

  private get _kernelId(): string | null {
    return this.store.state()?.kernelId ?? this.store.current?.session?.kernel?.id ?? null;
  }

  private async _config(): Promise<void> {
    const kernel = this._kernelId;
    if (this._configFor === kernel) {
      return;
    }
    try {
      const cfg = await fetchConfig(kernel);
      this._uiUrl = cfg.mlflowUiUrl;
      this._experimentId = cfg.experimentId;
      this._configFor = kernel;
    } catch {
      // no server extension: no links
    }
  }

  async refresh(): Promise<void> {
    this._toggle.textContent = this._scope === 'kernel' ? 'Show all kernels' : 'Show this kernel';
    this._message.textContent = '';
    let calls: readonly CallInfo[] = [];
    if (this._scope === 'kernel') {
      const state = this.store.state();
      const report = state?.report ?? null;
      calls = report ? report.calls : [];
      this._summary.textContent = !state
        ? 'Open a notebook to see its calls.'
        : report
          ? spendLabel(report.totals) + ' (this kernel)'
          : 'This kernel has not loaded llmops_nb yet.';
      if (state?.error) {
        this._message.textContent = state.error;
      } else if (report && !calls.length) {
        this._message.textContent = 'No LLM call in this kernel yet.';
      }
    } else {
      this._summary.textContent = 'The stores of every running kernel, newest first';
      try {
        const found = await fetchStoreCalls(200);
        calls = found.calls;
      } catch (err) {
        this._message.textContent = `Cannot read the stores: ${(err as Error).message}`;
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
      const row = callRow(call);
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
    td.append(factList(call));
    const linkSlot = el('div');
    td.append(linkSlot);
    const kernel = this._scope === 'kernel' ? this._kernelId : null;
    void this._config().then(() => {
      const link = traceLink(this._uiUrl, this._experimentId, call.traceId);
      if (link && !linkSlot.firstChild) {
        linkSlot.append(link);
      }
    });
    const more = el('pre', 'jp-llmops-trace', call.traceId ? 'loading the trace from the store…' : '');
    td.append(more);
    if (call.traceId) {
      fetchTrace(call.traceId, kernel)
        .then(t => {
          more.textContent = traceText(t);
        })
        .catch(err => {
          more.textContent = `(prompt and answer not available: ${(err as Error).message})`;
        });
    }
    tr.append(td);
    return tr;
  }
}
