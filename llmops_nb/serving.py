"""Serve what was tuned in a notebook: ``log_pipeline()`` logs it as an MLflow model.

``log_pipeline("support-bot", prompt="summarize@production", model="route:balanced",
guard="strict", cache=True)`` writes an MLflow pyfunc model (logged *from code*: the model is
:mod:`llmops_nb.serving_model` plus a JSON configuration — nothing is pickled) and registers it
under ``name``; it returns ``models:/<name>/<version>``. Then::

    MLFLOW_TRACKING_URI=<the same store> mlflow models serve -m models:/support-bot/1 --env-manager local

serves ``POST /invocations`` with ``{"messages": [{"role": "user", "content": "…"}]}`` (and
``"variables": {…}`` for a prompt with variables), answering in OpenAI's chat-completion shape
with ``usage``. Every served request goes through the same pipeline as a notebook call:
guardrails, cache, routing with its fallbacks and breakers, recording as an MLflow trace.

What is pinned at logging time: the prompt version (an alias is resolved to its version then,
so a served model never changes under its users; log again to follow the alias), the model or
route (a route's definition is copied with it), the guardrail policy and the cache policy. The
tracking store for the served calls is the logging session's, unless the serving process sets
``MLFLOW_TRACKING_URI`` (or ``LLMOPS_SERVE_TRACKING_URI``) itself. No key is ever written into
the model: the serving process reads its provider keys from its own environment.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from llmops_nb.errors import ConfigError

_UNSET: Any = object()
_uri_lock = threading.Lock()


def policy_config(guard: Any) -> Any:
    """A guardrail policy as JSON: a preset's name, or a custom policy's actions and thresholds."""
    from llmops_nb.guardrails.policy import PRESETS, Policy

    if guard is None or guard is False:
        return "off"
    if isinstance(guard, str):
        if guard not in PRESETS:
            raise ConfigError(f"unknown guardrail policy {guard!r}: use one of {', '.join(PRESETS)} or a Policy(...)")
        return guard
    if isinstance(guard, Policy):
        if guard.name in PRESETS and guard == PRESETS[guard.name]:
            return guard.name
        patterns = None
        if guard.patterns is not None:
            p = guard.patterns
            patterns = {"substrings": _plain(p.substrings), "regexes": _plain(p.regexes),
                        "case_sensitive": p.case_sensitive, "whole_word": p.whole_word}
        return {"name": guard.name, "actions": dict(guard.actions), "thresholds": dict(guard.thresholds),
                "max_chars": guard.max_chars, "patterns": patterns}
    raise ConfigError(f"guard must be a preset name, a Policy or None, not {type(guard).__name__}")


def _plain(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else list(value)


def policy_from_config(value: Any) -> Any:
    """The inverse of :func:`policy_config`."""
    from llmops_nb.guardrails.patterns import BlockedPatterns
    from llmops_nb.guardrails.policy import Policy, get_policy

    if isinstance(value, str):
        return get_policy(value)
    patterns = value.get("patterns")
    if patterns is not None:
        patterns = BlockedPatterns(
            substrings=patterns["substrings"] if isinstance(patterns["substrings"], dict) else tuple(patterns["substrings"]),
            regexes=patterns["regexes"] if isinstance(patterns["regexes"], dict) else tuple(patterns["regexes"]),
            case_sensitive=patterns["case_sensitive"], whole_word=patterns["whole_word"])
    return Policy(value["name"], actions=value["actions"], thresholds=value["thresholds"],
                  max_chars=value["max_chars"], patterns=patterns)


def pipeline_config(*, prompt: Any = None, model: str | None = None, guard: Any = _UNSET,
                    cache: bool | str = True, system: str | None = None,
                    params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON configuration a served pipeline runs with (see the module docstring)."""
    from llmops_nb import prompts
    from llmops_nb.pipeline import prepare
    from llmops_nb.routing import route_entries
    from llmops_nb.session import session

    settings = session().settings
    version = prompts.get(prompt) if prompt is not None else None
    model = model or (version.model if version is not None else None) or settings.default_model
    if model.startswith("route:"):
        if model != "route:auto":
            route_entries(model[len("route:"):], settings)  # an unknown route fails here
    else:
        prepare(model, "ping")  # an unknown provider or a missing key fails here, not in the server
    cache_mode = {True: settings.cache_mode, False: "off"}.get(cache, cache) if isinstance(cache, bool) else cache
    if cache_mode not in ("readwrite", "replay", "off"):
        raise ConfigError(f"cache must be True, False, 'readwrite', 'replay' or 'off', not {cache!r}")
    return {
        "version": 1,
        "model": model,
        "prompt": None if version is None else {
            "ref": version.ref, "requested": str(prompt) if not isinstance(prompt, prompts.PromptVersion) else version.ref,
            "parts": [list(p) for p in version.parts], "variables": version.variables,
            "params": dict(version.params)},
        "system": system,
        "params": dict(params or {}),
        "guard": policy_config(settings.guardrails if guard is _UNSET else guard),
        "cache_mode": cache_mode,
        "cache_url": settings.cache_url,
        "cache_ttl_s": settings.cache_ttl_s,
        "routes": dict(settings.routes),
        "default_route": settings.default_route,
        "retries": settings.retries,
        "breaker_threshold": settings.breaker_threshold,
        "rate_limits": dict(settings.rate_limits),
        "tracking_uri": settings.tracking_uri,
        "experiment": settings.experiment,
    }


