"""What ``%llm?`` and ``%%prompt?`` show, and the usage line every magic error ends with.

Plain strings only, so :mod:`llmops_nb.magic_names` can put them on the registered names
without importing the magics themselves (``%load_ext`` stays at about a millisecond).
"""

from __future__ import annotations

USAGE = """%%llm [MODEL] [-t T] [--max-tokens N] [-s SYSTEM] [-o VAR] [-f markdown|text|json|code]
              [--no-cache] [--no-stream] [--guard off|default|strict]   (cell body: the prompt)
%llm [MODEL] [options] PROMPT …                 one-line prompt
%llm --prompt NAME[@VERSION|@ALIAS] [MODEL] [--var k=v …] [options]
%%llm --prompt NAME[@…] [MODEL] [options]       (cell body: one `name = value` per line)
%%llm MODEL MODEL …  |  %%llm --prompt NAME@1 NAME@2 … [MODEL …]   answers side by side
%llm models | config | history [N] | health | cost | ui
%llm prompts | prompt NAME | diff NAME V1 V2 | alias NAME ALIAS VERSION | rollback NAME [ALIAS]
%llm optimize NAME@V --data VAR --scorers VAR [--model M] [--reflection M] [--optimizer metaprompt|gepa]
              [--eval-data VAR] [--max-cost USD] [--confirm-above USD] [--confirm] [--alias A] [-o VAR]
    (a command runs only with exactly these words; any other line is a prompt to the default
     model, e.g. `%llm cost of living in Paris`; `%llm -- cost` sends the word itself)
%%prompt NAME [-m MESSAGE] [--alias ALIAS …] [--model MODEL] [-t T] [--max-tokens N]"""

LLM_HELP = f"""Send the cell (or the rest of the line) to a model; the answer streams into the output.

Usage:

{USAGE}

MODEL is provider:model (openai:gpt-5.4-mini, anthropic:claude-haiku-4-5, ollama:llama3.2,
sim:default, or a name given to llmops_nb.register_endpoint); without one, the default model
(%llm config shows it). {{{{name}}}} in the prompt or the -s system prompt is the notebook variable
`name` ({{{{a.b}}}}: a mapping key or a field of a plain data object); a malformed or missing
variable fails the cell before anything is sent, at no cost.

Options:
  -t, --temperature T     sampling temperature
  --max-tokens N          cap on the answer's tokens (a cut answer says so under it)
  -s, --system SYSTEM     system prompt
  -o, --out VAR           store the Completion (text, usage, cost_usd, latency_s, ttft_s,
                          cached, trace_id, …) in VAR; side by side: the comparison's DataFrame
  -f, --format FORMAT     markdown (default), text, json (parsed; the cell fails if it is
                          not JSON) or code (the answer's code block goes into a cell below)
  --no-cache              do not answer from, or store in, the response cache
  --no-stream             wait for the whole answer instead of streaming it
  --guard POLICY          guardrail policy for this cell: off, default or strict
  --prompt REF …          a registered prompt (%%prompt): NAME, NAME@VERSION or NAME@ALIAS;
                          several refs (or several models) answer side by side
  --var k=v               a value for one of the registered prompt's variables

Every call is recorded as an MLflow trace (tokens, cost, latency, TTFT, prompt version, cache
hit, guardrail findings); all calls of one cell form one MLflow run.

Commands (a line of exactly these words; anything else is a prompt):
  %llm models             the providers, whether each one's key or base URL is set (never the key)
  %llm config             the session's settings
  %llm history [N]        the latest N calls (default 20) read back from the tracking store
  %llm health             each called model's circuit breaker: closed, open or half-open
  %llm cost               this session's spend, what the cache saved, the budget left
  %llm ui                 the command that opens this kernel's store in the MLflow UI
  %llm prompts            every registered prompt, its latest version
  %llm prompt NAME        the versions and aliases of one prompt
  %llm diff NAME V1 V2    what changed between two versions
  %llm alias NAME ALIAS VERSION        point ALIAS at VERSION
  %llm rollback NAME [ALIAS]           move ALIAS (default production) back to its previous version
  %llm optimize NAME@V --data VAR --scorers VAR …   a better prompt version, within --max-cost

Examples:
  %%llm openai:gpt-5.4-mini -t 0.2 -o answer
  Explain {{{{topic}}}} in three bullet points.

  %llm sim:echo Say hello
  %llm --prompt summarise@production --var text="…"
"""

PROMPT_HELP = """Register the cell as a new version of prompt NAME (only if its text or settings changed).

Usage:

%%prompt NAME [-m MESSAGE] [--alias ALIAS …] [--model MODEL] [-t T] [--max-tokens N]

The cell body is the template ({{name}} marks a variable). Versions are numbered 1, 2, … and
mirrored in MLflow's Prompt Registry.

Options:
  -m, --message MESSAGE   what changed (the version's commit message)
  --alias ALIAS           move ALIAS (e.g. production) to this version; repeatable
  --model MODEL           the model the prompt is called with when a call names none
  -t, --temperature T     its default temperature
  --max-tokens N          its default cap on the answer's tokens

Use it with `%llm --prompt NAME@VERSION|@ALIAS`; `%llm prompts`, `%llm prompt NAME`,
`%llm diff NAME V1 V2`, `%llm alias NAME ALIAS VERSION` and `%llm rollback NAME [ALIAS]` manage
the versions.

Example:
  %%prompt summarise -m "shorter" --alias production
  Summarise {{text}} in one sentence.
"""
