"""The code blocks of README.md, CONTRIBUTING.md and docs/*.md run, so docs that do not run fail here.

Every block is checked statically (python compiles and its ``dpinpaint`` imports exist, the CLI's
parser accepts each ``dpinpaint`` command, json parses); then each page's blocks run in order in
a folder of small inputs (tests/support/doc_snippets.py says how, and which ``<!-- docs-test: ... -->``
markers skip a block with its reason or shrink it). ``org/name`` in the docs is a small
dual-path checkpoint folder of that name in the working folder (a local folder wins over the Hub).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dpinpaint import Inpainter, get_preset
from dpinpaint.config import FeedForwardConfig, StyleEncoderConfig, StyleGAN2Config
from support.doc_snippets import (
    Block,
    PageRun,
    check_statically,
    code_blocks,
    dpinpaint_commands,
    prepare_inputs,
    run_page,
    shell_lines,
)

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
BLOCKS = [block for path in DOCS for block in code_blocks(path)]


def small_dual_path_model(folder: Path) -> Path:
    """A 128x128 dual-path checkpoint with narrow layers and random weights (builds in seconds)."""
    config = get_preset("tiny").replace(
        name="org-name",
        resolution=128,
        deformable_resolutions=(64, 128),
        stylegan=StyleGAN2Config(resolution=128, channels=(64, 64, 64, 64, 32, 16), z_dim=64, w_dim=64, n_mlp=2),
        style_encoder=StyleEncoderConfig(
            stem_channels=16, channels=(32, 32, 64), pyramid_channels=32, head_channels=32, coarse_end=3, middle_end=6
        ),
        feedforward=FeedForwardConfig(
            encoder_channels=(16, 32, 32, 32),
            decoder_channels=(32, 32, 32, 16, 16),
            bottleneck_blocks=1,
            attention_resolution=16,
            latent_channels=32,
        ),
    )
    Inpainter.from_config(config, seed=0).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def doc_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prepared working folder (copied for each page and each shell line)."""
    base = tmp_path_factory.mktemp("doc-inputs")
    model = small_dual_path_model(base / "models" / "org-name")
    inputs = prepare_inputs(base / "inputs", ROOT)
    (inputs / "org").mkdir()
    (inputs / "org" / "name").symlink_to(model, target_is_directory=True)
    return inputs


def test_the_docs_have_code_blocks() -> None:
    languages = {block.language for block in BLOCKS}
    assert {"python", "bash"} <= languages and len(BLOCKS) > 30


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_code_block_statically(block: Block) -> None:
    """Every block, run or not: compiles, imports exist, the CLI parses its commands."""
    check_statically(block)
    reason = block.skip_reason
    if reason is not None:
        pytest.skip(f"{block.where} is not run: {reason}")


@pytest.mark.parametrize("page", DOCS, ids=[page.name for page in DOCS])
def test_page_runs(page: Path, doc_inputs: Path, tmp_path: Path) -> None:
    """The page's python blocks and ``dpinpaint`` commands run on the prepared inputs."""
    result = run_page(page, doc_inputs, tmp_path)
    if not result.ran and not result.failures:
        pytest.skip(f"{page.name}: no block to run ({len(result.skipped)} marked skip)")
    assert not result.failures, "\n\n".join(result.failures)


BROKEN_PAGE = """\
# A page with broken snippets

```python
from dpinpaint import Inpainter
inp = Inpainter.from_pretrained("demo")
```

The next block uses the first one's `inp` (one namespace per page), then fails:

```python
assert inp.resolution == 128
inp.no_such_method()
```

```bash
dpinpaint list
dpinpaint inpaint photo.jpg --mask no_such_mask.png --output out/
```

<!-- docs-test: skip (needs the network) -->
```bash
dpinpaint download org/unreachable
```

```bash
pip install something-else
```

<!-- docs-test: replace "steps=1000" "steps=1" -->
```python
options = dict(steps=1000)
assert options["steps"] == 1
```
"""


def test_a_broken_snippet_is_caught(tmp_path: Path, doc_inputs: Path) -> None:
    """A planted failing python block and a failing ``dpinpaint`` command are both reported, with
    the page's line; a skipped block is listed with its reason; a replace marker applies."""
    page = tmp_path / "broken.md"
    page.write_text(BROKEN_PAGE, encoding="utf-8")
    result: PageRun = run_page(page, doc_inputs, tmp_path / "work")
    assert result.ran == ["broken.md:3", "broken.md:30"]
    assert result.skipped == [("broken.md:21", "needs the network")]
    [python, command, shell] = result.failures
    assert python.startswith("broken.md:10: python block failed") and "no_such_method" in python
    assert 'broken.md", line 12' in python  # the traceback names the page's own line
    assert (
        command.startswith("broken.md:15: `dpinpaint inpaint photo.jpg --mask no_such_mask.png")
        and "exited 2" in command
    )
    assert shell.startswith("broken.md:25: a shell block without a `dpinpaint` command")


def test_a_serving_command_is_refused_not_run(tmp_path: Path, doc_inputs: Path) -> None:
    """``dpinpaint ui`` in a runnable block would serve forever: it is reported instead of run."""
    page = tmp_path / "serve.md"
    page.write_text("```bash\ndpinpaint ui --port 7999\n```\n", encoding="utf-8")
    result = run_page(page, doc_inputs, tmp_path / "work")
    assert result.ran == [] and len(result.failures) == 1
    assert result.failures[0].startswith("serve.md:1: `dpinpaint ui --port 7999` serves until it is stopped")


def test_shell_lines_are_split_into_dpinpaint_commands() -> None:
    code = textwrap.dedent("""\
        pip install . && dpinpaint list --cached | head -1
        OMP_NUM_THREADS=1 dpinpaint env --json > env.json   # a comment
        dpinpaint inpaint a.png --mask m.png \\
            --output out/ --shard ${K}/$N; dpinpaint env
        """)
    lines = shell_lines(code, {"K": "0", "N": "4"})
    assert [[(c.args, c.stdout) for c in line] for line in lines] == [
        [(["list", "--cached"], None)],
        [(["env", "--json"], "env.json")],
        [(["inpaint", "a.png", "--mask", "m.png", "--output", "out/", "--shard", "0/4"], None), (["env"], None)],
    ]
    assert dpinpaint_commands("git status") == []


def test_static_checks_catch_a_broken_block(tmp_path: Path) -> None:
    """A refused option, a syntax error and a missing import are each reported."""
    where = tmp_path / "page.md"
    with pytest.raises(AssertionError, match="refused by the CLI"):
        check_statically(Block(where, "bash", 1, "dpinpaint inpaint a.png --mask m.png --no-such-option\n"))
    with pytest.raises(SyntaxError):
        check_statically(Block(where, "python", 1, "inp = Inpainter.from_pretrained('demo'\n"))
    with pytest.raises(AssertionError, match="no such name"):
        check_statically(Block(where, "python", 1, "from dpinpaint import NoSuchName\n"))
    stale = Block(where, "python", 1, "x = 1\n", ('replace "y = 2" "y = 3"',))
    with pytest.raises(AssertionError, match="no such text"):
        stale.runnable_code()
