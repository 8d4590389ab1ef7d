"""``%%llm``, ``%llm`` and ``%%prompt``: parse what the user typed, call the Python API, render.

No business logic lives here: every action is a call into the package's public functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import MagicArgumentParser, arg_split

from llmops_nb.magic_help import USAGE


def _call_parser() -> MagicArgumentParser:
    from llmops_nb.render import FORMATS

    p = MagicArgumentParser(prog="%%llm", usage=USAGE)
    p.add_argument("words", nargs="*", help="model id (provider:model), then for %llm the prompt")
    p.add_argument("-t", "--temperature", type=float)
    p.add_argument("--max-tokens", type=int, dest="max_tokens")
    p.add_argument("-s", "--system")
    p.add_argument("-o", "--out", help="variable that receives the Completion")
    p.add_argument("-f", "--format", choices=FORMATS, default="markdown")
    p.add_argument("--no-cache", action="store_true", dest="no_cache")
    p.add_argument("--no-stream", action="store_true", dest="no_stream")
    p.add_argument("--prompt", nargs="+", default=[],
                   help="registered prompt(s): NAME, NAME@VERSION or NAME@ALIAS (several: side by side)")
    p.add_argument("--var", action="append", default=[], help="k=v value for a prompt variable")
    p.add_argument("--guard", choices=("off", "default", "strict"), help="guardrail policy for this cell")
    return p


def _prompt_parser() -> MagicArgumentParser:
    p = MagicArgumentParser(prog="%%prompt", usage=USAGE)
    p.add_argument("name")
    p.add_argument("-m", "--message")
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--model")
    p.add_argument("-t", "--temperature", type=float)
    p.add_argument("--max-tokens", type=int, dest="max_tokens")
    return p


@dataclass(frozen=True)
class CallArgs:
    """A parsed ``%%llm`` / ``%llm`` line."""

    model: str | None
    prompt: str | None  # line form only
    temperature: float | None
    max_tokens: int | None
    system: str | None
    out: str | None
    format: str
    cache: bool
    stream: bool
    prompt_ref: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    models: tuple[str, ...] = ()  # every model id given (several: side by side)
    prompt_refs: tuple[str, ...] = ()  # every --prompt ref given (several: side by side)
    guard: str | None = None  # None: the configured policy

    @property
    def guard_kwargs(self) -> dict[str, Any]:
        return {} if self.guard is None else {"guard": self.guard}

    @property
    def side_by_side(self) -> bool:
        return len(self.models) > 1 or len(self.prompt_refs) > 1


def _is_model_id(word: str) -> bool:
    return ":" in word and " " not in word and not word.startswith(":")


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|\S+')
_VALUE_OPTIONS = frozenset({"-t", "--temperature", "--max-tokens", "-s", "--system", "-o", "--out", "-f",
                            "--format", "--var", "--guard"})


def _split(line: str) -> list[str]:
    """Shell-like words; UsageError (not a raw ValueError) for an unclosed quote."""
    try:
        return arg_split(line, posix=True)
    except ValueError as exc:
        raise UsageError(f"cannot read the magic line ({exc}): close every quote, e.g. -s \"Be brief\"; "
                         f"usage:\n{USAGE}") from None


def _not_a_model_id(word: str) -> UsageError:
    """The message for a first word that should have been a model id."""
    from llmops_nb.pricing import providers_knowing

    known = providers_knowing(word) if re.fullmatch(r"[\w.@/-]+", word) else []
    hint = f"did you mean {' or '.join(f'{p}:{word}' for p in known)}?" if known else \
        "e.g. openai:gpt-5.4-mini, anthropic:claude-haiku-4-5, sim:default (%llm models lists the providers)"
    return UsageError(f"{word!r} is not a model id: model ids are provider:model — {hint}")


def split_line_prompt(line: str) -> tuple[list[str], str]:
    """Split ``%llm [options] [MODEL] [options] PROMPT`` into option words and the prompt text
    exactly as typed (apostrophes, backslashes and quotes in the prompt are kept). ``--`` ends
    the options explicitly."""
    words: list[str] = []
    pos, expect_value, seen_model = 0, False, False
    while True:
        match = _TOKEN.search(line, pos)
        if match is None:
            return words, ""
        raw = match.group(0)
        if expect_value or raw in ("--no-cache", "--no-stream") or raw.split("=", 1)[0] in _VALUE_OPTIONS:
            words.append(_split(raw)[0] if expect_value and raw[0] in "'\"" else raw)
            expect_value = not expect_value and raw in _VALUE_OPTIONS
        elif raw == "--":
            return words, line[match.end():].strip()
        elif not seen_model and _is_model_id(raw):
            words.append(raw)
            seen_model = True
        else:
            return words, line[match.start():].strip()
        pos = match.end()


def _parse_options(words: list[str]) -> Any:
    """The call parser's namespace; an option whose value is ``--`` is a UsageError (argparse
    would take it as an empty value, past the option's choices and type)."""
    for option, value in zip(words, words[1:], strict=False):
        if option in _VALUE_OPTIONS and value == "--":
            raise UsageError(f"{option} needs a value, not '--'; usage:\n{USAGE}")
    return _call_parser().parse_intermixed_args(words)


