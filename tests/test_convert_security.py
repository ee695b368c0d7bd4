"""Malicious pickles in every accepted container are refused, with no side effect.

Each payload would, if unpickled by a normal loader, either run a shell command that
creates a marker file, or import a module (placed on ``sys.path`` for the test) whose
import creates a marker file and registers itself in ``sys.modules``. The embedded source
code of NVIDIA pickles (``module_src`` / ``build_module_src``) is likewise a payload that
must never run.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import io
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import dpinpaint
from dpinpaint.config import StyleGAN2Config
from dpinpaint.convert import load_stylegan2
from dpinpaint.errors import CheckpointError, UnsafeCheckpointError
from support.convert_fixtures import (
    GlobalRef,
    build_nvidia_pytorch,
    faithful_dumps,
    tf_variables,
    write_nvidia_pytorch,
    write_nvidia_tf,
    write_rosinality,
)

SMALL = StyleGAN2Config(resolution=32, channels=(16, 16, 12, 6), z_dim=16, w_dim=16, n_mlp=2)
EVIL_MODULE = "dpinpaint_evil_payload"


class ShellPayload:
    """Unpickling calls ``os.system("touch <marker>")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


class ImportPayload:
    """Unpickling imports :data:`EVIL_MODULE`."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (importlib.import_module, (EVIL_MODULE,))


class NamedGlobalPayload:
    """Unpickling calls ``module.name(arg)`` (written through the fixture pickler)."""

    def __init__(self, module: str, name: str, arg: str) -> None:
        self.ref, self.arg = GlobalRef.get(module, name), arg

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.ref, (self.arg,))


@pytest.fixture()
def markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(shell marker, import marker); the evil module is importable for the duration of the test."""
    shell_marker = tmp_path / "shell-ran"
    import_marker = tmp_path / "import-ran"
    pkg = tmp_path / "evil"
    pkg.mkdir()
    (pkg / f"{EVIL_MODULE}.py").write_text(f"open({str(import_marker)!r}, 'w').write('imported')\n")
    monkeypatch.syspath_prepend(str(pkg))
    yield shell_marker, import_marker
    sys.modules.pop(EVIL_MODULE, None)


def _assert_no_side_effect(shell_marker: Path, import_marker: Path) -> None:
    assert not shell_marker.exists(), "the shell payload ran"
    assert not import_marker.exists(), "the import payload ran"
    assert EVIL_MODULE not in sys.modules


def _payloads(shell_marker: Path) -> list[tuple[str, Any]]:
    return [("system", ShellPayload(shell_marker)), ("import_module", ImportPayload())]


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_rosinality_container_refuses_payloads(tmp_path: Path, markers: tuple[Path, Path], legacy: bool) -> None:
    shell_marker, import_marker = markers
    # torch registers some safe globals of its own on its first load: let it, then compare.
    load_stylegan2(write_rosinality(tmp_path / "first.pt", SMALL, legacy=legacy)[0])
    before = set(map(repr, torch.serialization.get_safe_globals()))
    for name, payload in _payloads(shell_marker):
        path, *_ = write_rosinality(tmp_path / f"{name}.pt", SMALL, legacy=legacy, extra={"args": payload})
        with pytest.raises(UnsafeCheckpointError, match=name) as exc:
            load_stylegan2(path)
        assert "weights_only=False" not in str(exc.value)
        _assert_no_side_effect(shell_marker, import_marker)
    # the extra allowed class (argparse.Namespace) was allowed for those calls only
    assert set(map(repr, torch.serialization.get_safe_globals())) == before
    load_stylegan2(write_rosinality(tmp_path / "ok.pt", SMALL, legacy=legacy)[0])
    assert set(map(repr, torch.serialization.get_safe_globals())) == before
    assert repr(argparse.Namespace) not in before


