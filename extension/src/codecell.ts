/**
 * `%%llm -f code`: the answer's code goes into ONE cell below its source cell, and re-running
 * the source cell replaces that cell's code (Run All never grows the notebook).
 *
 * The kernel says what it offers in an output of the source cell (`CODE_CELL_MIME`: the code,
 * and whether IPython's `set_next_input` already inserted it as the next cell). The cell that
 * holds the code is linked to its source cell by metadata: `llmops_nb.inserted_by` (the
 * source cell's id) and `llmops_nb.code_hash` (a hash of the code written there) on it,
 * `llmops_nb.code_cell` (its id) on the source cell — which JupyterLab sends with every
 * execution, so the kernel knows to leave the insertion to this extension.
 *
 * A linked cell edited by hand since it was written is kept as the user left it (their edit
 * wins; the source cell says so and the new code stays in the answer above). Pure logic over a
 * small notebook interface, unit-tested in node; index.ts applies it to the live notebook.
 * Code is only ever set as a cell's source (text), never put in the DOM.
 */

export const CODE_CELL_MIME = 'application/vnd.llmops-nb.code-cell+json';
export const META_KEY = 'llmops_nb';

/** What the kernel offered for one run of a `-f code` cell. */
export interface CodeOffer {
  code: string;
  inserted: boolean; // set_next_input inserted it as the next cell
  sourceCell: string | null;
}

export type Outcome = 'inserted' | 'linked' | 'replaced' | 'unchanged' | 'kept';

/** A cell as this module needs it. */
export interface CellView {
  id: string;
  source: string;
  metadata: Record<string, unknown>;
}

/** The notebook operations this module needs (index.ts maps them to the shared model). */
export interface NotebookOps {
  cells(): CellView[];
  /** Insert a code cell at `index`; its id. */
  insert(index: number, source: string, metadata: Record<string, unknown>): string;
  remove(index: number): void;
  setSource(index: number, source: string): void;
  setMeta(index: number, value: Record<string, unknown>): void; // the META_KEY entry
}

/** A short stable hash of a text (FNV-1a, 32 bits, over UTF-16 units): edit detection only. */
export function codeHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0') + ':' + text.length.toString(16);
}

function ours(metadata: Record<string, unknown>): Record<string, unknown> {
  const m = metadata[META_KEY];
  return m && typeof m === 'object' && !Array.isArray(m) ? (m as Record<string, unknown>) : {};
}

/** The offer in a cell's outputs (nbformat JSON) and its index, or null. */
export function findOffer(outputs: readonly unknown[]): { offer: CodeOffer; index: number } | null {
  for (let i = outputs.length - 1; i >= 0; i--) {
    const out = outputs[i] as { data?: Record<string, unknown> } | null;
    const raw = out && typeof out === 'object' ? out.data?.[CODE_CELL_MIME] : undefined;
    const o = (raw && typeof raw === 'object' ? raw : null) as Record<string, unknown> | null;
    if (!o || typeof o.code !== 'string' || o.outcome !== undefined) {
      continue; // not an offer, or one already carried out
    }
    return {
      offer: {
        code: o.code,
        inserted: o.inserted === true,
        sourceCell: typeof o.source_cell === 'string' ? o.source_cell : null
      },
      index: i
    };
  }
  return null;
}

/**
 * Put `offer.code` into the cell linked to the source cell at `sourceIndex`: replace its code,
 * keep it when edited by hand, insert one below when there is none (or adopt the cell
 * `set_next_input` just inserted). A cell `set_next_input` inserted while a linked cell exists
 * is removed. Returns what happened and the linked cell's id.
 */
export function placeCode(ops: NotebookOps, sourceIndex: number, offer: CodeOffer): { outcome: Outcome; cellId: string } {
  let cells = ops.cells();
  const source = cells[sourceIndex];
  const hash = codeHash(offer.code);
  const next = cells[sourceIndex + 1];
  let fresh =
    offer.inserted && next && next.source === offer.code && ours(next.metadata).inserted_by === undefined
      ? sourceIndex + 1
      : -1;
  const linkedAt = (): number => {
    const all = cells
      .map((c, i) => ({ c, i }))
      .filter(({ c, i }) => i !== fresh && i !== sourceIndex && ours(c.metadata).inserted_by === source.id);
    return (all.find(({ i }) => i > sourceIndex) ?? all[0])?.i ?? -1;
  };
  let at = linkedAt();
  let outcome: Outcome;
  if (at >= 0) {
    if (fresh >= 0) {
      ops.remove(fresh);
      fresh = -1;
      cells = ops.cells();
      at = linkedAt();
    }
    const linked = cells[at];
    const meta = ours(linked.metadata);
    if (meta.code_hash !== codeHash(linked.source)) {
      outcome = 'kept';
    } else if (linked.source === offer.code) {
      outcome = 'unchanged';
    } else {
      ops.setSource(at, offer.code);
      ops.setMeta(at, { ...meta, inserted_by: source.id, code_hash: hash });
      outcome = 'replaced';
    }
  } else if (fresh >= 0) {
    at = fresh;
    ops.setMeta(at, { ...ours(cells[at].metadata), inserted_by: source.id, code_hash: hash });
    outcome = 'inserted';
  } else {
    at = sourceIndex + 1;
    ops.insert(at, offer.code, { trusted: false, [META_KEY]: { inserted_by: source.id, code_hash: hash } });
    outcome = 'linked';
  }
  cells = ops.cells();
  const cellId = cells[at].id;
  const src = cells.findIndex(c => c.id === source.id);
  if (ours(cells[src].metadata).code_cell !== cellId) {
    ops.setMeta(src, { ...ours(cells[src].metadata), code_cell: cellId });
  }
  return { outcome, cellId };
}

/** What the source cell says once the code is placed. */
export function outcomeMessage(outcome: Outcome): string {
  switch (outcome) {
    case 'inserted':
    case 'linked':
      return "-f code: inserted the answer's code as a new cell below; re-running this cell replaces that cell's code";
    case 'replaced':
      return "-f code: replaced the code of the cell below (the cell an earlier run inserted) with this answer's code";
    case 'unchanged':
      return '-f code: the cell below already holds this code: nothing changed';
    case 'kept':
      return (
        '-f code: the cell below was edited by hand since it was inserted: kept your edits, nothing replaced ' +
        "(the new code is in the answer above; delete that cell and re-run this one to insert it)"
      );
  }
}

/** The offer's output once carried out: the outcome as its text (and in its data). */
export function doneOutput(offer: CodeOffer, outcome: Outcome, cellId: string): Record<string, unknown> {
  return {
    output_type: 'display_data',
    metadata: {},
    data: {
      'text/plain': outcomeMessage(outcome),
      [CODE_CELL_MIME]: {
        version: 1,
        code: offer.code,
        inserted: offer.inserted,
        source_cell: offer.sourceCell,
        outcome,
        cell: cellId
      }
    }
  };
}
