"""``%%llm`` and ``%llm``: parse what the user typed, call the Python API, render the result.

No business logic lives here: every action is a call into the package's public functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser

from llmops_nb.render import FORMATS

USAGE = """%%llm [MODEL] [-t T] [--max-tokens N] [-s SYSTEM] [-o VAR] [-f markdown|text|json|code]
              [--no-cache] [--no-stream]      (cell body: the prompt, with {{variables}})
%llm [MODEL] [options] PROMPT …                 one-line prompt
%llm models | config | history [N]"""


def _cell_parser() -> MagicArgumentParser:
    p = MagicArgumentParser(prog="%%llm", usage=USAGE)
    p.add_argument("words", nargs="*", help="model id (provider:model), then for %llm the prompt")
    p.add_argument("-t", "--temperature", type=float)
    p.add_argument("--max-tokens", type=int, dest="max_tokens")
    p.add_argument("-s", "--system")
    p.add_argument("-o", "--out", help="variable that receives the Completion")
    p.add_argument("-f", "--format", choices=FORMATS, default="markdown")
    p.add_argument("--no-cache", action="store_true", dest="no_cache")
    p.add_argument("--no-stream", action="store_true", dest="no_stream")
    return p


@dataclass(frozen=True)
class CallArgs:
    """A parsed ``%%llm`` line."""

    model: str | None
    prompt: str | None  # line form only
    temperature: float | None
    max_tokens: int | None
    system: str | None
    out: str | None
    format: str
    cache: bool
    stream: bool


def parse_call(line: str, *, cell: bool) -> CallArgs:
    """Parse the magic line; UsageError on anything malformed."""
    ns = _cell_parser().parse_argstring(line)
    words = list(ns.words)
    model = words.pop(0) if words and ":" in words[0] and " " not in words[0] else None
    if cell and words:
        raise UsageError(f"unexpected {' '.join(words)!r} after the model id; usage:\n{USAGE}")
    if not cell and not words:
        raise UsageError(f"%llm needs a prompt or a command; usage:\n{USAGE}")
    if ns.out is not None and not ns.out.isidentifier():
        raise UsageError(f"-o {ns.out!r} is not a valid variable name")
    return CallArgs(model, " ".join(words) if not cell else None, ns.temperature, ns.max_tokens,
                    ns.system, ns.out, ns.format, not ns.no_cache, not ns.no_stream)


@magics_class
class LLMMagics(Magics):
    """The ``llm`` line and cell magic."""

    @line_cell_magic
    def llm(self, line: str, cell: str | None = None) -> Any:
        """Send the cell (or the rest of the line) to a model; see ``%llm?``."""
        words = line.split(maxsplit=1)
        if cell is None and words and words[0] in _COMMANDS:
            return _COMMANDS[words[0]](words[1] if len(words) > 1 else "")
        args = parse_call(line, cell=cell is not None)
        return self._call(args, cell if cell is not None else args.prompt or "")

    def _call(self, args: CallArgs, template: str) -> None:
        from llmops_nb import complete, tracking
        from llmops_nb.prompts import render as render_template
        from llmops_nb.render import StreamView, code_of

        ns: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
        prompt = render_template(template, ns)
        system = render_template(args.system, ns) if args.system else None
        view = StreamView(args.format)
        with tracking.group(f"cell [{getattr(self.shell, 'execution_count', '?')}]"):
            completion = complete(
                args.model, prompt, system=system, temperature=args.temperature,
                max_tokens=args.max_tokens, stream=args.stream, cache=args.cache,
                on_text=view.write if args.stream else None,
            )
        if args.out:
            ns[args.out] = completion
        view.finish(completion)  # raises OutputFormatError for -f json that is not JSON
        if args.format == "code" and self.shell is not None:
            self.shell.set_next_input(code_of(completion.text), replace=False)


def _models(_: str) -> Any:
    import pandas as pd

    from llmops_nb.providers.base import providers_info

    return pd.DataFrame(providers_info())


def _config(_: str) -> Any:
    import pandas as pd

    from llmops_nb.config import settings

    return pd.Series(settings().public_dict(), name="value").to_frame()


def _history(rest: str) -> Any:
    from llmops_nb.tracking import history

    rest = rest.strip()
    if rest and not rest.isdigit():
        raise UsageError(f"%llm history takes a number of calls, not {rest!r}")
    return history(int(rest) if rest else 20)


_COMMANDS = {"models": _models, "config": _config, "history": _history}