@contextlib.contextmanager
def _global_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's model logging reads the global tracking and registry URIs; point them at our
    store for the duration only, then put back exactly what was there — MLflow's module state
    and the environment variables its setters write (which kernels and subprocesses inherit)."""
    import os

    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    with _uri_lock:
        env = {name: os.environ.get(name) for name in names}
        state = (tracking_utils._tracking_uri, registry_utils._registry_uri)
        try:
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            yield
        finally:
            tracking_utils._tracking_uri, registry_utils._registry_uri = state
            for name, value in env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def log_pipeline(name: str, *, prompt: Any = None, model: str | None = None, guard: Any = _UNSET,
                 cache: bool | str = True, system: str | None = None,
                 params: Mapping[str, Any] | None = None) -> str:
    """Log the tuned pipeline as an MLflow model registered as ``name``; returns its model URI.

    ``prompt``: a registered prompt (``"name@alias"``, ``"name@3"``, a :class:`PromptVersion`) or
    None (requests' messages are sent as they are). ``model``: ``provider:model`` or
    ``route:NAME`` (default: the prompt's model, else the configured default). ``guard``: a
    preset name or :class:`~llmops_nb.guardrails.Policy` (default: the configured one).
    ``cache``: True (the configured cache mode and backend), False, or a mode.
    """
    import mlflow

    from llmops_nb import __version__
    from llmops_nb.prompts import name_checked
    from llmops_nb.session import session

    name_checked(name)
    config = pipeline_config(prompt=prompt, model=model, guard=guard, cache=cache, system=system, params=params)
    uri = session().settings.tracking_uri
    code = Path(__file__).with_name("serving_model.py")
    with _global_tracking_uri(uri), warnings.catch_warnings():
        # the model takes chat JSON, which MLflow's type-hint validation does not describe
        warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method")
        info = mlflow.pyfunc.log_model(
            name=name, python_model=str(code), model_config=config, registered_model_name=name,
            pip_requirements=[f"llmops-nb=={__version__}", f"mlflow=={mlflow.__version__}"],
            metadata={"llmops_nb.prompt": (config["prompt"] or {}).get("ref"), "llmops_nb.model": config["model"],
                      "llmops_nb.guard": config["guard"] if isinstance(config["guard"], str) else "custom"},
        )
    version = info.registered_model_version
    return f"models:/{name}/{version}" if version is not None else info.model_uri
