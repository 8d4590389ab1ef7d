import { describe, expect, it } from 'vitest';

import {
  CODE_CELL_MIME,
  CellView,
  CodeOffer,
  META_KEY,
  NotebookOps,
  codeHash,
  doneOutput,
  findOffer,
  outcomeMessage,
  placeCode
} from '../src/codecell';

/** A notebook as an array of cells; what JupyterLab's set_next_input does, done by hand. */
class FakeNotebook implements NotebookOps {
  private n = 0;
  list: CellView[];
  constructor(...sources: string[]) {
    this.list = sources.map(s => this.cell(s));
  }
  private cell(source: string, metadata: Record<string, unknown> = {}): CellView {
    return { id: `c${this.n++}`, source, metadata: { ...metadata } };
  }
  cells(): CellView[] {
    return this.list.map(c => ({ ...c, metadata: { ...c.metadata } }));
  }
  insert(index: number, source: string, metadata: Record<string, unknown>): string {
    const c = this.cell(source, metadata);
    this.list.splice(index, 0, c);
    return c.id;
  }
  remove(index: number): void {
    this.list.splice(index, 1);
  }
  setSource(index: number, source: string): void {
    this.list[index].source = source;
  }
  setMeta(index: number, value: Record<string, unknown>): void {
    this.list[index].metadata = { ...this.list[index].metadata, [META_KEY]: value };
  }
  /** IPython's set_next_input(code) as JupyterLab handles it: a new cell below. */
  setNextInput(sourceIndex: number, code: string): void {
    this.list.splice(sourceIndex + 1, 0, this.cell(code, { trusted: false }));
  }
  /** One run of the source cell as the kernel does it: insert unless the cell is linked. */
  run(sourceIndex: number, code: string): ReturnType<typeof placeCode> {
    const linked = typeof (this.list[sourceIndex].metadata[META_KEY] as Record<string, unknown> | undefined)?.code_cell === 'string';
    if (!linked) {
      this.setNextInput(sourceIndex, code);
    }
    const offer: CodeOffer = { code, inserted: !linked, sourceCell: this.list[sourceIndex].id };
    return placeCode(this, sourceIndex, offer);
  }
  get sources(): string[] {
    return this.list.map(c => c.source);
  }
}

