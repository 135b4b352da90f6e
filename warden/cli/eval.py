"""``warden eval``: measure a triage provider against labelled alerts.

Exit codes: 0 done (whatever the accuracy), 1 the provider failed outright, 2 the file,
the settings or the policy is unusable.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from warden.config.settings import Settings
    from warden.policy import Policy
    from warden.triage.eval import EvalReport
    from warden.triage.provider import TriageProvider


class ProviderName(StrEnum):
    RULES = "rules"
    OPENAI = "openai"


def eval_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="Labelled alerts, JSON lines (the shape of alerts-dev.jsonl).",
            dir_okay=False,
            metavar="FILE.jsonl",
        ),
    ],
    provider: Annotated[
        ProviderName, typer.Option("--provider", help="The provider to measure.")
    ] = ProviderName.RULES,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
    policy_file: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="Policy whose actions and categories the provider sees "
            "\\[default: WARDEN_POLICY, else the built-in policy].",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Measure a triage provider on labelled alerts.

    Triages every alert with the provider, each alert's own severity hidden,
    and prints category and severity accuracy, the confusion matrices, the
    ten most common confusions and, for openai, cost, tokens and latency.
    A record's `expr` reaches the provider as the alert's generatorURL; a
    record without a `category` is scored on severity only.
    Severities compare as critical/high = critical, medium = warning, low =
    info. For openai the settings come
    from WARDEN_* as for `warden serve`: every model call is real and costs
    money.
    """
    # Imported here so `warden --help` and the other commands start fast.
    from warden.errors import ConfigError, TriageError
    from warden.policy import parse_proposal
    from warden.redact import compile_patterns
    from warden.triage.eval import evaluate, load_labelled

    try:
        settings = _settings()
        policy = _policy(policy_file or settings.policy)
        alerts = load_labelled(
            file, allowed_actions=tuple(policy.actions), categories=policy.categories
        )
        chosen = _provider(provider, settings, policy)
        extra = compile_patterns(settings.redact_patterns)
    except ConfigError as exc:
        _fail(str(exc))
    try:
        report = evaluate(
            chosen,
            alerts,
            partial(parse_proposal, categories=policy.categories),
            extra_patterns=extra,
        )
    except TriageError as exc:
        typer.echo(f"warden eval: the {provider.value} provider failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=None, sort_keys=False))
    else:
        _print(report, file)


def _settings() -> Settings:
    from pydantic import ValidationError

    from warden.config.settings import Settings
    from warden.errors import ConfigError

    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"settings: {exc}") from exc


def _policy(path: Path | None) -> Policy:
    from warden.policy import default_policy, load_policy

    return default_policy() if path is None else load_policy(path)


def _provider(name: ProviderName, settings: Settings, policy: Policy) -> TriageProvider:
    if name is ProviderName.RULES:
        from warden.triage.providers.rules import RulesProvider

        return RulesProvider()
    from warden.errors import ConfigError
    from warden.triage import build_provider

    if settings.llm_api_key is None:
        raise ConfigError(
            "--provider openai needs WARDEN_LLM_API_KEY (any value for a local server "
            "that takes none)"
        )
    # The openai provider falls back to rules when every model fails; the report counts
    # such answers under `answered_by` and `fallbacks`.
    return build_provider(settings.model_copy(update={"triage_provider": "openai"}), policy)


def _fail(message: str) -> NoReturn:
    typer.echo(f"warden eval: {message}", err=True)
    raise typer.Exit(2)


def _print(report: EvalReport, file: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{report.provider}[/bold] on {file} ({report.n} alerts)")
    if report.category_accuracy is None:
        console.print("category accuracy  - (no line has a category label)")
    elif report.n_category < report.n:
        console.print(
            f"category accuracy  {report.category_accuracy:.1%} "
            f"(of the {report.n_category} lines with a category label)"
        )
    else:
        console.print(f"category accuracy  {report.category_accuracy:.1%}")
    console.print(f"severity accuracy  {report.severity_accuracy:.1%}")
    if report.malformed:
        console.print(f"malformed replies  {report.malformed}")
    if report.fallbacks:
        console.print(f"fallback answers   {report.fallbacks}")
    for title, matrix in (
        ("category: expected (rows) vs predicted (columns)", report.confusion),
        ("severity: expected (rows) vs predicted (columns)", report.severity_confusion),
    ):
        if not matrix:
            continue
        columns = list(next(iter(matrix.values()), {}))
        console.print(title)
        table = Table()
        table.add_column("expected")
        for column in columns:
            table.add_column(column, justify="right")
        for expected, row in matrix.items():
            table.add_row(
                expected,
                *(
                    f"[bold]{row[c]}[/bold]" if c == expected else str(row[c]) if row[c] else "."
                    for c in columns
                ),
            )
        console.print(table)
    if report.top_confusions:
        console.print("most common confusions (expected -> predicted)")
        for confusion in report.top_confusions:
            examples = ", ".join(confusion.ids[:3]) + (", ..." if confusion.count > 3 else "")
            console.print(
                f"  {confusion.count:>4}  {confusion.kind:<8}  {confusion.expected} -> "
                f"{confusion.predicted}  ({examples})"
            )
    if report.provider != "rules":
        mean_cost = report.cost_usd / report.n if report.n else 0.0
        console.print(
            f"cost      ${report.cost_usd:.4f} total, ${mean_cost:.5f} per alert\n"
            f"latency   {report.latency_ms_mean:.0f} ms mean, "
            f"{report.latency_ms_total / 1000:.1f} s total\n"
            f"tokens    {report.prompt_tokens} prompt, {report.completion_tokens} completion"
        )
        answered = ", ".join(f"{who} {count}" for who, count in report.answered_by.items())
        console.print(f"answered  {answered}")
