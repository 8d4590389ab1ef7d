"""Fake OpenAI moderation endpoint (``POST /v1/moderations``) next to the fake Chat Completions
API: the same server, auth and error bodies as :class:`~tests.fakes.openai_server.FakeOpenAI`,
plus the moderation route in the real wire format (``{"id", "model", "results": [{"flagged",
"categories", "category_scores", "category_applied_input_types"}]}``).

Scores come from what the test queued with :meth:`FakeOpenAIModeration.scores` (one dict
``category → score`` per request, in order), else every category scores 0.001 — the server
does not judge text, the test says what the model would have said.

    with FakeOpenAIModeration() as fake:
        fake.scores({"harassment": 0.93, "harassment/threatening": 0.71})
        client = fake.client()
"""

from __future__ import annotations

from typing import Any

from .openai_server import FakeOpenAI
from .server import ErrorReply, RecordedRequest, _Handler

MODERATION_PATH = "/v1/moderations"
CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
              "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
              "violence/graphic")


class FakeOpenAIModeration(FakeOpenAI):
    """:class:`FakeOpenAI` that also answers ``POST /v1/moderations``."""

    def __init__(self) -> None:
        super().__init__()
        self._scores: list[dict[str, float]] = []

    def scores(self, *per_request: dict[str, float]) -> FakeOpenAIModeration:
        """Queue the category scores of the next moderation requests."""
        with self._lock:
            self._scores.extend(per_request)
        return self

    def check(self, http: _Handler, request: RecordedRequest) -> ErrorReply | None:
        if request.path.split("?")[0] != MODERATION_PATH:
            return super().check(http, request)
        auth = http.headers.get("authorization") or ""
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return ErrorReply(401, "You didn't provide an API key.", type="invalid_request_error", code="")
        if not isinstance(request.body, dict) or "input" not in request.body:
            return ErrorReply(400, "Missing required parameter: 'input'.", param="input",
                              code="missing_required_parameter")
        return None

    def handle(self, http: _Handler, request: RecordedRequest) -> None:
        if request.path.split("?")[0] != MODERATION_PATH:
            return super().handle(http, request)
        error = self.check(http, request) or (self.next_behaviour() if self._queue_has_error() else None)
        ids = {self.request_id_header: f"req_fake{len(self.requests):06d}"}
        if isinstance(error, ErrorReply):
            return http.send_json(error.status, self.error_body(error), {**ids, **error.response_headers()})
        with self._lock:
            given = self._scores.pop(0) if self._scores else {}
        inputs = request.body["input"]
        n = len(inputs) if isinstance(inputs, list) else 1
        http.send_json(200, self.moderation(request.body.get("model") or "omni-moderation-latest", given, n), ids)

    def _queue_has_error(self) -> bool:
        with self._lock:
            return bool(self._queue) and isinstance(self._queue[0], ErrorReply)

    @staticmethod
    def moderation(model: str, given: dict[str, float], n: int = 1) -> dict[str, Any]:
        scores = {c: float(given.get(c, 0.001)) for c in CATEGORIES}
        result = {
            "flagged": any(s >= 0.5 for s in scores.values()),
            "categories": {c: s >= 0.5 for c, s in scores.items()},
            "category_scores": scores,
            "category_applied_input_types": {c: ["text"] for c in CATEGORIES},
        }
        return {"id": "modr-fake", "model": model, "results": [result] * n}
