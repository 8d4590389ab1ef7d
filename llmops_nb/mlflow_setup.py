"""Importing mlflow the way this package needs it: no network price catalog, no INFO lines
about database migrations in whichever cell runs, no traceback per failed write from the
recorder's thread. Below the tracking adapter and the prompt registry, which both import
mlflow through :func:`import_mlflow`.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any


class NotFromRecorder(logging.Filter):
    """MLflow logs a full traceback for every failed database write. The recorder's retries
    are reported once per outage (:mod:`llmops_nb.recording`), so from its thread these
    tracebacks would only flood whichever cell is running; other threads keep them."""

    def filter(self, record: logging.LogRecord) -> bool:
        from llmops_nb.recording import THREAD_NAME

        return record.threadName != THREAD_NAME


def import_mlflow() -> Any:
    # Never wait on a network price catalog: our records always bring their own cost.
    os.environ.setdefault("MLFLOW_MODEL_CATALOG_URI", "")
    # Known warnings of mlflow's own imports that would otherwise break writes under -W error.
    warnings.filterwarnings("ignore", r"The ``noload`` loader strategy is deprecated")
    warnings.filterwarnings("ignore", r".*Any type hint is inferred as AnyType", UserWarning)
    # MLflow announces database creation and migrations at INFO; from our background thread
    # those lines would land in whichever notebook cell happens to be running.
    for name in ("mlflow.store.db.utils", "alembic.runtime.migration", "mlflow.tracking._tracking_service.client"):
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)
    db_log = logging.getLogger("mlflow.store.db.utils")
    if not any(isinstance(f, NotFromRecorder) for f in db_log.filters):
        db_log.addFilter(NotFromRecorder())
    import mlflow

    return mlflow
