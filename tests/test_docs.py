"""The code blocks of README.md and docs/*.md stay true to the package.

Every ``python`` block must compile and every name it imports from ``dpinpaint`` must exist;
every ``dpinpaint ...`` line of a ``bash`` block must be accepted by the CLI's own argument
parser (subcommand and options), so a renamed or removed option fails here, not in a user's
terminal. ``json`` blocks must parse. Running the commands themselves is left to the tests of
each feature (e.g. test_demo runs the README's main command).
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import shlex
from pathlib import Path

import pytest

from dpinpaint.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def code_blocks(path: Path) -> list[tuple[str, int, str]]:
    """``(language, line number, code)`` of each fenced block of ``path``."""
    text = path.read_text(encoding="utf-8")
    return [(m.group(1), text.count("\n", 0, m.start()) + 1, m.group(2)) for m in FENCE.finditer(text)]


def dpinpaint_commands(code: str) -> list[list[str]]:
    """The argument lists of the ``dpinpaint ...`` commands in a shell block (continuations joined,
    comments, pipes, redirections and ``&&`` chains cut off)."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split, lexer.commenters = True, "#"
        words: list[str] = []
        tokens = list(lexer)
        while tokens and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", tokens[0]):  # VAR=value before a command
            tokens.pop(0)
        for token in [*tokens, ";"]:
            if token and set(token) <= set("&|;<>()"):  # an operator ends the command: keep it if it is dpinpaint
                if words and words[0] == "dpinpaint":
                    commands.append(words[1:])
                words = [] if token not in (">", ">>", "<") else ["<redirect>"]
            elif words == ["<redirect>"]:
                words = ["<target>"]  # the target of a redirection is no argument
            else:
                words.append(token)
    return commands


BLOCKS = [(path, *block) for path in DOCS for block in code_blocks(path)]
IDS = [f"{path.name}:{line}" for path, _, line, _ in BLOCKS]


def test_the_docs_have_code_blocks() -> None:
    languages = {language for _, language, _, _ in BLOCKS}
    assert {"python", "bash"} <= languages and len(BLOCKS) > 30


@pytest.mark.parametrize(("path", "language", "line", "code"), BLOCKS, ids=IDS)
def test_code_block(path: Path, language: str, line: int, code: str) -> None:
    where = f"{path.relative_to(ROOT)}:{line}"
    if language == "python":
        tree = ast.parse(code, filename=where)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dpinpaint":
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name) or _is_submodule(node.module, alias.name), (
                        f"{where}: `from {node.module} import {alias.name}`: no such name"
                    )
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "dpinpaint":
                        importlib.import_module(alias.name)
    elif language == "json":
        json.loads(code)
    elif language == "bash":
        parser = build_parser()
        for args in dpinpaint_commands(code):
            if args in (["--help"], ["--version"]) or not args:
                continue
            try:
                parser.parse_args(args)
            except SystemExit as exc:  # argparse reports an unknown option or subcommand this way
                raise AssertionError(f"{where}: `dpinpaint {shlex.join(args)}` is refused by the CLI") from exc


def _is_submodule(package: str, name: str) -> bool:
    try:
        importlib.import_module(f"{package}.{name}")
    except ImportError:
        return False
    return True


def test_a_broken_snippet_is_caught(tmp_path: Path) -> None:
    """The checks above fail on a planted broken snippet of each kind."""
    parser = build_parser()
    [args] = dpinpaint_commands("dpinpaint inpaint a.png --mask m.png --output out/ --no-such-option  # comment")
    with pytest.raises(SystemExit):
        parser.parse_args(args)
    assert dpinpaint_commands("pip install . && dpinpaint list --cached | head -1") == [["list", "--cached"]]
    assert dpinpaint_commands("OMP_NUM_THREADS=1 dpinpaint env --json > env.json") == [["env", "--json"]]
    with pytest.raises(SyntaxError):
        ast.parse("inp = Inpainter.from_pretrained('demo'\n")
    assert not hasattr(importlib.import_module("dpinpaint"), "NoSuchName")
