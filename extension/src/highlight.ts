/**
 * A CodeMirror 6 extension: in a cell starting with `%%llm` or `%%prompt`, mark the magic
 * line's parts and the `{{variables}}`, and show the body as prose (Python colouring and
 * bracket marks neutralised by CSS on the body lines).
 */
import { RangeSetBuilder, Extension, Prec } from '@codemirror/state';
import { Decoration, DecorationSet, EditorView, ViewPlugin, ViewUpdate } from '@codemirror/view';

import { highlightCell } from './magic';

const marks = {
  magic: Decoration.mark({ class: 'cm-llm-magic' }),
  model: Decoration.mark({ class: 'cm-llm-model' }),
  name: Decoration.mark({ class: 'cm-llm-name' }),
  option: Decoration.mark({ class: 'cm-llm-option' }),
  value: Decoration.mark({ class: 'cm-llm-value' }),
  variable: Decoration.mark({ class: 'cm-llm-variable' })
};
const headLine = Decoration.line({ class: 'cm-llm-head' });
const proseLine = Decoration.line({ class: 'cm-llm-prose' });

/** The decorations of a document (empty unless it is an `%%llm` / `%%prompt` cell). */
export function buildDecorations(view: EditorView): DecorationSet {
  const doc = view.state.doc;
  // Only the first line decides; read the whole cell only when it is one of ours.
  if (!/^%%(llm|prompt)(\s|$)/.test(doc.line(1).text + '\n')) {
    return Decoration.none;
  }
  const found = highlightCell(doc.toString());
  if (!found) {
    return Decoration.none;
  }
  const builder = new RangeSetBuilder<Decoration>();
  // RangeSetBuilder needs ranges in order: line decorations at a line's start come first.
  const lineStarts: Array<{ pos: number; deco: Decoration }> = [];
  for (let n = 1; n <= doc.lines; n++) {
    lineStarts.push({ pos: doc.line(n).from, deco: n === 1 ? headLine : proseLine });
  }
  let li = 0;
  for (const r of found.ranges) {
    while (li < lineStarts.length && lineStarts[li].pos <= r.from) {
      builder.add(lineStarts[li].pos, lineStarts[li].pos, lineStarts[li].deco);
      li++;
    }
    if (r.to > r.from) {
      builder.add(r.from, r.to, marks[r.kind]);
    }
  }
  for (; li < lineStarts.length; li++) {
    builder.add(lineStarts[li].pos, lineStarts[li].pos, lineStarts[li].deco);
  }
  return builder.finish();
}

export const llmMagicPlugin = ViewPlugin.fromClass(
  class {
    decorations: DecorationSet;
    constructor(view: EditorView) {
      this.decorations = buildDecorations(view);
    }
    update(update: ViewUpdate): void {
      if (update.docChanged) {
        this.decorations = buildDecorations(update.view);
      }
    }
  },
  { decorations: v => v.decorations }
);

/** The editor extension JupyterLab's registry adds to every editor (inert outside our cells). */
export function llmMagicHighlighting(): Extension {
  return Prec.highest(llmMagicPlugin);
}
