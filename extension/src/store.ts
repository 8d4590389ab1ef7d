/**
 * Each notebook kernel's report, asked of the kernel itself: the kernel is the source of truth
 * for its spend (every call it made: magics, the Python API, comparisons, experiments, widgets),
 * so the status bar equals `%llm cost` and survives a page reload.
 *
 * After the kernel finishes running a cell or handling a widget message (an iopub `idle` whose
 * parent was a visible execute or a comm message), the extension runs `SNAPSHOT_EXPRESSION` as
 * a silent `user_expressions` request. Silent requests publish no `execute_input`, so two open
 * pages never set each other off. While the kernel reports calls in flight (a playground's
 * background threads), it is asked again every second.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { KernelReport, parseSnapshot } from './model';

/** The same expression as `llmops_nb.kernel_report.EXPRESSION` (a test checks). */
export const SNAPSHOT_EXPRESSION =
  "__import__('importlib').import_module('llmops_nb.kernel_report').snapshot() " +
  "if 'llmops_nb' in __import__('sys').modules else None";

const DEBOUNCE_MS = 250;
const IN_FLIGHT_POLL_MS = 1000;
const IN_FLIGHT_POLL_LIMIT = 600; // at most ten minutes of polling for one burst of calls

/** What the front end knows of one notebook's kernel. */
export interface KernelState {
  report: KernelReport | null; // null: the kernel has not imported llmops_nb (or not answered yet)
  error: string | null;
  kernelId: string | null;
}

class Reporter {
  state: KernelState = { report: null, error: null, kernelId: null };
  private _own = new Set<string>(); // msg ids of our silent requests
  private _visible = new Set<string>(); // parents that published execute_input (non-silent)
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _polls = 0;
  private _last = '';

  constructor(
    private readonly ctx: ISessionContext,
    private readonly onChange: () => void
  ) {
    ctx.iopubMessage.connect((_, msg) => this._onIopub(msg as KernelMessage.IIOPubMessage));
    ctx.kernelChanged.connect(() => {
      this.state = { report: null, error: null, kernelId: ctx.session?.kernel?.id ?? null };
      this._last = '';
      this.onChange();
      this.schedule();
    });
    ctx.statusChanged.connect((_, status) => {
      if (status === 'restarting' || status === 'autorestarting') {
        this.state = { ...this.state, report: null };
        this._last = '';
        this.onChange();
      }
    });
    void ctx.ready.then(() => this.schedule());
  }

  private _onIopub(msg: KernelMessage.IIOPubMessage): void {
    const parent = msg.parent_header as Partial<KernelMessage.IHeader>;
    const parentId = parent?.msg_id;
    if (!parentId || this._own.has(parentId)) {
      return;
    }
    if (msg.header.msg_type === 'execute_input') {
      this._visible.add(parentId);
      return;
    }
    if (msg.header.msg_type !== 'status') {
      return;
    }
    const state = (msg.content as KernelMessage.IStatusMsg['content']).execution_state;
    if (state !== 'idle') {
      return;
    }
    const fromComm = parent.msg_type === 'comm_msg';
    if (this._visible.delete(parentId) || fromComm) {
      this._polls = 0;
      this.schedule();
      if (fromComm) {
        // a widget may start its calls in threads just after this message: look again
        this.schedule(DEBOUNCE_MS + IN_FLIGHT_POLL_MS, false);
      }
    }
  }

  /** Ask the kernel for its report after `delay` ms (merging requests asked meanwhile). */
  schedule(delay = DEBOUNCE_MS, replace = true): void {
    if (this._timer !== null) {
      if (!replace) {
        return;
      }
      clearTimeout(this._timer);
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      void this.refresh();
    }, delay);
  }

  async refresh(): Promise<void> {
    const kernel: Kernel.IKernelConnection | null | undefined = this.ctx.session?.kernel;
    if (!kernel) {
      return;
    }
    let report: KernelReport | null = null;
    let error: string | null = null;
    try {
      const future = kernel.requestExecute(
        {
          code: '',
          silent: true,
          store_history: false,
          allow_stdin: false,
          stop_on_error: false,
          user_expressions: { llmops_nb: SNAPSHOT_EXPRESSION }
        },
        true
      );
      const id = future.msg.header.msg_id;
      this._own.add(id);
      try {
        const reply = (await future.done) as KernelMessage.IExecuteReplyMsg;
        const content = reply.content as KernelMessage.IExecuteReply;
        report = parseSnapshot((content.user_expressions ?? {})['llmops_nb']);
      } finally {
        setTimeout(() => this._own.delete(id), 5000); // its idle may arrive after the reply
      }
    } catch (err) {
      error = (err as Error).message;
      report = this.state.report;
    }
    const next = { report, error, kernelId: kernel.id };
    const key = JSON.stringify(next);
    if (key !== this._last) {
      this._last = key;
      this.state = next;
      this.onChange();
    }
    if ((report?.totals.inFlight ?? 0) > 0 && this._polls++ < IN_FLIGHT_POLL_LIMIT) {
      this.schedule(IN_FLIGHT_POLL_MS, false);
    }
  }
}

export class CallStore {
  private _reporters = new WeakMap<ISessionContext, Reporter>();
  private _changed = new Signal<this, ISessionContext>(this);
  private _activeChanged = new Signal<this, void>(this);

  constructor(private readonly tracker: INotebookTracker) {
    tracker.widgetAdded.connect((_, panel) => this._watch(panel));
    tracker.forEach(panel => this._watch(panel));
    tracker.currentChanged.connect(() => this._activeChanged.emit());
  }

  /** Emitted with the session whose report changed. */
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

  /** What is known of a notebook's kernel (the current one by default). */
  state(ctx: ISessionContext | null = this.current): KernelState | null {
    return ctx ? this._reporters.get(ctx)?.state ?? null : null;
  }

  /** Ask the kernel again now (e.g. when the sidebar is opened). */
  refresh(ctx: ISessionContext | null = this.current): void {
    if (ctx) {
      this._reporters.get(ctx)?.schedule(0);
    }
  }

  private _watch(panel: NotebookPanel): void {
    const ctx = panel.sessionContext;
    if (this._reporters.has(ctx)) {
      return;
    }
    this._reporters.set(ctx, new Reporter(ctx, () => this._changed.emit(ctx)));
    panel.disposed.connect(() => this._reporters.delete(ctx));
  }
}
