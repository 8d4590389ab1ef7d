/**
 * llmops-nb: `%%llm` / `%%prompt` highlighting, the session's LLM spend in the status bar, and
 * an "LLM calls" sidebar. Data comes from the `llmops_nb` metadata of the magics' outputs, read
 * off each notebook kernel's iopub channel; the whole-store view asks the optional server
 * extension. Without this extension everything in the Python package works the same.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IEditorExtensionRegistry, EditorExtensionRegistry } from '@jupyterlab/codemirror';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';

import { placeCodeInNotebook } from './codecells';
import { llmMagicHighlighting } from './highlight';
import { CallStore } from './store';
import { CallsPanel, SpendStatus } from './widgets';

const OPEN_CALLS = 'llmops-nb:open-calls';

const llmIcon = new LabIcon({
  name: 'llmops-nb:calls',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<path d="M4 4h16v12H7l-3 3z" fill-opacity=".25"/><path d="M4 4h16v12H7l-3 3zm2 2v8.2L6.2 14H18V6z"/>' +
    '<circle cx="9" cy="10" r="1.3"/><circle cx="12" cy="10" r="1.3"/><circle cx="15" cy="10" r="1.3"/></g></svg>'
});

const highlighting: JupyterFrontEndPlugin<void> = {
  id: 'llmops-nb:highlighting',
  description: 'Highlights %%llm and %%prompt cells: model id, options and {{variables}}; the body as prose.',
  autoStart: true,
  requires: [IEditorExtensionRegistry],
  activate: (_app: JupyterFrontEnd, registry: IEditorExtensionRegistry) => {
    registry.addExtension({
      name: 'llmops-nb:llm-magic',
      factory: () => EditorExtensionRegistry.createImmutableExtension(llmMagicHighlighting())
    });
  }
};

const calls: JupyterFrontEndPlugin<void> = {
  id: 'llmops-nb:calls',
  description: 'The LLM spend of the current notebook in the status bar and an "LLM calls" sidebar.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [IStatusBar, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    statusBar: IStatusBar | null,
    labShell: ILabShell | null
  ) => {
    const store = new CallStore(tracker);
    const panel = new CallsPanel(store);
    panel.title.icon = llmIcon;
    app.shell.add(panel, 'right', { rank: 900 });

    app.commands.addCommand(OPEN_CALLS, {
      label: 'Show LLM calls',
      execute: () => app.shell.activateById(panel.id)
    });

    if (statusBar) {
      const item = new SpendStatus(store, () => void app.commands.execute(OPEN_CALLS));
      statusBar.registerStatusItem('llmops-nb:spend', {
        item,
        align: 'left',
        rank: 10,
        isActive: () => !labShell || tracker.currentWidget !== null,
        activeStateChanged: store.activeChanged
      });
    }
  }
};

const codeCells: JupyterFrontEndPlugin<void> = {
  id: 'llmops-nb:code-cells',
  description: '`%%llm -f code`: the answer goes into one cell below; re-running replaces that cell.',
  autoStart: true,
  activate: () => {
    NotebookActions.executed.connect((_, { notebook, cell, success }) => {
      if (success) {
        placeCodeInNotebook(notebook, cell);
      }
    });
  }
};

export default [highlighting, calls, codeCells];
