"""`mfops deploy TAG --env ENV [--canary N] [--max-parallel M]`: roll a release out to the
hosts of an environment (release/deploy.py)."""

from __future__ import annotations

from typing import Any

import click

from mfops.cli.commands.hostopts import timeout_option
from mfops.cli.commands.serveropts import open_session
from mfops.cli.render import to_json
from mfops.errors import CheckFailed, MfopsError
from mfops.release.deploy import (
    DeployInterrupted,
    DeployResult,
    Rollout,
    deploy,
    environment,
    find_release,
    previous_release,
)
from mfops.release.deployplan import DeployPlan, plan_deploy
from mfops.repo import history
from mfops.server.client import ServerOptions


def rollout_options(fn: Any) -> Any:
    """--canary, --max-parallel, --jobs, --timeout and --format (deploy and rollback --env)."""
    for option in reversed(
        [
            click.option(
                "--canary",
                type=click.IntRange(min=0),
                default=0,
                show_default=True,
                metavar="N",
                help="Deploy to the first N hosts first and run the release's suites there "
                "before their tags move; the rest go only when they pass.",
            ),
            click.option(
                "--max-parallel",
                type=click.IntRange(min=1),
                default=1,
                show_default=True,
                metavar="M",
                help="Hosts deployed at the same time.",
            ),
            click.option(
                "--jobs",
                type=click.IntRange(min=1),
                default=1,
                show_default=True,
                metavar="J",
                help="Creates at the same time on one host.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def run_rollout(
    opts: Any,
    tag: str | None,
    env_name: str,
    *,
    canary: int,
    max_parallel: int,
    jobs: int,
    fmt: str,
    timeout: float,
    rollback: bool = False,
    dry_run: bool = False,
) -> int:
    """Deploy `tag` to `env_name` and print the per-host report; the exit code. With
    `rollback`, the release is the promote record an earlier deploy there deployed (`tag`,
    or None: the one before the newest), never the tag's newest promotion. With `dry_run`,
    only say what each host would do (release/deployplan.py)."""
    session = open_session(opts, None, timeout)
    try:
        repo = session.repo
        env = environment(repo.snapshot(None).config, env_name)
        entries = history.load(repo)  # read once: each read parses every record
        release = (
            previous_release(repo, env.name, tag, entries=entries)
            if rollback
            else find_release(repo, tag or "", entries=entries)
        )
        if canary > len(env.hosts):
            raise MfopsError(
                f"--canary {canary} is more than the {len(env.hosts)} host(s) of {env.name}"
            )
        options = ServerOptions(timeout=timeout, connect_timeout=min(timeout, 10.0))
        if dry_run:
            plan = plan_deploy(repo, env, release, options=options)
            return _dry_run(plan, fmt, "rollback" if rollback else "deploy", canary)

        def event(host: str, what: str) -> None:
            if fmt == "text":
                click.echo(f"{host}: {what}", err=True)

        try:
            result = deploy(
                repo,
                env,
                release,
                rollout=Rollout(canary, max_parallel, jobs, rollback),
                options=options,
                on_event=event,
                entries=entries,
            )
        except DeployInterrupted as stop:
            _print(stop.result, fmt)
            raise
    finally:
        session.close()
    _print(result, fmt)
    if result.ok:
        return 0
    reason = result.entry.reason or "the deploy failed"
    if result.entry.outcome == "refused" and all(
        h.state in ("unreachable", "not started") for h in result.hosts
    ):
        raise MfopsError(f"deploy refused: {reason}", hint="nothing was changed on any host")
    raise CheckFailed(f"deploy {result.entry.outcome}: {reason}")


def _dry_run(plan: DeployPlan, fmt: str, what: str, canary: int) -> int:
    """Print what `what` (deploy or rollback) would do; its exit code as the real run's."""
    text = to_json(plan_json(plan, canary)) if fmt == "json" else plan_text(plan, what, canary)
    click.echo(text, nl=False)
    if plan.ok:
        return 0
    if plan.refused:
        raise MfopsError(f"{what} would be refused: {plan.refused[0]}")
    down = [h for h in plan.hosts if h.state == "unreachable"]
    if down:
        raise MfopsError(
            f"{what} would be refused: {down[0].host} does not answer",
            hint="a rollout starts only when every host of the environment answers",
        )
    first = next(h for h in plan.hosts if h.state == "refused")
    why = (first.reason or "").splitlines()[0] if first.reason else "refused"
    raise CheckFailed(f"{what} would fail: {first.host} would refuse the release: {why}")


def plan_json(plan: DeployPlan, canary: int = 0) -> dict[str, Any]:
    r = plan.release
    return {
        "dry_run": True,
        "env": plan.env,
        "canary": canary,
        "tag": r.tag,
        "aliases": list(r.aliases),
        "commit": r.commit,
        "release": r.record,
        "ok": plan.ok,
        "refused": list(plan.refused),
        "hosts": [
            {
                "host": h.host,
                "canary": i < canary,
                "state": h.state,
                "reason": h.reason,
                "models": [
                    {"name": m.name, "content": m.content, "action": m.action} for m in h.models
                ],
            }
            for i, h in enumerate(plan.hosts)
        ],
    }


_ACTIONS = {
    "create": "create (the host lacks this content)",
    "move": "move the tags (the host holds this content: read back first)",
    "current": "nothing (the tags already hold this content)",
}


def plan_text(plan: DeployPlan, what: str = "deploy", canary: int = 0) -> str:
    r = plan.release
    tags = ", ".join((r.tag, *r.aliases))
    lines = [f"Dry run: {what} of {tags} (commit {r.commit[:12]}) to environment {plan.env}"]
    if canary:
        lines.append(
            f"  the first {canary} host(s) are canaries: the release's suites run there "
            "before their tags move, and the rest go only when they pass"
        )
    lines += [f"  refused: {why}" for why in plan.refused]
    width = max((len(h.host) for h in plan.hosts), default=0)
    for i, h in enumerate(plan.hosts):
        mark = " (canary)" if i < canary else ""
        counts = (
            f"{h.count('create')} to create, {h.count('move')} to move, "
            f"{h.count('current')} current"
        )
        lines.append(
            f"  {h.host:<{width}}  {h.state}{mark}" + (f"  ({counts})" if h.models else "")
        )
        if h.reason:
            lines += [f"      {line}" for line in h.reason.splitlines()]
        for m in h.models:
            lines.append(f"      {m.name}:{r.tag}  {m.content}  {_ACTIONS[m.action]}")
    lines.append("nothing was changed on any host; no record was written")
    return "\n".join(lines) + "\n"


def _print(result: DeployResult, fmt: str) -> None:
    click.echo(to_json(result_json(result)) if fmt == "json" else result_text(result), nl=False)


def result_json(result: DeployResult) -> dict[str, Any]:
    return result.entry.to_json()


def result_text(result: DeployResult) -> str:
    e = result.entry
    tags = ", ".join((e.from_tag, *e.aliases))
    lines = [
        f"Deploy of {tags} (commit {result.release.commit[:12]}) to environment {e.env}: "
        f"{e.outcome}"
    ]
    width = max((len(h.host) for h in result.hosts), default=0)
    for h in result.hosts:
        mark = " (canary)" if h.canary else ""
        lines.append(f"  {h.host:<{width}}  {h.state}{mark}")
        if h.reason:
            lines += [f"      {line}" for line in h.reason.splitlines()]
        for m in h.models:
            lines.append(f"      {m.name}:{e.from_tag}  {m.content}  {_short(m.layers)}")
    if e.reason:
        lines.append(f"reason: {e.reason.splitlines()[0]}")
    lines.append(f"recorded as {e.id} (mfops history)")
    return "\n".join(lines) + "\n"


def _short(layers: tuple[str, ...]) -> str:
    return "layers " + ",".join(x.removeprefix("sha256:")[:12] for x in layers)


@click.command("deploy")
@click.argument("tag")
@click.option("--env", "env_name", required=True, metavar="ENV", help="The environment.")
@rollout_options
@timeout_option("Give up on a server call after this long (creates have their own deadline).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Only say what each host would do (asking each its version and model list): "
    "which would refuse, and per model create, move the tags or nothing. Changes nothing.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def command(
    opts: Any,
    tag: str,
    env_name: str,
    canary: int,
    max_parallel: int,
    jobs: int,
    timeout: float,
    dry_run: bool,
    fmt: str,
) -> int:
    """Bring every host of environment ENV (`environments:` in mfops.yaml) to release TAG and
    its aliases, with exactly the content that was tested.

    The release is the newest successful promotion to TAG in the release records
    (refs/mfops/history): its commit's Modelfiles are built on each host with the external
    bases at that commit's locked digests (a host whose base differs is refused), or copied
    from the host's content tag where it has one; every model is read back, and its layers
    must match its base and the other hosts, before TAG and the aliases move (all or nothing
    per host, the move verified by listing). With --canary N the first N hosts go first and
    the release's suites run there before their tags move (a canary that fails keeps what
    it held). The first failure stops the rollout; hosts not started are not touched. A
    record of kind "deploy" is written: see `mfops history`, `mfops status --env` and
    `mfops rollback --env`. --dry-run says what each host would do and changes nothing.

    Exit codes: 0 deployed (with --dry-run: every host would go ahead); 1 a host failed
    (build, verification, suites, tag move) or refused (base differs from the lock); 2 bad
    input (unknown environment or release, a malformed host or one server named twice in
    the environment) or a host that does not answer (nothing is changed anywhere).
    """
    return run_rollout(
        opts,
        tag,
        env_name,
        canary=canary,
        max_parallel=max_parallel,
        jobs=jobs,
        fmt=fmt,
        timeout=timeout,
        dry_run=dry_run,
    )
