"""Run the code blocks of Markdown pages: the harness of tests/test_docs.py.

A page's fenced blocks run in the order they appear, in a working folder prepared with small
inputs (:func:`prepare_inputs`):

- ``python`` blocks of a page share one namespace and one folder, so a block may use what an
  earlier block of the same page defined (as a reader following the page would);
- each line of a ``bash`` block (continuations joined) runs in a fresh copy of the prepared
  folder, as a reader would copy one example line; its ``dpinpaint ...`` commands run
  in-process through :func:`dpinpaint.cli.main` and must exit 0 (``> FILE`` receives their
  standard output). Other commands of a shell block (``pip``, ``git``, ``python script.py``) are
  setup for the reader's machine and are not run here; a shell block with no ``dpinpaint``
  command must say why with a ``skip`` marker;
- ``json`` blocks must parse; other languages are not run.

Markers are HTML comments (invisible on a rendered page) on the lines right above a fence:

- ``<!-- docs-test: skip (why) -->``: the block is not run (it needs a GPU, the network, a
  pretrained StyleGAN2, hours of training, ...); the reason is printed with the skip, and
  :func:`check_statically` still checks it;
- ``<!-- docs-test: replace "OLD" "NEW" -->``: run the block with ``OLD`` replaced by ``NEW``
  (fewer steps, a smaller model); ``OLD`` must occur in the block;
- ``<!-- docs-test: env NAME=VALUE ... -->``: environment variables for the block (``$NAME`` and
  ``${NAME}`` in shell lines are expanded from them).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import json
import os
import re
import shlex
import shutil
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from dpinpaint.cli import build_parser
from dpinpaint.cli import main as cli_main

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>\w*)[ \t]*\n(?P<code>.*?)^(?P=indent)```", re.S | re.M)
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<body>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: its language, the line of its opening fence, its code
    (dedented) and the ``docs-test`` markers above it."""

    path: Path
    language: str
    line: int
    code: str
    markers: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        for marker in self.markers:
            if marker == "skip" or marker.startswith("skip "):
                return marker[4:].strip().strip("()") or "no reason given"
        return None

    def env(self) -> dict[str, str]:
        pairs = [word.split("=", 1) for m in self.markers if m.startswith("env ") for word in shlex.split(m[4:])]
        return {name: value for name, value in pairs}

    def runnable_code(self) -> str:
        """The code with the ``replace`` markers applied (a marker whose text is absent is an error)."""
        code = self.code
        for marker in self.markers:
            if marker.startswith("replace "):
                old, new = shlex.split(marker[8:])
                if old not in code:
                    raise AssertionError(f"{self.where}: marker `replace {old!r}`: no such text in the block")
                code = code.replace(old, new)
        return code


