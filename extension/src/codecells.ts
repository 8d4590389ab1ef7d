/**
 * Applies codecell.ts to a live notebook: after a cell ran, if one of its outputs offers
 * `-f code` code, place it (one transaction: one undo step) and say what happened in that
 * output. Only cell sources, cell metadata and the output's text change; nothing here touches
 * the DOM.
 */
import { Notebook } from '@jupyterlab/notebook';

import { CellView, META_KEY, NotebookOps, doneOutput, findOffer, placeCode } from './codecell';

type Cell = Notebook['widgets'][number];

/** The part of a code cell's output model used here. */
interface Outputs {
  toJSON(): unknown[];
  set(index: number, output: never): void;
}

export function placeCodeInNotebook(notebook: Notebook, cell: Cell): void {
  const model = notebook.model;
  if (!model || cell.model.type !== 'code' || cell.isDisposed) {
    return;
  }
  const outputs = (cell.model as unknown as { outputs: Outputs }).outputs;
  const found = findOffer(outputs.toJSON());
  if (!found) {
    return;
  }
  const shared = model.sharedModel;
  const sourceIndex = shared.cells.findIndex(c => c.getId() === cell.model.sharedModel.getId());
  if (sourceIndex < 0) {
    return;
  }
  const ops: NotebookOps = {
    cells: (): CellView[] =>
      shared.cells.map(c => ({
        id: c.getId(),
        source: c.getSource(),
        metadata: (c.getMetadata() ?? {}) as Record<string, unknown>
      })),
    insert: (index, source, metadata) =>
      shared.insertCell(index, { cell_type: 'code', source, metadata: metadata as never }).getId(),
    remove: index => shared.deleteCell(index),
    setSource: (index, source) => shared.cells[index].setSource(source),
    setMeta: (index, value) => shared.cells[index].setMetadata(META_KEY, value as never)
  };
  let result: ReturnType<typeof placeCode> | null = null;
  shared.transact(() => {
    result = placeCode(ops, sourceIndex, found.offer);
  });
  if (result !== null) {
    const { outcome, cellId } = result as ReturnType<typeof placeCode>;
    outputs.set(found.index, doneOutput(found.offer, outcome, cellId) as never);
  }
}
