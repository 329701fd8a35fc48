"""README and help agree (issue 24, Build 6, the CLI's part).

- every subcommand has a one-line description, and every argument with choices names
  them in ``--help`` (``batches --status`` included);
- every subcommand and option of the parser is in the README's CLI table;
- the README's Search section and ``search --help`` say the same of ``--from/--to``;
- no message meant for a user cites DESIGN (a file a user does not have).
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

from workers.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.index("\n## ", start + 1)
    return README[start:end]


def _subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(((*path, name), sub))
                found.extend(_subcommands(sub, (*path, name)))
    return found


def test_every_subcommand_has_a_description_and_lists_its_choices() -> None:
    commands = _subcommands(build_parser())
    assert len(commands) > 25
    for path, sub in commands:
        name = " ".join(path)
        assert sub.description and len(sub.description.splitlines()[0]) > 10, name
        shown = sub.format_help()
        for action in sub._actions:
            if action.choices and not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"sohoa {name} {action.dest}: no help"
                options = shown.split("options:")[-1] if action.option_strings else shown
                for choice in action.choices:
                    assert str(choice) in options, f"sohoa {name}: {choice} not listed"
    batches = dict(commands)[("batches",)]
    status = next(a for a in batches._actions if a.dest == "status")
    assert "needs_dossier" in status.choices and "in_progress" in status.choices


def test_the_cli_table_names_every_command_and_option() -> None:
    table = _section("CLI")
    for path, sub in _subcommands(build_parser()):
        if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
            continue  # a group (users, storage): its actions are listed
        assert f"sohoa {' '.join(path)}" in table or (
            path[0] == "users" and f"users {path[-1]}" in table
        ), f"sohoa {' '.join(path)} is not in the README's CLI table"
        for action in sub._actions:
            options = set(action.option_strings) - {"-h", "--help", "--json", "--tsv", "--config"}
            if options:  # an option is named by any of its spellings (-o or --output)
                assert any(o in table for o in options), (
                    f"sohoa {' '.join(path)} {'/'.join(sorted(options))} missing from the table"
                )


def test_readme_and_help_agree_on_the_search_dates() -> None:
    parser = dict(_subcommands(build_parser()))[("search",)]
    helps = {a.dest: a.help or "" for a in parser._actions}
    assert "issued" in helps["date_from"] and "received" in helps["date_from"]
    for text in (_section("Search"), _section("CLI")):
        said = re.findall(r"`--from/--to`[^.;]*", text)
        assert said, "the README says what --from/--to filter on"
        for sentence in said:
            assert "issued date" in " ".join(sentence.split()), sentence


def _messages(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings (messages, not explanations)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    out = []
    for node in ast.walk(tree):
        is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
        if is_text and id(node) not in docstrings:
            out.append((node.lineno, node.value))
    return out


def test_no_message_points_at_design() -> None:
    cited = []
    for folder in ("pipeline", "workers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, text in _messages(path):
                if "DESIGN" in text or "§" in text:
                    cited.append(f"{path.relative_to(ROOT)}:{line}: {text.strip()[:80]}")
    assert not cited, "messages cite DESIGN, which users do not have:\n" + "\n".join(cited)
