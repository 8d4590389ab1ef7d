"""The provider protocol and the registry that finds providers by the ``provider:`` prefix.

A provider implements one method, :meth:`Provider.generate`, which yields :class:`TextDelta`
events and ends with one :class:`Final`. Keys, timing, usage bookkeeping, caching and
recording are the framework's job (:mod:`llmops_nb.pipeline`).

Built-in providers register through the same extension point a third-party plugin uses: the
``llmops_nb.providers`` entry-point group, whose entries are factories ``(name) -> Provider``.
:func:`register_provider` adds one at run time (tests register their fakes this way), and
:func:`register_endpoint` adds a named OpenAI-compatible endpoint (vLLM, llama.cpp, LM Studio).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from llmops_nb.errors import ConfigError, UnknownProvider

# what a provider yields lives below this registry and the providers (re-exported here)
from llmops_nb.providers.events import Final as Final
from llmops_nb.providers.events import ProviderEvent as ProviderEvent
from llmops_nb.providers.events import TextDelta as TextDelta
from llmops_nb.types import Request

ENTRY_POINT_GROUP = "llmops_nb.providers"




@runtime_checkable
class Provider(Protocol):
    """What a provider is: a name, how it is keyed, its defaults, and one method."""

    name: str
    key_env: str | None  # environment variable holding the API key; None: no key
    key_required: bool
    defaults: Mapping[str, Any]  # sampling defaults, filled into every request's params
    base_url: str | None

    def generate(self, request: Request, api_key: str | None, timeout_s: float) -> Iterator[ProviderEvent]:
        """Send ``request`` and yield the answer; raise :class:`~llmops_nb.errors.ProviderError`."""
        ...


ProviderFactory = Callable[[str], Provider]


@dataclass
class _Registry:
    factories: dict[str, ProviderFactory] = field(default_factory=dict)
    instances: dict[str, Provider] = field(default_factory=dict)
    entry_points_loaded: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)


_registry = _Registry()


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Make ``name:`` model ids use the provider that ``factory(name)`` builds."""
    _check_name(name)
    with _registry.lock:
        _registry.factories[name] = factory
        _registry.instances.pop(name, None)


def unregister_provider(name: str) -> None:
    """Forget a provider registered at run time (built-ins come back on next use)."""
    with _registry.lock:
        _registry.factories.pop(name, None)
        _registry.instances.pop(name, None)
        _registry.entry_points_loaded = False


def register_endpoint(name: str, base_url: str, api_key_env: str | None = None) -> None:
    """Register an OpenAI-compatible server as ``name:`` (vLLM, llama.cpp, LM Studio …).

    ``api_key_env`` names the environment variable holding its key: while it is unset a call
    is :class:`~llmops_nb.errors.MissingAPIKey`, nothing sent. Without one the endpoint is
    called with a placeholder key, as local servers expect.
    """
    from llmops_nb.providers.openai import OpenAIProvider

    register_provider(
        name,
        lambda n: OpenAIProvider(n, base_url=base_url, key_env=api_key_env,
                                 key_required=api_key_env is not None),
    )


def _check_name(name: str) -> None:
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"provider name {name!r} must be letters, digits, '-' or '_'")


# The built-in providers (also declared as entry points, for provider_names() and plugins that
# list them): a call to one of them does not scan every installed package's entry points first
# (~10-15 ms of a fresh process's first call).
BUILTIN_FACTORIES = {
    "openai": "llmops_nb.providers.openai:openai_factory",
    "ollama": "llmops_nb.providers.openai:ollama_factory",
    "anthropic": "llmops_nb.providers.anthropic:anthropic_factory",
    "sim": "llmops_nb.providers.sim:sim_factory",
}


def _builtin_factory(name: str) -> ProviderFactory | None:
    target = BUILTIN_FACTORIES.get(name)
    if target is None:
        return None
    from importlib import import_module

    module, _, attr = target.partition(":")
    factory: ProviderFactory = getattr(import_module(module), attr)
    return factory


def _load_entry_points() -> None:
    """Add the plugins' factories. The scan of every installed package's metadata (tens of ms)
    runs outside the registry's lock, so a call in another thread is not held up by it."""
    if _registry.entry_points_loaded:
        return
    from importlib.metadata import entry_points

    found = [(ep.name, ep.load()) for ep in entry_points(group=ENTRY_POINT_GROUP)]
    with _registry.lock:
        for name, factory in found:
            _registry.factories.setdefault(name, factory)
        _registry.entry_points_loaded = True


def provider_names() -> list[str]:
    """Names of every provider known now (built-in, plugins, registered)."""
    _load_entry_points()
    with _registry.lock:
        return sorted(_registry.factories)