describe('placeCode', () => {
  it('first run links the cell set_next_input inserted, re-runs replace it (Run All keeps 4 cells)', () => {
    const nb = new FakeNotebook('%load_ext llmops_nb', '%%llm sim:coder -f code\nwrite code', 'print("end")');
    expect(nb.run(1, 'x = 1').outcome).toBe('inserted');
    expect(nb.sources).toEqual(['%load_ext llmops_nb', '%%llm sim:coder -f code\nwrite code', 'x = 1', 'print("end")']);
    const inserted = nb.list[2];
    expect(nb.list[1].metadata[META_KEY]).toEqual({ code_cell: inserted.id });
    expect(inserted.metadata[META_KEY]).toEqual({ inserted_by: nb.list[1].id, code_hash: codeHash('x = 1') });
    expect(inserted.metadata.trusted).toBe(false);

    const second = nb.run(1, 'x = 2');
    expect(second).toEqual({ outcome: 'replaced', cellId: inserted.id });
    expect(nb.sources).toEqual(['%load_ext llmops_nb', '%%llm sim:coder -f code\nwrite code', 'x = 2', 'print("end")']);
    expect(nb.run(1, 'x = 2').outcome).toBe('unchanged');
    expect(nb.run(1, 'x = 3').outcome).toBe('replaced');
    expect(nb.list).toHaveLength(4);
    expect(nb.list[2].id).toBe(inserted.id);
  });

  it('keeps a linked cell edited by hand and says so', () => {
    const nb = new FakeNotebook('%%llm sim:coder -f code\nwrite code');
    nb.run(0, 'x = 1');
    nb.setSource(1, 'x = 1  # mine');
    expect(nb.run(0, 'x = 2').outcome).toBe('kept');
    expect(nb.sources).toEqual(['%%llm sim:coder -f code\nwrite code', 'x = 1  # mine']);
    expect(outcomeMessage('kept')).toMatch(/edited by hand.*kept your edits/);
  });

  it('inserts a new linked cell when the linked one was deleted', () => {
    const nb = new FakeNotebook('%%llm sim:coder -f code\nwrite code', 'tail');
    nb.run(0, 'x = 1');
    nb.remove(1);
    const again = nb.run(0, 'x = 1'); // linked: the kernel inserted nothing
    expect(again.outcome).toBe('linked');
    expect(nb.sources).toEqual(['%%llm sim:coder -f code\nwrite code', 'x = 1', 'tail']);
    expect(nb.list[0].metadata[META_KEY]).toEqual({ code_cell: again.cellId });
    expect(nb.run(0, 'x = 5').outcome).toBe('replaced');
    expect(nb.list).toHaveLength(3);
  });

  it('removes a cell set_next_input inserted while a linked cell exists (link lost on the source)', () => {
    const nb = new FakeNotebook('%%llm sim:coder -f code\nwrite code');
    nb.run(0, 'x = 1');
    nb.list[0].metadata = {}; // e.g. the kernel-side link was not sent
    expect(nb.run(0, 'x = 2').outcome).toBe('replaced');
    expect(nb.sources).toEqual(['%%llm sim:coder -f code\nwrite code', 'x = 2']);
  });

  it('finds its own linked cell among several -f code cells, and a moved one', () => {
    const nb = new FakeNotebook('%%llm a -f code\n1', '%%llm b -f code\n2');
    nb.run(0, 'a = 1');
    nb.run(2, 'b = 1');
    expect(nb.sources).toEqual(['%%llm a -f code\n1', 'a = 1', '%%llm b -f code\n2', 'b = 1']);
    nb.run(0, 'a = 2');
    nb.run(2, 'b = 2');
    expect(nb.sources).toEqual(['%%llm a -f code\n1', 'a = 2', '%%llm b -f code\n2', 'b = 2']);
    const [moved] = nb.list.splice(1, 1); // the user moves a's cell to the end
    nb.list.push(moved);
    expect(nb.run(0, 'a = 3').outcome).toBe('replaced');
    expect(nb.sources).toEqual(['%%llm a -f code\n1', '%%llm b -f code\n2', 'b = 2', 'a = 3']);
  });

  it('does not adopt a cell below that happens to hold the same code but was not just inserted', () => {
    const nb = new FakeNotebook('%%llm a -f code\n1', 'x = 1');
    nb.list[0].metadata = { [META_KEY]: { code_cell: 'gone' } }; // linked to a deleted cell
    const r = placeCode(nb, 0, { code: 'x = 1', inserted: false, sourceCell: 'c0' });
    expect(r.outcome).toBe('linked');
    expect(nb.sources).toEqual(['%%llm a -f code\n1', 'x = 1', 'x = 1']);
    expect(nb.list[2].metadata).toEqual({}); // the user's own cell untouched
  });
});

describe('findOffer / doneOutput', () => {
  const offerOutput = {
    output_type: 'display_data',
    metadata: {},
    data: { 'text/plain': 'msg', [CODE_CELL_MIME]: { version: 1, code: 'x = 1', inserted: true, source_cell: 'c0' } }
  };

  it('reads the kernel offer and skips outputs already carried out', () => {
    const outputs = [{ output_type: 'stream', name: 'stdout', text: 'hi' }, offerOutput];
    expect(findOffer(outputs)).toEqual({ offer: { code: 'x = 1', inserted: true, sourceCell: 'c0' }, index: 1 });
    const done = doneOutput({ code: 'x = 1', inserted: true, sourceCell: 'c0' }, 'replaced', 'c9');
    expect(findOffer([done])).toBeNull();
    expect((done.data as Record<string, unknown>)['text/plain']).toBe(outcomeMessage('replaced'));
    expect(findOffer([{ output_type: 'display_data', data: { [CODE_CELL_MIME]: { code: 7 } } }, null])).toBeNull();
  });

  it('hashes differ for different code', () => {
    expect(codeHash('x = 1')).not.toBe(codeHash('x = 2'));
    expect(codeHash('')).toBe(codeHash(''));
  });
});
