"""``warden policy check | test | lint | show | init | reload | replay | stats``: the
policy engine from the command line.

The command line of ``check`` is a contract (docs/policy.md). This module
stays light (no web, store or HTTP imports) because ``check --cases`` is timed with its
start-up included. Exit codes: 0 done, 1 a test failed or lint found problems, 2 the
policy file or an input is unusable.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, BinaryIO, NoReturn

import typer

from warden.errors import PolicyCaseError, PolicyLoadError
from warden.policy import (
    Policy,
    check_case_line,
    check_reply,
    decision_json,
    lint_policy,
    load_policy,
    parse_now,
    run_policy_tests,
)

policy_app = typer.Typer(
    help="Show, start, check, test and lint a policy file (docs/policy.md).",
    no_args_is_help=True,
)

PolicyOption = Annotated[
    Path, typer.Option("--policy", help="The policy YAML file.", dir_okay=False)
]
NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="ISO-8601 time to decide at when a case gives none (default: the current time).",
    ),
]
_FLUSH_EVERY = 1024


@policy_app.command("check")
def check(
    policy: PolicyOption,
    cases: Annotated[
        Path | None,
        typer.Option("--cases", help="JSON lines, one case each ('-' for stdin).", dir_okay=False),
    ] = None,
    alert: Annotated[
        Path | None, typer.Option("--alert", help="A normalised alert (JSON).", dir_okay=False)
    ] = None,
    proposal: Annotated[
        Path | None,
        typer.Option("--proposal", help="The model's raw reply, any bytes.", dir_okay=False),
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option("--history", help="With --alert: the history object (JSON).", dir_okay=False),
    ] = None,
    now: NowOption = None,
) -> None:
    """Decide model replies: one (--alert and --proposal) or a batch (--cases).

    Prints one JSON object per decision on stdout, in input order; exits 0 when every
    case was evaluated, whatever the outcomes, and 2 when the policy file or an input is
    unusable (each unusable case line is named on stderr; the others are still decided).
    """
    single = (alert, proposal, history) != (None, None, None)
    if (cases is not None and single) or (cases is None and (alert is None or proposal is None)):
        _fail("give either --cases, or --alert and --proposal (and maybe --history)")
    loaded = _load(policy)
    try:
        default_now = parse_now(now, "--now") or datetime.now(UTC)
    except PolicyCaseError as exc:
        _fail(str(exc))
    if cases is not None:
        if cases == Path("-"):
            ok = _check_cases(sys.stdin.buffer, "<stdin>", loaded, default_now)
        else:
            try:
                with cases.open("rb") as lines:
                    ok = _check_cases(lines, str(cases), loaded, default_now)
            except OSError as exc:
                _fail(f"{cases}: cannot read it: {exc}")
        raise typer.Exit(0 if ok else 2)
    assert alert is not None and proposal is not None
    try:
        decision = check_reply(
            json.loads(alert.read_bytes()),
            proposal.read_bytes(),
            loaded,
            history=None if history is None else json.loads(history.read_bytes()),
            now=default_now,
            where=str(alert),
        )
    except (OSError, ValueError) as exc:
        _fail(f"cannot use the input: {exc}")
    except PolicyCaseError as exc:
        _fail(str(exc))
    print(json.dumps(decision_json(decision)))


def _check_cases(lines: BinaryIO, name: str, policy: Policy, default_now: datetime) -> bool:
    """Decide each case line, writing results in order; False if a line was unusable."""
    ok = True
    out: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            result = check_case_line(
                line, policy, default_now=default_now, where=f"{name}:{number}"
            )
        except PolicyCaseError as exc:
            print(f"error: {exc}", file=sys.stderr)
            ok = False
            continue
        out.append(json.dumps(result))
        if len(out) >= _FLUSH_EVERY:
            sys.stdout.write("\n".join(out) + "\n")
            out.clear()
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    return ok


@policy_app.command("test")
def test(
    policy: PolicyOption,
    tests: Annotated[
        Path, typer.Argument(help="The team's tests (format: examples/policy-tests.yaml).")
    ],
    now: NowOption = None,
) -> None:
    """Run a team's own expected outcomes against its policy, like `opa test`.

    Exits 1 when any test fails (each failure shown as expected/actual), 2 when the
    policy or the tests file is unusable. The format is documented in
    examples/policy-tests.yaml.
    """
    loaded = _load(policy)
    try:
        text = tests.read_text(encoding="utf-8")
        default_now = parse_now(now, "--now") or datetime.now(UTC)
        results = run_policy_tests(text, loaded, default_now=default_now, source=str(tests))
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{tests}: cannot read it: {exc}")
    except PolicyCaseError as exc:
        _fail(str(exc))
    failed = [r for r in results if not r.passed]
    for result in results:
        print(result.diff() if not result.passed else f"ok   {result.name}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    raise typer.Exit(1 if failed else 0)


@policy_app.command("lint")
def lint(policy: PolicyOption) -> None:
    """Load the policy and report what cannot work as written; exits 1 on any problem."""
    loaded = _load(policy)
    problems = lint_policy(loaded)
    for problem in problems:
        print(f"{policy}: {problem}")
    if problems:
        print(f"{len(problems)} problem(s)")
        raise typer.Exit(1)
    print(f"{policy}: no problems")


@policy_app.command("show")
def show(
    policy: Annotated[Path | None, typer.Option(
        "--policy", help="The policy YAML file (default: WARDEN_POLICY, else built-in).",
        dir_okay=False)] = None,
) -> None:
    """Print the policy in force: the file given, else WARDEN_POLICY, else the built-in one.

    The output is the file itself (comments kept), so `warden policy show > mine.yaml`
    starts a policy of your own from the one you run.
    """
    from warden.cli._settings import cli_settings

    path = policy or cli_settings().policy
    if path is None:
        print(_package_text(_BUILT_IN), end="")
        return
    _load(path)  # a file that is refused is not in force
    print(path.read_text(encoding="utf-8"), end="")


@policy_app.command("init")
def init(
    path: Annotated[Path, typer.Argument(help="Where to write it.", dir_okay=False)]
    = Path("warden-policy.yaml"),
) -> None:
    """Write a commented starter policy (dry run) to PATH; never overwrites a file."""
    if path.exists():
        _fail(f"{path} already exists; choose another path or delete it first")
    try:
        path.write_text(_package_text(_STARTER), encoding="utf-8")
    except OSError as exc:
        _fail(f"{path}: cannot write it: {exc}")
    print(f"wrote {path}: edit it, then `warden policy lint --policy {path}` and start "
          f"Warden with WARDEN_POLICY={path}")


_BUILT_IN = ("warden.policy", "default_policy.yaml")
_STARTER = ("warden.cli", "starter_policy.yaml")


def _package_text(where: tuple[str, str]) -> str:
    from importlib import resources

    package, name = where
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


@policy_app.command("reload")
def reload() -> None:
    """Make the running server (WARDEN_URL) read its policy file again; needs an admin
    WARDEN_TOKEN. A file that does not validate is refused and the old policy stays."""
    from warden.cli.ops import api_call

    done = api_call("POST", "/v1/policy/reload")
    print(f"policy reloaded from {done.get('source')} (mode {done.get('mode')})")


SinceOption = Annotated[str, typer.Option(
    "--since", help="How far back: a number and d, h or m (30d, 12h, 90m); 'all' for all.")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")]


@policy_app.command("replay")
def replay(policy: PolicyOption, since: SinceOption = "30d", as_json: JsonOption = False) -> None:
    """Decide every stored decision again with the policy given, from the inputs recorded
    when it was made: no model is called, nothing runs. Lists each decision whose outcome
    or deciding reason would change, and counts the changes by transition.

    Refuses (exit 2) when the audit chain does not verify.
    """
    from warden.cli.ops import load_warden
    from warden.errors import ReplayRefused
    from warden.trust.replay import replay_recorded

    new = _load(policy)
    start = _since(since)
    warden = load_warden(create_audit_key=False)
    try:
        with warden.store.session() as session:
            result = replay_recorded(session, new, since=start)
    except ReplayRefused as exc:
        _fail(f"replay refused: {exc}")
    finally:
        warden.store.dispose()
    if as_json:
        print(json.dumps(result.as_json()))
        return
    for change in result.changed:
        before, after = change["before"], change["after"]
        print(f"incident #{change['incident_id']} ({change['stage']}, {change['at']}): "
              f"{before['outcome']} -> {after['outcome']} ({_first_reason(after)})")
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(result.summary.items())) or "no change"
    print(f"{result.replayed} decisions replayed with {policy}; {len(result.changed)} would "
          f"change ({summary})")


@policy_app.command("stats")
def stats(since: SinceOption = "30d", as_json: JsonOption = False) -> None:
    """How often the policy and the humans agreed, per action, tier and model, with the
    promotion hints earned (>= 20 verdicts on a tier, >= 95% agreement). A hint is a
    suggested policy change; nothing is applied."""
    from warden.cli.ops import load_warden
    from warden.trust.stats import agreement_stats

    start = _since(since)
    warden = load_warden(create_audit_key=False)
    try:
        with warden.store.session() as session:
            figures = agreement_stats(session, warden.policy.current, since=start)
    finally:
        warden.store.dispose()
    if as_json:
        print(json.dumps(figures))
        return
    print("action          tier       model                 proposals  execute/approval/blocked"
          "  approve/reject  agree  runs  healthy")
    for row in figures["actions"]:
        agree = "-" if row["agreement"] is None else f"{row['agreement']:.0%}"
        counts = row["policy"]
        print(f"{row['action']:<15} {row['tier']:<10} {row['model'][:21]:<21} "
              f"{row['proposals']:>9}  {counts['execute']:>7}/{counts['needs_approval']}/"
              f"{counts['blocked']:<14}  {row['verdicts']['approve']:>7}/"
              f"{row['verdicts']['reject']:<6}  {agree:>5}  {row['executions']:>4}  "
              f"{row['verified_healthy']:>7}")
    for hint in figures["hints"]:
        print(f"\nhint: {hint['message']} (not applied; the change would be):\n{hint['diff']}",
              end="")


def _first_reason(decision: dict[str, list[dict[str, str]]]) -> str:
    reasons = decision.get("reasons") or [{}]
    return f"{reasons[0].get('code')}: {reasons[0].get('detail')}"


def _since(value: str) -> datetime | None:
    from warden.trust.window import since_start

    try:
        return since_start(value, datetime.now(UTC))
    except ValueError as exc:
        _fail(str(exc))


def _load(path: Path) -> Policy:
    try:
        return load_policy(path)
    except PolicyLoadError as exc:
        _fail(f"policy refused: {exc}")


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(2)
