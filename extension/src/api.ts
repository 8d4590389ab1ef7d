/** The optional server extension (`llmops_nb.jupyter_server_ext`): the whole store's calls. */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { CallInfo, callFromRow } from './model';

export interface StoreCalls {
  calls: CallInfo[];
  mlflowUiUrl: string | null;
  experimentId: string | null;
}

export interface TraceDetails {
  request: unknown;
  response: unknown;
  attempts: unknown;
  findings: unknown;
  [key: string]: unknown;
}

async function getJson(path: string): Promise<unknown> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'llmops_nb', path);
  const response = await ServerConnection.makeRequest(url, {}, settings);
  if (!response.ok) {
    const body = await response.text();
    throw new Error(
      response.status === 404 && !body.includes('no trace')
        ? 'the llmops_nb server extension is not enabled'
        : `server said ${response.status} ${response.statusText}`
    );
  }
  return response.json();
}

/** The store's latest calls (every kernel's), newest first. */
export async function fetchStoreCalls(limit = 100): Promise<StoreCalls> {
  const body = (await getJson(`calls?limit=${limit}`)) as {
    rows: Record<string, unknown>[];
    mlflow_ui_url?: string | null;
    experiment_id?: string | null;
  };
  return {
    calls: body.rows.map(r => callFromRow(r)).filter((c): c is CallInfo => c !== null),
    mlflowUiUrl: body.mlflow_ui_url ?? null,
    experimentId: body.experiment_id ?? null
  };
}

/** Where the MLflow UI is (null when none is configured) and the experiment id. */
export async function fetchConfig(): Promise<{ mlflowUiUrl: string | null; experimentId: string | null }> {
  const body = (await getJson('config')) as { mlflow_ui_url?: string | null; experiment_id?: string | null };
  return { mlflowUiUrl: body.mlflow_ui_url ?? null, experimentId: body.experiment_id ?? null };
}

/**
 * A trace's prompt, answer, attempts and findings, as stored (already redacted). The kernel
 * exports traces in the background, so a call just made may take a few seconds to arrive:
 * a missing trace is asked for again, `tries` times in all.
 */
export async function fetchTrace(traceId: string, tries = 15, delayMs = 2000): Promise<TraceDetails> {
  for (let i = 1; ; i++) {
    try {
      return (await getJson(`calls/${encodeURIComponent(traceId)}`)) as TraceDetails;
    } catch (err) {
      if (i >= tries || !(err as Error).message.startsWith('server said 404')) {
        throw err;
      }
    }
    await new Promise(resolve => setTimeout(resolve, delayMs));
  }
}
