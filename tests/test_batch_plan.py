"""plan_outputs: where a batch run writes, decided and checked without argparse or a model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpinpaint.batch import BatchPlan, plan_outputs
from dpinpaint.errors import InvalidInputError


def _img(path: Path, size: tuple[int, int] = (8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 7, np.uint8)).save(path)
    return path


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    for name in ("a.png", "b.jpg", "sub/c.png"):
        _img(root / name)
    for name in ("a_mask.png", "b_mask.png", "sub/c_mask.png"):
        _img(root / name)
    return root


def test_folder_output_keeps_relative_paths_and_formats(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    plan = plan_outputs([photos], photos, out, recursive=True)
    assert isinstance(plan, BatchPlan) and plan.file is None and plan.folder == out and not plan.skipped
    assert [(p.relative, p.mask.name if p.mask else None, p.output) for p in plan.todo] == [
        ("a.png", "a_mask.png", out / "a.png"),
        ("b.jpg", "b_mask.png", out / "b.jpg"),
        ("sub/c.png", "c_mask.png", out / "sub/c.png"),
    ]
    assert [p.output for p in plan_outputs([photos], photos, out, fmt="webp").todo] == [out / "a.webp", out / "b.webp"]


def test_a_file_name_is_the_output_of_a_single_image(photos: Path, tmp_path: Path) -> None:
    target = tmp_path / "result.png"
    plan = plan_outputs([photos / "a.png"], photos / "a_mask.png", target)
    assert plan.file == target and plan.folder == tmp_path and [p.output for p in plan.todo] == [target]
    with pytest.raises(InvalidInputError, match="names one image file, but 2 images"):
        plan_outputs([photos], photos, tmp_path / "result.png")
    with pytest.raises(InvalidInputError, match="contradicts --format jpg"):
        plan_outputs([photos / "a.png"], photos / "a_mask.png", target, fmt="jpg")
    with pytest.raises(InvalidInputError, match="is the input image itself"):
        plan_outputs([photos / "a.png"], photos / "a_mask.png", photos / "a.png")
    with pytest.raises(InvalidInputError, match="results can be written as"):
        plan_outputs([photos / "a.png"], photos / "a_mask.png", tmp_path / "result.tiff")
    # a trailing slash makes it a folder
    assert plan_outputs([photos / "a.png"], photos / "a_mask.png", f"{tmp_path}/result.png/").file is None


def test_existing_outputs_error_skip_or_overwrite(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _img(out / "a.png")
    with pytest.raises(InvalidInputError, match=r"1 output.*already exist.*--skip-existing.*--overwrite"):
        plan_outputs([photos], photos, out)
    skip = plan_outputs([photos], photos, out, existing="skip")
    assert [p.relative for p in skip.skipped] == ["a.png"] and [p.relative for p in skip.todo] == ["b.jpg"]
    assert [p.relative for p in skip.pairs] == ["a.png", "b.jpg"]
    assert len(plan_outputs([photos], photos, out, existing="overwrite").todo) == 2


def test_clashes_are_found_across_all_shards(photos: Path, tmp_path: Path) -> None:
    _img(photos / "a.jpg")
    _img(photos / "a_mask.jpg")
    with pytest.raises(InvalidInputError, match="would be written twice"):
        plan_outputs([photos], photos, tmp_path / "out", fmt="png", shard=(1, 2))


def test_shards_split_the_work_and_an_empty_shard_is_an_empty_plan(photos: Path, tmp_path: Path) -> None:
    shards = [{p.relative for p in plan_outputs([photos], photos, tmp_path / "o", shard=(k, 5)).todo} for k in range(5)]
    assert set().union(*shards) == {"a.png", "b.jpg"} and sum(map(len, shards)) == 2
    assert set() in shards  # 5 shards of 2 images: some are empty, which is no error
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="no images found in"):
        plan_outputs([empty], photos, tmp_path / "o")


def test_bad_outputs_fail_before_any_work(photos: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="--output is empty"):
        plan_outputs([photos], photos, "  ")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InvalidInputError, match="is a file"):
        plan_outputs([photos], photos, tmp_path / "afile")
    with pytest.raises(InvalidInputError, match="--format must be"):
        plan_outputs([photos], photos, tmp_path / "o", fmt="gif")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(InvalidInputError, match="permission denied"):
                plan_outputs([photos], photos, locked / "new")
        finally:
            locked.chmod(0o700)


def test_stale_temporaries_of_this_plan_only_are_removed(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    mine = out / ".a.png.0123456789ab.dpinpaint-tmp"
    other = out / ".z.png.0123456789ab.dpinpaint-tmp"
    mine.write_bytes(b"x")
    other.write_bytes(b"x")
    assert plan_outputs([photos], photos, out).remove_stale_temporaries() == 1
    assert not mine.exists() and other.exists()


def test_the_cli_exits_0_on_an_empty_shard(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dpinpaint.cli import main

    codes = [main(["inpaint", str(photos), "-m", str(photos), "-o", str(tmp_path / "o"), "--shard", f"{k}/5"])
             for k in range(5)]  # fmt: skip
    assert codes == [0] * 5
    assert "holds none of the images: nothing to do" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.png", "b.jpg"]