def test_nvidia_pytorch_container_refuses_payloads(tmp_path: Path, markers: tuple[Path, Path]) -> None:
    shell_marker, import_marker = markers
    G, D = build_nvidia_pytorch()
    for name, payload in _payloads(shell_marker):
        # at the top level, as another snapshot entry
        path = write_nvidia_pytorch(tmp_path / f"top-{name}.pkl", G, D, extra={"augment_pipe": payload})
        with pytest.raises(UnsafeCheckpointError, match=name):
            load_stylegan2(path)
        # deep inside a persistent object's state
        G.synthesis.b8.conv0.evil = payload
        path = write_nvidia_pytorch(tmp_path / f"deep-{name}.pkl", G, D)
        del G.synthesis.b8.conv0.evil
        with pytest.raises(UnsafeCheckpointError, match=name):
            load_stylegan2(path)
        _assert_no_side_effect(shell_marker, import_marker)
    # builtins.exec / eval named directly
    for fn in ("exec", "eval"):
        payload = NamedGlobalPayload("builtins", fn, f"open({str(shell_marker)!r}, 'w')")
        path = write_nvidia_pytorch(tmp_path / f"{fn}.pkl", G, D, extra={"augment_pipe": payload})
        with pytest.raises(UnsafeCheckpointError, match=f"builtins.{fn}"):
            load_stylegan2(path)
    _assert_no_side_effect(shell_marker, import_marker)


def test_nvidia_pytorch_tensor_storage_payload_is_refused(tmp_path: Path, markers: tuple[Path, Path]) -> None:
    """Storages are torch.save bytes (torch's own loader uses weights_only=False on them): ours refuses."""
    shell_marker, import_marker = markers
    evil_bytes = io.BytesIO()
    torch.save(ShellPayload(shell_marker), evil_bytes, _use_new_zipfile_serialization=False)

    class EvilStorage:
        def __reduce__(self) -> tuple[Any, ...]:
            return (GlobalRef.get("torch.storage", "_load_from_bytes"), (evil_bytes.getvalue(),))

    G, D = build_nvidia_pytorch()
    path = write_nvidia_pytorch(tmp_path / "storage.pkl", G, D, extra={"augment_pipe": EvilStorage()})
    with pytest.raises(UnsafeCheckpointError, match="storage"):
        load_stylegan2(path)
    _assert_no_side_effect(shell_marker, import_marker)


def test_nvidia_pytorch_embedded_source_is_never_executed(tmp_path: Path, markers: tuple[Path, Path]) -> None:
    shell_marker, import_marker = markers
    G, D = build_nvidia_pytorch()
    src = f"import {EVIL_MODULE}\nimport os\nos.system('touch {shell_marker}')\n"
    _, _, info = load_stylegan2(write_nvidia_pytorch(tmp_path / "src.pkl", G, D, module_src=src))
    assert info.format == "nvidia-pytorch"
    _assert_no_side_effect(shell_marker, import_marker)


def test_nvidia_tf_container_refuses_payloads(tmp_path: Path, markers: tuple[Path, Path]) -> None:
    shell_marker, import_marker = markers
    mapping, syn, d = tf_variables()
    avg = torch.zeros(16).numpy()
    kw: dict[str, Any] = {"resolution": 32, "fmap_base": 96, "fmap_max": 16}
    for name, payload in _payloads(shell_marker):
        bad_syn = {**syn, "4x4/Conv/bias": payload}
        path = write_nvidia_tf(tmp_path / f"{name}.pkl", mapping, bad_syn, d, avg, **kw)  # type: ignore[arg-type]
        with pytest.raises(UnsafeCheckpointError, match=name):
            load_stylegan2(path)
        _assert_no_side_effect(shell_marker, import_marker)
    src = f"import {EVIL_MODULE}\nimport os\nos.system('touch {shell_marker}')\n"
    _, _, info = load_stylegan2(write_nvidia_tf(tmp_path / "src.pkl", mapping, syn, d, avg, module_src=src, **kw))
    assert info.format == "nvidia-tf"
    _assert_no_side_effect(shell_marker, import_marker)


def test_plain_pickle_of_a_class_instance_is_refused(tmp_path: Path, markers: tuple[Path, Path]) -> None:
    shell_marker, import_marker = markers
    path = tmp_path / "weights.pkl"
    path.write_bytes(faithful_dumps({"G_ema": NamedGlobalPayload(EVIL_MODULE, "anything", "x")}))
    with pytest.raises(UnsafeCheckpointError, match=EVIL_MODULE):
        load_stylegan2(path)
    _assert_no_side_effect(shell_marker, import_marker)


