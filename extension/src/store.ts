/**
 * Calls per notebook kernel, fed by each notebook's kernel iopub messages (display metadata
 * `llmops_nb`). Works for any number of open notebooks; a kernel restart starts a new ledger,
 * like `llmops_nb.spend()` in the new process.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISignal, Signal } from '@lumino/signaling';

import { CallLedger, callsFromIopub, IopubLike } from './model';

export class CallStore {
  private _ledgers = new WeakMap<ISessionContext, CallLedger>();
  private _changed = new Signal<this, ISessionContext>(this);
  private _activeChanged = new Signal<this, void>(this);

  constructor(private readonly tracker: INotebookTracker) {
    tracker.widgetAdded.connect((_, panel) => this._watch(panel));
    tracker.forEach(panel => this._watch(panel));
    tracker.currentChanged.connect(() => this._activeChanged.emit());
  }

  /** Emitted with the session whose calls changed. */
  get changed(): ISignal<this, ISessionContext> {
    return this._changed;
  }

  /** Emitted when another notebook becomes the current one. */
  get activeChanged(): ISignal<this, void> {
    return this._activeChanged;
  }

  /** The current notebook's session context, if any. */
  get current(): ISessionContext | null {
    return this.tracker.currentWidget?.sessionContext ?? null;
  }

  /** The ledger of a notebook session (the current one by default). */
  ledger(ctx: ISessionContext | null = this.current): CallLedger | null {
    return ctx ? this._ledgers.get(ctx) ?? null : null;
  }

  private _watch(panel: NotebookPanel): void {
    const ctx = panel.sessionContext;
    if (this._ledgers.has(ctx)) {
      return;
    }
    const ledger = new CallLedger();
    this._ledgers.set(ctx, ledger);
    ctx.iopubMessage.connect((_, msg) => {
      if (ledger.add(callsFromIopub(msg as unknown as IopubLike))) {
        this._changed.emit(ctx);
      }
    });
    const reset = () => {
      if (ledger.calls.length) {
        ledger.clear();
        this._changed.emit(ctx);
      }
    };
    ctx.kernelChanged.connect(reset);
    ctx.statusChanged.connect((_, status) => {
      if (status === 'restarting' || status === 'autorestarting') {
        reset();
      }
    });
    panel.disposed.connect(() => this._ledgers.delete(ctx));
  }
}
