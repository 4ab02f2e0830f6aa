"""The `mfops` command line: a thin shell over the library.

Each subcommand lives in `mfops/cli/commands/<name>.py` and is imported only when it runs, so
`mfops --help` and `mfops --version` load click and nothing heavy. The short help shown in the
command list is kept here, next to the registry, for the same reason.

`main()` is the one place that turns errors into exit codes (architecture.md, "Exit codes"):
MfopsError -> its own code (2 for bad input, 1 for a check that said no) with one line on
stderr; Ctrl-C -> 130 (SIGTERM -> 143, SIGHUP -> 129: signals.py); anything unexpected
-> 3, with the traceback in a log file.
"""

from __future__ import annotations

import gc
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click

from mfops import __version__
from mfops.cli.render import output_closed
from mfops.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, MfopsError, OutputClosed
from mfops.fileio.bulk import frozen_loads
from mfops.language.suggest import close_matches, did_you_mean
from mfops.release.signals import STOP_SIGNALS, stops_raised, terminate_like_interrupt
from mfops.server.hosts import redact
from mfops.store.invocation import command_invocation

#: name -> (module, one-line help). Order is the order `mfops --help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "parse": ("mfops.cli.commands.parse", "Parse a Modelfile exactly as Ollama does."),
    "fmt": ("mfops.cli.commands.fmt", "Format Modelfiles in place (or check them)."),
    "lint": ("mfops.cli.commands.lint", "Check Modelfiles for errors and risky patterns."),
    "ls": ("mfops.cli.commands.ls", "List the repo's models with their FROM kind and depth."),
    "graph": ("mfops.cli.commands.graph", "Show the inheritance graph (tree, DOT, Mermaid, JSON)."),
    "show": ("mfops.cli.commands.show", "Show a model's declared or effective Modelfile."),
    "digest": ("mfops.cli.commands.digest", "Print the content digest of each model."),
    "diff": ("mfops.cli.commands.diff", "Show what changed between two versions, model by model."),
    "build": ("mfops.cli.commands.build", "Build models on Ollama in dependency order."),
    "lock": ("mfops.cli.commands.lock", "Resolve external bases to server digests in mfops.lock."),
    "status": (
        "mfops.cli.commands.status",
        "Compare what the server holds with what the repo builds.",
    ),
    "import": ("mfops.cli.commands.importcmd", "Write a Modelfile for an existing server model."),
    "test": ("mfops.cli.commands.test", "Run behavioural test suites against built models."),
    "promote": (
        "mfops.cli.commands.promote",
        "Promote tested models to a release tag, all or none.",
    ),
    "rollback": ("mfops.cli.commands.rollback", "Point an alias back at an earlier release."),
    "deploy": (
        "mfops.cli.commands.deploy",
        "Roll a release out to every host of an environment.",
    ),
    "history": ("mfops.cli.commands.history", "Show promotions and rollbacks, newest first."),
    "prune": ("mfops.cli.commands.prune", "Delete candidate tags that nothing needs."),
    "export": (
        "mfops.cli.commands.export",
        "Render released models for other engines (Helm chart values).",
    ),
    "gate": ("mfops.cli.commands.gate", "Lint, diff, build, test and promote: the CI pipeline."),
    "report": ("mfops.cli.commands.report", "Merge the shard reports of a sharded run."),
    "init": ("mfops.cli.commands.init", "Scaffold a model repository and its CI gate."),
    "schema": ("mfops.cli.commands.schema", "Print the JSON Schema of mfops.yaml or a suite."),
    "demo": ("mfops.cli.commands.demo", "Run the release path on a bundled example, offline."),
}


@dataclass
class GlobalOptions:
    """What the group-level options say, handed to every subcommand via `ctx.obj`."""

    repo: Path | None = None
    color: bool | None = None  # None: decide from the terminal and NO_COLOR


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        return module.command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """click's lookup in mfops' words (not click's), with "did you mean build?"."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS and not ctx.resilient_parsing:
            hint = did_you_mean(close_matches(name, COMMANDS))
            more = f"; {hint}" if hint else ""
            ctx.fail(f"unknown command {name!r}{more}")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """The command, with a write to a closed stdout or stderr (BrokenPipeError) raised
        as OutputClosed: click would otherwise turn it into exit 1 itself, before main()
        sees it. A shard's guard has already seen the BrokenPipeError (its report says so,
        with the same exit code). Another broken pipe (render.output_closed: a git
        subprocess, a socket) is not the reader's doing and stays an internal error."""
        with _if_output_closed(_raise_output_closed):
            return super().invoke(ctx)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """The context, with a closed stdout or stderr met while parsing (an eager option's
        output: --help, --version) raised as OutputClosed, as `invoke` does: click would
        otherwise exit 1 itself, the code of a check that said no."""
        with _if_output_closed(_raise_output_closed):
            return super().make_context(info_name, args, parent, **extra)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="mfops")
