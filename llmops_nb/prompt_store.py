"""The MLflow Prompt Registry behind :mod:`llmops_nb.prompts` (the tracking adapter's second half).

One MLflow prompt version per content version: a version carries its content hash, default
model and parameters as version tags, chat templates as MLflow chat templates (so
``mlflow.genai.load_prompt("prompts:/name@alias")`` works on them), aliases as MLflow aliases,
and each alias's earlier targets as a prompt tag (for ``rollback``). A small local index maps
each prompt to its latest known version, so re-registering unchanged content needs no round
trip to the store.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from llmops_nb.errors import PromptError, PromptNotFound
from llmops_nb.prompt_version import PromptVersion, content_hash

TAG = "llmops."
HISTORY = TAG + "alias_history."


def _is_missing(exc: Exception) -> bool:
    return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in str(exc).lower()


class MlflowPromptStore:
    """Prompt versions in the tracking store's registry, with a local index of latest versions."""

    def __init__(self, tracking_uri: str, index_path: Path) -> None:
        self.tracking_uri = tracking_uri
        self.index_path = index_path
        self._client: Any = None
        self._lock = threading.RLock()
        self._index: dict[str, dict[str, Any]] = self._read_index()

    @property
    def client(self) -> Any:
        if self._client is None:
            from llmops_nb.mlflow_setup import import_mlflow as _import_mlflow

            mlflow = _import_mlflow()
            self._client = mlflow.MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    # -- local index -----------------------------------------------------------------------
    def _read_index(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _remember(self, v: PromptVersion) -> None:
        with self._lock:
            known = self._index.get(v.name)
            if known and known["version"] > v.version:
                return
            self._index[v.name] = {"version": v.version, "parts": v.parts, "hash": v.content_hash,
                                   "message": v.message, "aliases": list(v.aliases), "model": v.model,
                                   "params": dict(v.params), "created_at_ms": v.created_at_ms}
            self.index_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.index_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._index), encoding="utf-8")
            os.replace(tmp, self.index_path)

    def latest_known(self, name: str, digest: str) -> PromptVersion | None:
        """The latest version this machine has seen, if its content hash is ``digest``."""
        entry = self._index.get(name)
        if not entry or entry["hash"] != digest:
            return None
        return PromptVersion(name, entry["version"], tuple((p[0], p[1]) for p in entry["parts"]),
                             entry["hash"], entry["message"], tuple(entry["aliases"]), entry["model"],
                             entry["params"], entry["created_at_ms"])

    # -- reads -----------------------------------------------------------------------------
    def _ours(self, pv: Any) -> PromptVersion:
        tags = dict(pv.tags or {})
        template = pv.template
        if isinstance(template, list):
            parts = tuple((str(m["role"]), str(m["content"])) for m in template)
        else:
            parts = (("user", str(template)),)
        model = tags.get(TAG + "model") or None
        params = json.loads(tags.get(TAG + "params", "{}"))
        digest = tags.get(TAG + "content_hash") or content_hash(parts, model, params)
        v = PromptVersion(pv.name, int(pv.version), parts, digest, pv.commit_message or None,
                          tuple(pv.aliases or ()), model, params, pv.creation_timestamp)
        return v

    def _versions_raw(self, name: str) -> list[Any]:
        try:
            page = self.client.search_prompt_versions(name, max_results=1000)
        except Exception as exc:
            if _is_missing(exc):
                return []
            raise
        return sorted(getattr(page, "prompt_versions", page), key=lambda pv: int(pv.version))

    def _aliases(self, name: str) -> dict[int, tuple[str, ...]]:
        """version → aliases. MLflow's version search leaves aliases out, so they are looked up
        by name (the aliases this package has set are listed in the prompt's tags)."""
        try:
            tags = self.client.get_prompt(name).tags or {}
        except Exception:
            return {}
        out: dict[int, list[str]] = {}
        for key in tags:
            if key.startswith(HISTORY):
                alias = key[len(HISTORY):]
                try:
                    out.setdefault(int(self.client.get_prompt_version_by_alias(name, alias).version), []).append(alias)
                except Exception:  # alias deleted in MLflow directly
                    continue
        return {v: tuple(sorted(a)) for v, a in out.items()}

    def versions(self, name: str) -> list[PromptVersion]:
        raw = self._versions_raw(name)
        aliases = self._aliases(name) if raw else {}
        out = [replace(self._ours(pv), aliases=aliases.get(int(pv.version), ())) for pv in raw]
        if out:
            self._remember(out[-1])
        return out

    def latest(self, name: str) -> PromptVersion | None:
        found = self.versions(name)
        return found[-1] if found else None

    def get(self, name: str, version: int) -> PromptVersion:
        try:
            v = self._ours(self.client.get_prompt_version(name, version))
        except Exception as exc:
            if not _is_missing(exc):
                raise
            known = [v.version for v in self.versions(name)]
            where = f"it has versions {known[0]}–{known[-1]}" if known else "there is no such prompt"
            raise PromptNotFound(f"{name}@{version} does not exist: {where}") from None
        self._remember(v)
        return v

    def by_alias(self, name: str, alias: str) -> PromptVersion:
        try:
            return self._ours(self.client.get_prompt_version_by_alias(name, alias))
        except Exception as exc:
            if not _is_missing(exc):
                raise
            aliases = sorted({a for v in self.versions(name) for a in v.aliases})
            raise PromptNotFound(f"{name} has no alias {alias!r} (aliases: {', '.join(aliases) or 'none'}); "
                                 f"set one with %llm alias {name} {alias} VERSION") from None

    def latest_of_all(self) -> list[PromptVersion]:
        prompts = self.client.search_prompts(max_results=1000)
        out = [self.latest(p.name) for p in prompts]
        return sorted((v for v in out if v is not None), key=lambda v: v.name)

    # -- writes ----------------------------------------------------------------------------
    def create(self, name: str, parts: tuple[tuple[str, str], ...], digest: str, message: str | None,
               model: str | None, params: dict[str, Any]) -> PromptVersion:
        template: Any = parts[0][1] if len(parts) == 1 and parts[0][0] == "user" else \
            [{"role": r, "content": c} for r, c in parts]
        tags = {TAG + "content_hash": digest, TAG + "params": json.dumps(params, sort_keys=True)}
        if model:
            tags[TAG + "model"] = model
        pv = self.client.register_prompt(name, template, commit_message=message, tags=tags)
        v = self._ours(pv)
        self._remember(v)
        return v

    def _history(self, name: str, alias: str) -> list[int]:
        tags = self.client.get_prompt(name).tags or {}
        return [int(x) for x in json.loads(tags.get(HISTORY + alias, "[]"))]

    def set_alias(self, name: str, alias: str, version: int) -> None:
        history = self._history(name, alias)
        if not history or history[-1] != version:
            history.append(version)
        self.client.set_prompt_alias(name, alias, version)
        self.client.set_prompt_tag(name, HISTORY + alias, json.dumps(history[-50:]))

    def rollback(self, name: str, alias: str) -> PromptVersion:
        current = self.by_alias(name, alias)
        history = self._history(name, alias)
        if history and history[-1] == current.version:
            history.pop()
        if not history:
            raise PromptError(f"{name}@{alias} has no earlier version to roll back to; "
                              f"point it explicitly with %llm alias {name} {alias} VERSION")
        self.client.set_prompt_alias(name, alias, history[-1])
        self.client.set_prompt_tag(name, HISTORY + alias, json.dumps(history))
        return self.get(name, history[-1])
