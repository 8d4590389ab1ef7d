/**
 * The optional server extension (`llmops_nb.jupyter_server_ext`): calls and traces read from
 * the stores that live kernels reported. `kernel` is a kernel id (the server looks its store
 * up in its own list of live kernels); no path or URI is ever sent.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { CallInfo, callFromRow } from './model';
import { TraceDetails } from './view';

export interface StoreCalls {
  calls: CallInfo[];
  mlflowUiUrl: string | null;
  experimentId: string | null;
}

async function getJson(path: string, query: Record<string, string | null>): Promise<unknown> {
  const settings = ServerConnection.makeSettings();
  const params = Object.entries(query)
    .filter((kv): kv is [string, string] => kv[1] !== null)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  const url = URLExt.join(settings.baseUrl, 'llmops_nb', path) + (params ? `?${params}` : '');
  const response = await ServerConnection.makeRequest(url, {}, settings);
  if (!response.ok) {
    const body = await response.text();
    throw new Error(
      response.status === 404 && !body.includes('no trace') && !body.includes('no such kernel')
        ? 'the llmops_nb server extension is not enabled'
        : `server said ${response.status} ${response.statusText}`
    );
  }
  return response.json();
}

/** The latest calls of every live kernel's store (or of one kernel's), newest first. */
export async function fetchStoreCalls(limit = 100, kernel: string | null = null): Promise<StoreCalls> {
  const body = (await getJson('calls', { limit: String(limit), kernel })) as {
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

/** Where the MLflow UI is (null when none is configured) and the kernel's experiment id. */
export async function fetchConfig(
  kernel: string | null
): Promise<{ mlflowUiUrl: string | null; experimentId: string | null }> {
  const body = (await getJson('config', { kernel })) as { mlflow_ui_url?: string | null; experiment_id?: string | null };
  return { mlflowUiUrl: body.mlflow_ui_url ?? null, experimentId: body.experiment_id ?? null };
}

/**
 * A trace's prompt, answer, attempts and findings, as stored (already redacted). The kernel
 * exports traces in the background, so a call just made may take a few seconds to arrive:
 * a missing trace is asked for again, `tries` times in all.
 */
export async function fetchTrace(
  traceId: string,
  kernel: string | null,
  tries = 60,
  delayMs = 2000
): Promise<TraceDetails> {
  for (let i = 1; ; i++) {
    try {
      return (await getJson(`calls/${encodeURIComponent(traceId)}`, { kernel })) as TraceDetails;
    } catch (err) {
      if (i >= tries || !(err as Error).message.startsWith('server said 404')) {
        throw err;
      }
    }
    await new Promise(resolve => setTimeout(resolve, delayMs));
  }
}