def parse_call(line: str, *, cell: bool) -> CallArgs:
    """Parse the magic line; UsageError on anything malformed."""
    verbatim = None
    if not cell and "--prompt" not in line:  # one-line prompt: options first, then the text as typed
        option_words, verbatim = split_line_prompt(line)
    else:  # options may come in any order; quotes are shell-like
        option_words = _split(line)
    ns = _parse_options(option_words)
    # --prompt takes several refs; model ids written after them (refs never hold ':') are models
    refs = [r for r in ns.prompt if not _is_model_id(r)]
    words = [r for r in ns.prompt if _is_model_id(r)] + list(ns.words)
    models: list[str] = []
    while words and _is_model_id(words[0]) and (not models or cell or refs):  # one-line prompts: one model
        models.append(words.pop(0))
    if verbatim is not None:
        words = [verbatim] if verbatim else []
    if cell and not models and not refs and words and not re.search(r"\s", words[0]):
        raise _not_a_model_id(words[0])
    if (cell or refs) and words:
        raise UsageError(f"unexpected {' '.join(words)!r} after the model id; usage:\n{USAGE}")
    if not cell and not words and not refs:
        raise UsageError(f"%llm needs a prompt or a command; usage:\n{USAGE}")
    if ns.out is not None and not ns.out.isidentifier():
        raise UsageError(f"-o {ns.out!r} is not a valid variable name")
    variables = {}
    for item in ns.var:
        key, eq, value = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise UsageError(f"--var {item!r} must be name=value")
        variables[key.strip()] = value
    return CallArgs(models[0] if models else None, " ".join(words) if not cell else None, ns.temperature,
                    ns.max_tokens, ns.system, ns.out, ns.format, not ns.no_cache, not ns.no_stream,
                    refs[0] if refs else None, variables, tuple(models), tuple(refs), ns.guard)


def parse_variable_lines(body: str) -> dict[str, str]:
    """``name = value`` (or ``name: value``) per line, the body of ``%%llm --prompt``."""
    out = {}
    for raw in body.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        match = re.match(r"\s*([A-Za-z_]\w*)\s*[=:]\s?(.*)$", raw)
        if match is None:
            raise UsageError(f"with --prompt the cell body sets variables, one 'name = value' per line; "
                             f"{raw.strip()!r} is not one (the prompt text itself lives in %%prompt)")
        out[match.group(1)] = match.group(2)
    return out