# --------------------------------------------------------------------------------------------
# the package never loads pickles unsafely
# --------------------------------------------------------------------------------------------
PACKAGE = Path(dpinpaint.__file__).resolve().parent


def _package_sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_weights_only_false_anywhere_in_the_package() -> None:
    pattern = re.compile(r"weights_only\s*=\s*(False|0|None)\b")
    offenders = [
        f"{p}:{i}"
        for p in _package_sources()
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_every_torch_load_is_weights_only_and_no_default_unpickler() -> None:
    loads, problems = 0, []
    for path in _package_sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
            where = f"{path.relative_to(PACKAGE)}:{node.lineno}"
            if owner == "torch" and node.func.attr == "load":
                loads += 1
                kw = {k.arg: k.value for k in node.keywords}
                value = kw.get("weights_only")
                if not (isinstance(value, ast.Constant) and value.value is True):
                    problems.append(f"torch.load without weights_only=True at {where}")
            if owner == "pickle" and node.func.attr in ("load", "loads", "Unpickler"):
                problems.append(f"pickle.{node.func.attr} at {where}")
            if owner in ("dill", "marshal", "shelve") or (owner is None and node.func.attr == "_load_from_bytes"):
                problems.append(f"unsafe loader at {where}")
    assert problems == []
    assert loads >= 1  # file_faults.weights_only_load: the torch.save container and the storages in NVIDIA pickles


@pytest.mark.parametrize(
    ("module", "name", "state"),
    [
        # BUILD with a dict state on an allow-listed function: would set its attributes for good.
        ("torch._utils", "_rebuild_tensor_v2", b"}X\x04\x00\x00\x00evilK\x01s"),
        # BUILD with (None, slotstate) on an allow-listed stub class: would setattr on the class.
        ("dnnlib.tflib.network", "Network", b"N}X\x04\x00\x00\x00evilK\x01s\x86"),
        ("collections", "OrderedDict", b"N}X\x04\x00\x00\x00evilK\x01s\x86"),
    ],
)
def test_a_pickle_cannot_set_the_state_of_an_allowed_global(
    tmp_path: Path, module: str, name: str, state: bytes
) -> None:
    from dpinpaint.convert.safe_pickle import NVIDIA_PYTORCH_GLOBALS, NVIDIA_TF_GLOBALS, load_pickle

    target = {**NVIDIA_TF_GLOBALS, **NVIDIA_PYTORCH_GLOBALS}.get((module, name))
    if target is None:
        pytest.skip(f"{module}.{name} is not allow-listed")
    path = tmp_path / "build.pkl"
    path.write_bytes(b"\x80\x02c" + f"{module}\n{name}\n".encode() + state + b"b.")
    with pytest.raises(UnsafeCheckpointError, match="sets the state of"):
        load_pickle(path)
    assert not hasattr(target, "evil")


def test_build_on_objects_the_pickle_made_still_works(tmp_path: Path) -> None:
    """Ordinary pickles set the state of the objects they build (EasyDict, numpy arrays): that stays."""
    from dpinpaint.convert.safe_pickle import load_pickle

    path = tmp_path / "ok.pkl"
    path.write_bytes(faithful_dumps({"a": [1, 2.5, "x"], "b": (None, True)}))
    assert load_pickle(path) == {"a": [1, 2.5, "x"], "b": (None, True)}


def test_expanded_tensors_are_refused_before_anything_is_copied(tmp_path: Path) -> None:
    """An 87 KB file can hold a stride-0 view of 1.6 billion elements; copying it would take 6.4 GB."""
    from dpinpaint.convert.safe_pickle import check_tensor_extents, load_torch_file

    path = tmp_path / "expanded.pt"
    torch.save({"g_ema": {"weight": torch.zeros(1).expand(40000, 40000)}}, path)
    assert path.stat().st_size < 100_000
    with pytest.raises(CheckpointError, match=r"expanded view of 1 stored elements"):
        load_torch_file(path)
    sliced = {"a": torch.arange(12.0).reshape(3, 4)[:, :2], "b": [torch.ones(2)], "n": None}
    assert check_tensor_extents(sliced, "x") is sliced  # views within their storage are fine