def code_blocks(path: Path) -> list[Block]:
    """The fenced blocks of ``path`` (indented ones, e.g. in list items, included)."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].splitlines()
        markers: list[str] = []
        while before and (found := MARKER.match(before[-1])):
            markers.insert(0, found.group("body"))
            before.pop()
        indent = len(match.group("indent"))
        code = "".join(line[indent:] for line in match.group("code").splitlines(keepends=True))
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(path, match.group("lang"), line, code, tuple(markers)))
    return blocks


@dataclass(frozen=True)
class Command:
    """A ``dpinpaint`` command of a shell line: its arguments and where ``>`` sends its output."""

    args: list[str]
    stdout: str | None = None


def shell_lines(code: str, env: dict[str, str] | None = None) -> list[list[Command]]:
    """The ``dpinpaint`` commands of each line of a shell block (continuations joined, ``$VAR``
    expanded from ``env``, comments, pipes and other commands cut off)."""
    lines = []
    for line in code.replace("\\\n", " ").splitlines():
        if env:
            line = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), m.group(0)), line)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split, lexer.commenters = True, "#"
        commands: list[Command] = []
        words: list[str] = []
        target: str | None = None
        tokens = list(lexer)
        while tokens and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", tokens[0]):  # VAR=value before a command
            tokens.pop(0)
        redirect = False
        for token in [*tokens, ";"]:
            if token and set(token) <= set("&|;<>()"):  # an operator: a redirection, or the end of a command
                if token in (">", ">>"):
                    redirect = True
                    continue
                if words and words[0] == "dpinpaint":
                    commands.append(Command(words[1:], target))
                words, target, redirect = [], None, False
            elif redirect:
                target, redirect = token, False
            else:
                words.append(token)
        if commands:
            lines.append(commands)
    return lines


def dpinpaint_commands(code: str) -> list[list[str]]:
    """The argument lists of every ``dpinpaint`` command of a shell block."""
    return [command.args for line in shell_lines(code) for command in line]


# -- static checks (every block, run or skipped) -------------------------------------------------
def check_statically(block: Block) -> None:
    """Python blocks compile and their ``dpinpaint`` imports exist; the CLI's parser accepts every
    ``dpinpaint`` command of a shell block; json blocks parse. Raises AssertionError / SyntaxError."""
    if block.language == "python":
        tree = ast.parse(block.code, filename=block.where)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dpinpaint":
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name) or _is_submodule(node.module, alias.name), (
                        f"{block.where}: `from {node.module} import {alias.name}`: no such name"
                    )
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "dpinpaint":
                        importlib.import_module(alias.name)
    elif block.language == "json":
        json.loads(block.code)
    elif block.language == "bash":
        parser = build_parser()
        for args in dpinpaint_commands(block.code):
            if args in (["--help"], ["--version"]) or not args:
                continue
            try:
                parser.parse_args(args)
            except SystemExit as exc:  # argparse reports an unknown option or subcommand this way
                raise AssertionError(f"{block.where}: `dpinpaint {shlex.join(args)}` is refused by the CLI") from exc


def _is_submodule(package: str, name: str) -> bool:
    try:
        importlib.import_module(f"{package}.{name}")
    except ImportError:
        return False
    return True


# -- running -------------------------------------------------------------------------------------
@dataclass
class PageRun:
    """What running a page did: the blocks run, skipped (with reasons) and the failures."""

    ran: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def run_page(path: Path, inputs: Path, workdir: Path) -> PageRun:
    """Run the blocks of ``path`` (see the module's docstring) in copies of ``inputs`` under ``workdir``."""
    result = PageRun()
    python_dir = _copy(inputs, workdir / "python")
    namespace: dict[str, object] = {"__name__": "__main__"}
    copies = 0
    for block in code_blocks(path):
        if block.language not in ("python", "bash", "json"):
            continue
        reason = block.skip_reason
        if reason is not None:
            result.skipped.append((block.where, reason))
            continue
        if block.language == "bash" and not dpinpaint_commands(block.code):
            result.failures.append(
                f"{block.where}: a shell block without a `dpinpaint` command: nothing of it runs here; "
                "mark it `<!-- docs-test: skip (why) -->`"
            )
            continue
        try:
            code = block.runnable_code()
            with _environment(block.env()):
                if block.language == "python":
                    failure = _run_python(block, code, namespace, python_dir)
                elif block.language == "bash":
                    failed = []
                    for commands in shell_lines(code, {**os.environ, **block.env()}):
                        copies += 1
                        failed.append(_run_commands(block, commands, _copy(inputs, workdir / f"sh{copies}")))
                    failure = "\n".join(f for f in failed if f) or None
                else:
                    json.loads(code)
                    failure = None
        except Exception as exc:
            failure = f"{block.where}: {type(exc).__name__}: {exc}"
        if failure:
            result.failures.append(failure)
        else:
            result.ran.append(block.where)
    return result


def _run_python(block: Block, code: str, namespace: dict[str, object], folder: Path) -> str | None:
    padded = "\n" * block.line + code  # tracebacks name the page's own line numbers
    with _cwd(folder):
        try:
            exec(compile(padded, str(block.path), "exec"), namespace)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            frames = traceback.format_exception(exc)
            return f"{block.where}: python block failed:\n{''.join(frames[-6:])}"
    return None


#: Subcommands that serve until they are stopped: run in-process they would hang the test.
SERVING_COMMANDS = frozenset({"ui"})


def _run_commands(block: Block, commands: list[Command], folder: Path) -> str | None:
    for command in commands:
        if command.args and command.args[0] in SERVING_COMMANDS:
            return (
                f"{block.where}: `dpinpaint {shlex.join(command.args)}` serves until it is stopped, so it cannot "
                "run here; leave it out of runnable blocks or mark the block `<!-- docs-test: skip (why) -->`"
            )
        out, err = io.StringIO(), io.StringIO()
        with _cwd(folder), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = cli_main(command.args)
            except SystemExit as exc:  # argparse's refusals
                status = exc.code if isinstance(exc.code, int) else 1
        if command.stdout is not None:
            (folder / command.stdout).write_text(out.getvalue(), encoding="utf-8")
        if status != 0:
            return (
                f"{block.where}: `dpinpaint {shlex.join(command.args)}` exited {status}:\n"
                f"{err.getvalue()[-2000:]}{out.getvalue()[-1000:]}"
            )
    return None


@contextlib.contextmanager
def _cwd(folder: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _copy(inputs: Path, folder: Path) -> Path:
    shutil.copytree(inputs, folder, symlinks=True)
    return folder


# -- the inputs the pages name -----------------------------------------------------------------
def prepare_inputs(folder: Path, root: Path) -> Path:
    """Write the small files the pages' blocks name into ``folder`` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    photo, mask = _photo(120, 160, seed=0), _mask(120, 160, boxes=[(40, 60, 75, 100)])
    two_holes = _mask(120, 160, boxes=[(10, 10, 30, 35), (85, 120, 110, 150)])
    for name, image in {
        "photo.jpg": photo,
        "photo_mask.png": mask,
        "a.jpg": _photo(120, 160, seed=1),
        "b.png": _photo(120, 160, seed=2),
        "mask.png": two_holes,
        "face.png": _photo(120, 160, seed=3),
        "photos/photo.jpg": photo,
        "photos/photo_mask.png": mask,
        "photos/tree.jpg": _photo(100, 150, seed=4),
        "photos/tree_mask.png": _mask(100, 150, boxes=[(15, 100, 45, 140)]),
        "masks/photo.png": mask,
        "masks/tree.png": _mask(100, 150, boxes=[(15, 100, 45, 140)]),
    }.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target)
    for data in ("test-images", "ffhq-test", "validation16", "demo-data/heldout"):  # ground truth to evaluate on
        for seed in (5, 6):
            target = folder / data / f"{seed}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            _photo(144, 176, seed=seed).save(target)
    for name in ("photo.png", "mask.png"):
        target = folder / "docs/images/demo" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / "docs/images/demo" / name, target)
    return folder


def _photo(height: int, width: int, seed: int) -> Image.Image:
    """A smooth colour image with some texture (a stand-in photo)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(6 * x + seed), np.cos(5 * y - seed), np.sin(4 * (x + y))], axis=-1) * 0.35 + 0.5
    image = np.clip(base + rng.normal(0, 0.04, base.shape), 0, 1)
    return Image.fromarray((image * 255).astype(np.uint8))


def _mask(height: int, width: int, boxes: list[tuple[int, int, int, int]]) -> Image.Image:
    """White (fill) rectangles ``(top, left, bottom, right)`` on black."""
    mask = np.zeros((height, width), np.uint8)
    for top, left, bottom, right in boxes:
        mask[top:bottom, left:right] = 255
    return Image.fromarray(mask)
