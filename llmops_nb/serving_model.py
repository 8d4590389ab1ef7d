"""The MLflow model that :func:`llmops_nb.serving.log_pipeline` logs (a model from code).

MLflow loads this file in the serving process and calls :meth:`PipelineModel.predict` for every
``POST /invocations``; the pipeline's configuration is the model's ``model_config`` (JSON).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel

from llmops_nb.prompts import PromptVersion


class PipelineModel(PythonModel):
    """Chat requests in, OpenAI chat-completion answers out, through llmops_nb's pipeline."""

    def load_context(self, context: Any) -> None:
        from llmops_nb.serving import policy_from_config
        from llmops_nb.session import configure

        cfg = dict(context.model_config or {})
        self.cfg = cfg
        tracking_uri = (os.environ.get("LLMOPS_SERVE_TRACKING_URI") or os.environ.get("MLFLOW_TRACKING_URI")
                        or cfg["tracking_uri"])
        configure(
            tracking_uri=tracking_uri, experiment=os.environ.get("LLMOPS_EXPERIMENT") or cfg["experiment"],
            guardrails=policy_from_config(cfg["guard"]), cache_mode=cfg["cache_mode"],
            cache_url=os.environ.get("LLMOPS_CACHE_URL") or cfg.get("cache_url"), cache_ttl_s=cfg.get("cache_ttl_s"),
            routes=cfg["routes"], default_route=cfg.get("default_route"), retries=cfg["retries"],
            breaker_threshold=cfg["breaker_threshold"], rate_limits=cfg["rate_limits"],
            live_stream=False)

    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201 - MLflow's signature
        request = _as_request(model_input)
        try:
            return self.answer(request, params or {})
        except BaseException:
            _blank(model_input)  # MLflow echoes the request in its error message: never a secret
            raise

    def answer(self, request: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        from llmops_nb.errors import LLMOpsError
        from llmops_nb.pipeline import complete

        messages = [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
                    for m in request.get("messages") or []]
        variables = dict(request.get("variables") or {})
        system = self.cfg.get("system")
        if messages and messages[0]["role"] == "system":
            system = "\n\n".join(filter(None, [system, messages.pop(0)["content"]]))
        prompt = self.cfg.get("prompt")
        if prompt is None and not messages:
            raise mlflow.exceptions.MlflowException.invalid_parameter_value(
                'send {"messages": [{"role": "user", "content": "…"}]}')
        call_params = {**self.cfg.get("params", {}),
                       **{k: v for k, v in {**request, **params}.items() if k in _SAMPLING}}
        what: Any = messages if prompt is None else _conversation(prompt, messages)
        try:
            c = complete(self.cfg["model"], what, system=system, variables=variables, **call_params)
        except LLMOpsError as exc:
            raise mlflow.exceptions.MlflowException.invalid_parameter_value(
                f"{type(exc).__name__}: {exc}") from None
        return _chat_completion(c)


@dataclass(frozen=True)
class Conversation(PromptVersion):
    """A prompt version followed by a request's messages, recorded as that version."""

    extra: tuple[tuple[str, str], ...] = ()

    def messages(self, namespace: Any = None, **values: Any) -> list[dict[str, str]]:
        return super().messages(namespace, **values) + [{"role": r, "content": c} for r, c in self.extra]


_SAMPLING = ("temperature", "max_tokens", "top_p", "stop", "seed")


def _conversation(prompt: dict[str, Any], messages: list[dict[str, str]]) -> Any:
    """The pinned prompt version, followed by the request's messages (sent as they are: text
    from a request is never read as a template)."""
    name, version = prompt["ref"].rsplit("@", 1)
    return Conversation(name=name, version=int(version), parts=tuple(tuple(p) for p in prompt["parts"]),
                        content_hash="", params=prompt.get("params") or {},
                        extra=tuple((m["role"], m["content"]) for m in messages))


def _blank(value: Any) -> None:
    """Replace the text of a request, in place, by ``…`` (keys and roles stay)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in list(items):
        if isinstance(item, str) and key != "role":
            value[key] = "…"
        else:
            _blank(item)


def _as_request(model_input: Any) -> dict[str, Any]:
    """The request as a dict, whichever way MLflow handed it over (dict, records, DataFrame)."""
    if isinstance(model_input, dict):
        return model_input
    if isinstance(model_input, list) and model_input and isinstance(model_input[0], dict):
        return model_input[0]
    to_dict = getattr(model_input, "to_dict", None)
    if to_dict is not None:
        records = to_dict(orient="records")
        return records[0] if records else {}
    raise mlflow.exceptions.MlflowException.invalid_parameter_value("expected a JSON object with messages")


def _chat_completion(c: Any) -> dict[str, Any]:
    input_tokens, output_tokens = c.usage.input_tokens, c.usage.output_tokens
    return {
        "id": "chatcmpl-" + c.trace_id.removeprefix("tr-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": c.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": c.text},
                     "finish_reason": c.finish_reason or "stop"}],
        "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                  "total_tokens": input_tokens + output_tokens,
                  "prompt_tokens_details": {"cached_tokens": c.usage.cache_read_tokens}},
        "llmops": {"trace_id": c.trace_id, "cost_usd": c.cost_usd, "cached": c.cached, "prompt": c.prompt,
                   "latency_ms": round(c.latency_s * 1000, 3),
                   "findings": [{"type": f.type, "action": f.action} for f in c.findings]},
    }


mlflow.models.set_model(PipelineModel())
