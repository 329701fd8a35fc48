"""The ``sohoa`` command line (DESIGN §3).

Exit codes come from the exception tree (``pipeline/errors.py``) and are mapped
here, in one place: 0 success; 2 bad arguments or configuration; 3 input
rejected; 4 storage, database or broker unreachable; 5 not allowed; 1 any other
failure. On a terminal a listing is a table for people (:mod:`workers.cli.output`);
``--json`` (one object per line) and ``--tsv`` (tab-separated, as when piped) are for
programs, before or after the subcommand; progress and explanations go to stderr. A
failure is one line on stderr, never a traceback (``SOHOA_DEBUG=1`` shows it). A reader
that closes the pipe early ends the output, not the command (see ``Output``).

Every subcommand has a one-line description, and every argument with choices names
them in its help (:func:`_describe` fills in what a module left out).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from pipeline import __version__, private
from pipeline.config import Config, load_config
from pipeline.errors import ExitCode, SohoaError, exit_code
from pipeline.flow.recover import clean_tmp
from workers.cli import (
    access,
    broker,
    database,
    documents,
    events,
    office,
    operator,
    process,
    search,
    sign,
    worker,
)
from workers.cli import clients as api_clients  # issue 21: systems that use /api/v1
from workers.cli.output import Output


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is exit 2 through our own error line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"sohoa: error: {message}\n")
        raise SystemExit(int(ExitCode.USAGE))


def build_parser() -> argparse.ArgumentParser:
    # --json and --config are accepted after the subcommand too; SUPPRESS keeps a
    # subcommand's absent flag from overriding the one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object per line"
    )
    common.add_argument(
        "--tsv",
        action="store_true",
        default=argparse.SUPPRESS,
        help="tab-separated lines, as when piped, even on a terminal",
    )
    common.add_argument(
        "--config", default=argparse.SUPPRESS, help="YAML file of settings (or SOHOA_CONFIG)"
    )
    parser = _Parser(
        prog="sohoa",
        description="Digitize paper dossiers into searchable, verified PDF/A in MinIO.",
    )
    parser.add_argument("--config", help="YAML file of settings (or SOHOA_CONFIG)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--tsv", action="store_true", help="tab-separated lines, as when piped, even on a terminal"
    )
    parser.add_argument("--version", action="version", version=f"sohoa {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    for module in (
        process,
        operator,
        search,
        documents,
        sign,
        worker,
        access,
        database,
        broker,
        events,
        office,
    ):
        module.register(sub, common)
    api_clients.register(sub, common)
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser) -> None:
    """A subcommand's help line becomes its description when it has none, and an argument
    with choices but no help lists them, so ``sohoa X --help`` always says what X does."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                if not sub.description and helps.get(name):
                    text = str(helps[name])
                    sub.description = text[0].upper() + text[1:] + "."
                _describe(sub)
        elif action.choices and not action.help:
            action.help = "one of: %(choices)s"


def run_command(
    args: argparse.Namespace, out: Output, cfg: Config | None = None, *, enter_home: bool = False
) -> int:
    """Run a parsed command; every failure becomes its exit code and one line on stderr.

    ``enter_home``: this process is a ``sohoa`` command (not a test calling in), so it
    makes SOHOA_HOME private and keeps its temporary files there (pipeline.private).
    """
    try:
        cfg = cfg or load_config(args.config)
        if enter_home:
            _enter_home(cfg, out)
        code = int(args.handler(args, cfg, out))
        out.finish()
        return code
    except BrokenPipeError:  # the reader left (`| head -1`): not this command's failure
        out.close_quietly()
        return int(ExitCode.OK)
    except SohoaError as exc:
        out.finish()
        out.error(str(exc))
        return exit_code(exc)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: say so in one line, keep the traceback for debugging
        if os.environ.get("SOHOA_DEBUG"):
            traceback.print_exc()
        out.error(f"internal error: {type(exc).__name__}: {exc} (SOHOA_DEBUG=1 shows details)")
        return int(ExitCode.FAILED)


def _enter_home(cfg: Config, out: Output) -> None:
    opened = private.enter_home(cfg.home, cfg.inbox)
    clean_tmp(cfg)  # temporary folders of processes killed before they could remove them
    if opened:
        out.info(
            f"made {len(opened)} files and folders under {cfg.home} private (0600/0700):"
            " group or others could read them"
        )


def main(argv: Sequence[str] | None = None) -> int:
    private.restrict_umask()  # before this process or its children create anything
    args = build_parser().parse_args(argv)
    return run_command(
        args, Output(json_mode=bool(args.json), tsv_mode=bool(args.tsv)), enter_home=True
    )


if __name__ == "__main__":
    sys.exit(main())