@magics_class
class LLMMagics(Magics):
    """The ``llm`` line/cell magic and the ``prompt`` cell magic."""

    def namespace(self) -> dict[str, Any]:
        """The notebook's variables a template may read: the user's own names, not IPython's
        (``In``, ``Out``, ``get_ipython`` …) and none starting with ``_``."""
        if self.shell is None:
            return {}
        hidden = getattr(self.shell, "user_ns_hidden", {})
        return {k: v for k, v in self.shell.user_ns.items() if not k.startswith("_") and k not in hidden}

    @no_var_expand  # {{name}} is ours; IPython's $name / {name} expansion would rewrite prompts
    @line_cell_magic
    def llm(self, line: str, cell: str | None = None) -> Any:
        """Send the cell (or the rest of the line) to a model (:data:`llmops_nb.magic_help.LLM_HELP`)."""
        words = line.split()
        command = _COMMANDS.get(words[0]) if cell is None and words else None
        if command is not None and command.accepts(words[1:]):
            return command.run(words[1:])
        args = parse_call(line, cell=cell is not None)
        if args.prompt_ref and cell is not None:  # with --prompt, the body holds variables
            args.variables.update(parse_variable_lines(cell))
            cell = ""
        if args.side_by_side:
            return self._side_by_side(args, cell or "")
        return self._call(args, cell if cell is not None else args.prompt or "")

    @no_var_expand
    @cell_magic
    def prompt(self, line: str, cell: str) -> None:
        """Register the cell as a new version of prompt NAME if its content changed
        (:data:`llmops_nb.magic_help.PROMPT_HELP`)."""
        from IPython.display import display

        from llmops_nb import prompts
        from llmops_nb.render import registration_bundle

        ns = _prompt_parser().parse_args(_split(line))  # posix: quotes are syntax
        result = prompts.register(ns.name, cell, message=ns.message, aliases=ns.alias, model=ns.model,
                                  params={"temperature": ns.temperature, "max_tokens": ns.max_tokens})
        display(registration_bundle(result), raw=True)

    def _call(self, args: CallArgs, template: str) -> None:
        from llmops_nb import complete, groups, prompts
        from llmops_nb.render import StreamView

        ns: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
        variables = {**self.namespace(), **args.variables}
        source: Any = prompts.get(args.prompt_ref) if args.prompt_ref else prompts.render(template, variables)
        system = prompts.render(args.system, variables) if args.system else None
        from llmops_nb.config import settings

        view = StreamView(args.format, live=settings().live_stream)
        with groups.group(f"cell [{getattr(self.shell, 'execution_count', '?')}]"):
            completion = complete(
                args.model, source, system=system, temperature=args.temperature,
                max_tokens=args.max_tokens, stream=args.stream, cache=args.cache,
                on_text=view.write if args.stream else None,
                variables=variables if args.prompt_ref else None,  # text was filled above, once
                expect_json=args.format == "json", **args.guard_kwargs,
            )
        if args.out:
            ns[args.out] = completion
        if args.format == "code":
            self._offer_code(view, completion, template, args)
            return
        view.finish(completion)  # raises OutputFormatError for -f json that is not JSON

    def _offer_code(self, view: Any, completion: Any, template: str, args: CallArgs) -> None:
        """``-f code``: the answer's code block in a cell below; re-running replaces that cell
        (see :mod:`llmops_nb.code_cells`); no code block: nothing inserted, and it says so."""
        from llmops_nb import code_cells

        code = code_cells.code_block(completion.text)
        plan = code_cells.plan(self.shell, template, code)
        if not plan.insert:
            view.fmt = "markdown"  # shown as the answer it is; the kernel inserts nothing
        view.finish(completion)
        code_cells.offer(self.shell, plan)

    def _side_by_side(self, args: CallArgs, template: str) -> None:
        """Several models and/or prompt versions: one comparison, answers as columns."""
        from IPython.display import display

        from llmops_nb import prompts, tracking
        from llmops_nb.comparison import compare, inputs_from_namespace
        from llmops_nb.config import settings
        from llmops_nb.errors import ComparisonFailed
        from llmops_nb.render import side_by_side_bundle, side_by_side_metadata

        if args.format not in ("markdown", "text"):
            raise UsageError(f"-f {args.format} works with one model and one prompt; side by side shows text")
        ns: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
        variables = {**self.namespace(), **args.variables}
        sources: list[Any] = [prompts.get(r) for r in args.prompt_refs] or [template]
        system = prompts.render(args.system, variables) if args.system else None
        with tracking.group(f"cell [{getattr(self.shell, 'execution_count', '?')}]"):
            df = compare(list(args.models) or [settings().default_model], sources, [inputs_from_namespace(sources, variables)],
                         system=system, temperature=args.temperature, max_tokens=args.max_tokens,
                         stream=args.stream, cache=args.cache, **args.guard_kwargs)
        if args.out:
            ns[args.out] = df
        rows = df.to_dict("records")
        display(side_by_side_bundle(rows), raw=True, metadata=side_by_side_metadata(rows))
        if (df["status"] != "OK").all():
            raise ComparisonFailed(f"every call failed; first error: {rows[0]['error']}")


_NAME, _NUMBER = re.compile(r"[A-Za-z0-9_.-]+"), re.compile(r"\d+")


@dataclass(frozen=True)
class Command:
    """A ``%llm`` command: it runs only when the words after it have exactly its shape (one
    pattern per word; the last ``optional`` may be left out) — any other line is a prompt."""

    run: Callable[[list[str]], Any]
    shape: tuple[re.Pattern[str], ...] = ()
    optional: int = 0

    def accepts(self, words: list[str]) -> bool:
        return len(self.shape) - self.optional <= len(words) <= len(self.shape) and all(
            p.fullmatch(w) for p, w in zip(self.shape, words, strict=False))