@click.option(
    "-C",
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run as if started in this repository (default: walk up to mfops.yaml or .git).",
)
@click.option("--no-color", is_flag=True, help="Never colour the output (NO_COLOR works too).")
@click.pass_context
def cli(ctx: click.Context, repo: Path | None, no_color: bool) -> None:
    """Model-as-code DevOps for Ollama: keep Modelfiles in git, see them as a versioned
    inheritance graph, diff, build, test and promote them."""
    ctx.obj = GlobalOptions(repo=repo, color=False if no_color else None)
    ctx.with_resource(command_invocation())  # answers kept for this command only


def _crash_log(exc: BaseException) -> str:
    """Write the traceback of an unexpected error to a file a user can attach to a bug."""
    import tempfile
    import time
    import traceback

    fd, path = tempfile.mkstemp(prefix=f"mfops-crash-{int(time.time())}-", suffix=".log")
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    with os.fdopen(fd, "w") as fh:  # `--host` and error texts may hold a URL's password
        fh.write(redact(f"mfops {__version__}, Python {sys.version}\nargv: {sys.argv!r}\n\n"))
        fh.write(redact(trace))
    return path


#: click >= 8.2 raises this for a group run without arguments (8.1 printed the help itself).
_NO_ARGS: tuple[type[Exception], ...] = tuple(
    e for e in [getattr(click.exceptions, "NoArgsIsHelpError", None)] if e is not None
)


def _param_name(param: click.Parameter | None) -> str | None:
    if param is None:
        return None
    if isinstance(param, click.Argument):
        return (param.metavar or param.name or "").upper() or None
    longest = sorted(getattr(param, "opts", []) or [], key=len)
    return longest[-1] if longest else param.name


def usage_message(exc: click.UsageError) -> str:
    """A usage error in mfops' words: click words them differently from release to release,
    so only what click found (the option, the parameter) is taken from it."""
    if isinstance(exc, click.NoSuchOption):
        found = f"unknown option {exc.option_name!r}"
        if exc.possibilities:
            found += f" (did you mean {', '.join(sorted(exc.possibilities))}?)"
        return found
    if isinstance(exc, click.BadOptionUsage):
        return f"option {exc.option_name!r}: {exc.message}"
    if isinstance(exc, click.MissingParameter):
        name = _param_name(exc.param)
        kind = "argument" if isinstance(exc.param, click.Argument) else "option"
        return f"missing {kind} {name!r}" if name else "a required value is missing"
    if isinstance(exc, click.BadParameter):
        name = _param_name(exc.param)
        where = f"invalid value for {name!r}" if name else "invalid value"
        return f"{where}: {exc.message}"
    return exc.format_message()


@contextmanager
def _if_output_closed(then: Callable[[], None]) -> Iterator[None]:
    """Run the block; when it breaks on mfops' own closed stdout or stderr
    (render.output_closed), `then()` instead. Any other broken pipe is raised as it is."""
    try:
        yield
    except BrokenPipeError as exc:
        if not output_closed(exc):
            raise
        then()


def _raise_output_closed() -> None:
    raise OutputClosed()


def _silence() -> None:
    """Point stdout and stderr at /dev/null: what is still buffered for them would fail
    again when the interpreter flushes it at exit ("Exception ignored ... BrokenPipeError",
    exit 120)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError, AttributeError):  # closed, or not a real file
            os.dup2(devnull, stream.fileno())
    os.close(devnull)


def _output_closed_exit() -> None:
    """Exit EXIT_OUTPUT_CLOSED without a word and without Python's own complaint."""
    _silence()
    sys.exit(OutputClosed.exit_code)