def get_provider(name: str) -> Provider:
    """The provider for ``name:`` model ids, built once."""
    with _registry.lock:
        if name in _registry.instances:
            return _registry.instances[name]
        if name not in _registry.factories:
            builtin = _builtin_factory(name)
            if builtin is not None:
                _registry.factories[name] = builtin
    if name not in _registry.factories:
        _load_entry_points()
    with _registry.lock:
        if name in _registry.instances:
            return _registry.instances[name]
        factory = _registry.factories.get(name)
        if factory is None:
            known = ", ".join(sorted(_registry.factories)) or "none"
            raise UnknownProvider(
                f"no provider named {name!r} (known: {known}). Register an OpenAI-compatible "
                f"server with llmops_nb.register_endpoint({name!r}, base_url=...)."
            )
        provider = factory(name)
        _registry.instances[name] = provider
        return provider


def warm(provider: Provider, api_key: str | None, timeout_s: float, request: Request | None = None) -> None:
    """Do a provider's start-up now (SDK import, client construction; with ``request``, what
    sending that request needs first: its ``warm_for``), so that it is not inside the first
    call's latency and time to first token. Best effort: a failure here is raised, mapped, by
    the call itself."""
    prepare = getattr(provider, "warm", None)
    if prepare is not None:
        with contextlib.suppress(Exception):  # the call itself reports it
            prepare(api_key, timeout_s)
    for_request = getattr(provider, "warm_for", None) if request is not None else None
    if for_request is not None:
        with contextlib.suppress(Exception):
            for_request(request)


def warm_default(timeout_s: float, default_model: str | None) -> str | None:
    """Warm the default model's provider (the one a call without a model uses); its name."""
    if not default_model or ":" not in default_model:
        return None
    name = default_model.split(":", 1)[0]
    warm_providers(timeout_s, [name])
    return name


def warm_providers(timeout_s: float, names: list[str]) -> None:
    """Warm each named provider in turn, in the calling thread. A name that is not a provider
    is left to the call, which reports it."""
    import os

    for name in names:
        try:
            p = get_provider(name)
        except Exception:  # noqa: BLE001 - the call itself reports it
            continue
        warm(p, os.environ.get(p.key_env) if p.key_env else None, timeout_s)


def any_configured() -> bool:
    """Whether some provider's API key or base URL is set: the built-in and registered ones are
    asked first, so the answer is usually known without scanning every installed package's entry
    points (~20-50 ms of CPU, under the registry's lock, which a first call in another thread
    then waits for); plugins only when none of those is."""
    import os

    for name in (*BUILTIN_FACTORIES, *list(_registry.factories)):
        try:
            p = get_provider(name)
        except Exception:  # noqa: BLE001 - a broken plugin must not stop the others
            continue
        if _is_configured(name, p, os.environ):
            return True
    return bool(configured_providers())


def _is_configured(name: str, p: Provider, environ: Mapping[str, str]) -> bool:
    return bool((p.key_env and environ.get(p.key_env)) or environ.get(f"{name.upper()}_BASE_URL"))


def configured_providers() -> list[str]:
    """The providers whose API key or base URL is set in the environment."""
    import os

    found = []
    for name in provider_names():
        try:
            p = get_provider(name)
        except Exception:  # noqa: BLE001 - a broken plugin must not stop the others
            continue
        if _is_configured(name, p, os.environ):
            found.append(name)
    return found


def warm_configured(timeout_s: float, default_model: str | None = None) -> list[str]:
    """Warm the providers this session is likely to call: the default model's, and every
    built-in or registered one whose API key or base URL is set. Returns their names."""
    configured = configured_providers()  # these were built without error
    default = (default_model or "").split(":", 1)[0] if ":" in (default_model or "") else None
    if default in provider_names() and default not in configured:
        try:
            get_provider(default)
            configured.insert(0, default)
        except Exception:  # noqa: BLE001 - a broken plugin must not stop the others
            pass
    warm_providers(timeout_s, configured)
    return configured


def providers_info() -> list[dict[str, Any]]:
    """One row per provider: name, key variable, whether it is set (never the key), base URL."""
    import os

    rows = []
    for name in provider_names():
        p = get_provider(name)
        rows.append({
            "provider": name,
            "key variable": p.key_env or "",
            "key set": bool(p.key_env and os.environ.get(p.key_env)) if p.key_env else None,
            "needs key": p.key_required,
            "base URL": p.base_url or _sdk_base_url(p.key_env),
        })
    return rows


def _sdk_base_url(key_env: str | None) -> str:
    """What an SDK provider talks to: its ``<NAME>_BASE_URL`` when set, else the SDK default."""
    import os

    if not key_env:
        return "(local)"
    variable = key_env.removesuffix("_API_KEY") + "_BASE_URL"
    return os.environ.get(variable) or f"SDK default (set {variable} to change)"


def split_model_id(model: str) -> tuple[str, str]:
    """``"openai:gpt-5.4-mini"`` → ``("openai", "gpt-5.4-mini")``; clear error otherwise."""
    if not isinstance(model, str) or ":" not in model:
        raise ConfigError(
            f"model id {model!r} must be 'provider:model', e.g. 'openai:gpt-5.4-mini', "
            f"'anthropic:claude-haiku-4-5' or 'sim:default'"
        )
    provider, _, name = model.partition(":")
    provider, name = provider.strip(), name.strip()
    if not provider or not name:
        raise ConfigError(f"model id {model!r} must be 'provider:model' with both parts")
    return provider, name