def _models(_: list[str]) -> Any:
    import pandas as pd
    from IPython.display import display

    from llmops_nb.pricing import deprecated_models
    from llmops_nb.providers.base import providers_info
    from llmops_nb.session import session

    deprecated = deprecated_models(session().models_in_use())  # those their provider deprecated
    if deprecated:
        display(pd.DataFrame(deprecated))
    return pd.DataFrame(providers_info())


def _config(_: list[str]) -> None:
    from llmops_nb.config import settings

    values = settings().public_dict()
    width = max(map(len, values))
    print("\n".join(f"{k:<{width}}  {v}" for k, v in values.items()))


def _history(words: list[str]) -> Any:
    from llmops_nb.config import settings
    from llmops_nb.tracking import history

    df = history(int(words[0]) if words else 20)
    if len(df) == 0:
        print(f"no calls recorded yet in {settings().tracking_uri} (experiment {settings().experiment!r})")
        return None
    return df


def _ui(_: list[str]) -> None:
    import shlex

    from llmops_nb.config import settings

    uri = settings().tracking_uri
    print(f"This kernel writes to {uri}. Open it with:\n\n    mlflow ui --backend-store-uri {shlex.quote(uri)}\n\n"
          f"then http://127.0.0.1:5000, experiment {settings().experiment!r}.")


def _prompts(_: list[str]) -> Any:
    from llmops_nb import prompts
    from llmops_nb.render import versions_frame

    return versions_frame(prompts.list_prompts())


def _prompt(words: list[str]) -> Any:
    from llmops_nb import prompts
    from llmops_nb.render import versions_frame

    return versions_frame(prompts.versions(words[0]))


def _diff(words: list[str]) -> None:
    from IPython.display import display

    from llmops_nb import prompts
    from llmops_nb.render import diff_bundle

    name, a, b = words
    display(diff_bundle(prompts.diff(name, a, b)), raw=True)


def _alias(words: list[str]) -> None:
    from llmops_nb import prompts

    name, alias, version = words
    v = prompts.set_alias(name, alias, int(version))
    print(f"{name}@{alias} → version {v.version}")


def _rollback(words: list[str]) -> None:
    from llmops_nb import prompts

    v = prompts.rollback(*words)
    print(f"{v.name}@{words[1] if len(words) > 1 else 'production'} → version {v.version} (rolled back)")


def _health(_: list[str]) -> Any:
    import pandas as pd

    from llmops_nb.routing import health

    rows = health()
    if not rows:
        print("no model called yet in this session")
        return None
    return pd.DataFrame(rows)


def _cost(_: list[str]) -> None:
    from llmops_nb.session import spend, spend_summary

    s = spend()
    budget = "no budget" if s["budget_usd"] is None else \
        f"budget ${s['budget_usd']:.4f}, ${s['remaining_usd']:.6f} left"
    print(f"{spend_summary(s)} · saved ${s['saved_usd']:.6f} by the cache · {budget}")


def _optimize(words: list[str]) -> None:
    from IPython import get_ipython

    from llmops_nb.optimization import optimize, parse_magic_line

    ns = getattr(get_ipython(), "user_ns", {})
    args = parse_magic_line(" ".join(words), ns)
    result = optimize(**args.kwargs)
    if args.out:
        ns[args.out] = result
    result.show()


class _OptimizeCommand(Command):
    """``%llm optimize NAME@V --data VAR …``: a prompt ref, then options (``--data`` required)."""

    def accepts(self, words: list[str]) -> bool:
        return bool(words) and _REF.fullmatch(words[0]) is not None and "--data" in words


_REF = re.compile(r"[A-Za-z0-9_.-]+(@[A-Za-z0-9_.-]+)?")

_COMMANDS = {
    "models": Command(_models), "config": Command(_config), "health": Command(_health), "cost": Command(_cost),
    "ui": Command(_ui), "history": Command(_history, (_NUMBER,), optional=1), "prompts": Command(_prompts),
    "prompt": Command(_prompt, (_NAME,)), "diff": Command(_diff, (_NAME, _NAME, _NAME)),
    "alias": Command(_alias, (_NAME, _NAME, _NUMBER)), "rollback": Command(_rollback, (_NAME, _NAME), optional=1),
}
_COMMANDS["optimize"] = _OptimizeCommand(_optimize)