def _say(message: str) -> None:
    """`message` on stderr, the line main() gives for an outcome already decided:
    when its reader is gone the line is lost, not the exit code that follows (an uncaught
    BrokenPipeError would exit 1, the code of a check that said no, and a shard's report
    already names the decided code)."""
    with _if_output_closed(_silence):
        click.echo(message, err=True)


def _exit_now(code: int) -> NoReturn:
    """Exit at once, the output flushed: after a further stop signal. `sys.exit` would
    first wait for the server calls still in flight (the interpreter joins every worker
    thread before it ends), which the first signal let finish and the second one says
    not to wait for: a sample on a slow model can take minutes. Whatever had to be written
    on the way out (a shard's report, a tag put back) was written as the signal unwound."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(code)


def _stopping() -> None:
    """At the first stop signal: say so at once when server calls are in flight, which the
    stop lets end (a slow model's sample takes minutes) and a second signal does not."""
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        line = "mfops: stopping once the server calls in flight end (interrupt again to stop now)"
        # Straight to the descriptor: the signal may have come in the middle of a write to
        # sys.stderr, and writing to that buffered stream again here would raise.
        with suppress(OSError):
            os.write(2, (line + "\n").encode())


def _exit_on_further_signal(code: int) -> None:
    """From here on, a stop signal exits at once with `code`. After the first interrupt
    the interpreter still waits, as it ends, for the server calls in flight (it joins every
    worker thread), with Python's own handlers back in place: a second Ctrl-C there raised
    KeyboardInterrupt inside that wait, and the process died by the signal (-2, "killed")
    instead of exiting 130 with its report written."""

    def now(signum: int, frame: FrameType | None) -> None:
        _exit_now(code)

    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            with suppress(OSError, ValueError):  # (not settable off the main thread)
                signal.signal(signum, now)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run, map the outcome to an exit code, exit."""
    # Loading a large repo allocates about a million small, acyclic objects; at the default
    # threshold the cyclic collector rescans them all again and again (a third of a 10,000
    # model diff). A short-lived CLI loses nothing by collecting far less often.
    gc.set_threshold(100_000, 50, 100)
    try:
        # frozen_loads: bulk loads set what they built aside from later collections
        # (fileio/bulk.py). SIGTERM, SIGHUP: cleaned up after like Ctrl-C.
        with frozen_loads(), terminate_like_interrupt(_stopping):
            rv = cli.main(args=argv, prog_name="mfops", standalone_mode=False)
    except MfopsError as err:
        line = str(err) if hasattr(err, "location") else f"mfops: {err}"
        _say(redact(line))
        sys.exit(err.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except _NO_ARGS as exc:
        # `mfops` alone: the help, as `mfops --help` prints it (nothing went wrong).
        with _if_output_closed(_output_closed_exit):  # (the output asked for: a command's)
            click.echo(exc.ctx.get_help() if exc.ctx is not None else "")  # type: ignore[attr-defined]
        sys.exit(0)
    except click.UsageError as exc:
        # One line, like every other input error (click's own form takes three or four).
        where = exc.ctx.command_path if exc.ctx is not None else "mfops"
        _say(f"mfops: {usage_message(exc)} (see `{where} --help`)")
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        with _if_output_closed(_silence):
            exc.show()
        sys.exit(exc.exit_code if exc.exit_code != 1 else EXIT_USAGE)
    except (KeyboardInterrupt, click.exceptions.Abort) as stop:
        cause = stop.__cause__ if isinstance(stop, click.exceptions.Abort) else stop  # click wraps
        signum = getattr(cause, "signum", None)
        code = 128 + signum if signum else EXIT_INTERRUPTED
        if argv is None:  # the process's own entry point: in-process callers keep theirs
            _exit_on_further_signal(code)
        _say(f"mfops: interrupted{f' ({cause})' if signum else ''}")
        if stops_raised() > 1:
            _exit_now(code)
        sys.exit(code)
    except OutputClosed:
        # The reader went away (`mfops ... | head`): stop quietly, as git does (OutputClosed).
        _output_closed_exit()
    except Exception as exc:  # the one place that catches everything: a bug in mfops
        if output_closed(exc):  # (written outside a command: the usage line, --help)
            _output_closed_exit()
        path = _crash_log(exc)
        _say(redact(f"mfops: internal error: {type(exc).__name__}: {exc} (traceback in {path})"))
        sys.exit(EXIT_INTERNAL)
    sys.exit(rv if isinstance(rv, int) else 0)
