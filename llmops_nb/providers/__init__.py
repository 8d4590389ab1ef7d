"""Providers behind ``provider:model`` ids; see :mod:`llmops_nb.providers.base`."""

from llmops_nb.providers.base import (
    Final,
    Provider,
    TextDelta,
    get_provider,
    provider_names,
    register_endpoint,
    register_provider,
    split_model_id,
    unregister_provider,
)

__all__ = [
    "Final",
    "Provider",
    "TextDelta",
    "get_provider",
    "provider_names",
    "register_endpoint",
    "register_provider",
    "split_model_id",
    "unregister_provider",
]
