"""The checkpoint folder format: round trips, strict loading and damaged files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from dpinpaint import DualPathNet, get_preset
from dpinpaint.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    load_model,
    load_state_dict_strict,
    load_tensors,
    read_config,
    read_shapes,
    save_model,
    save_tensors,
    weights_name,
)
from dpinpaint.errors import CheckpointError

PREFIXES = ("stylegan.", "style_encoder.", "encoder.", "generator.")


@pytest.fixture(scope="module")
def tiny_net() -> DualPathNet:
    torch.manual_seed(3)
    net = DualPathNet(get_preset("tiny")).eval()
    net.stylegan.update_w_avg(num_samples=256)
    return net


@pytest.fixture
def saved(tmp_path: Path, tiny_net: DualPathNet) -> Path:
    save_model(tiny_net, tiny_net.config, tmp_path / "ckpt")
    return tmp_path / "ckpt"


def test_folder_layout_and_prefixes(saved: Path, tiny_net: DualPathNet) -> None:
    assert sorted(p.name for p in saved.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    config = json.loads((saved / CONFIG_NAME).read_text())
    assert config["format_version"] == 1 and config["name"] == "tiny"
    with safe_open(str(saved / WEIGHTS_NAME), framework="pt") as f:
        keys = set(f.keys())
        meta = f.metadata()
    assert keys == set(tiny_net.state_dict())
    assert all(k.startswith(PREFIXES) for k in keys)
    assert {k.split(".")[0] + "." for k in keys} == set(PREFIXES)
    assert "stylegan.w_avg" in keys and meta["format"] == "pt" and meta["model"] == "tiny"
    # Non-persistent FIR kernels are rebuilt from the config, not stored.
    assert not any(k.endswith("blur.kernel") for k in keys)


@pytest.mark.slow
def test_round_trip_is_bit_identical(saved: Path, tiny_net: DualPathNet) -> None:
    loaded = load_model(saved)
    assert not loaded.training
    for (ka, a), (kb, b) in zip(tiny_net.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(a, b), ka
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    known = (torch.rand(2, 1, 64, 64) > 0.3).float()
    with torch.no_grad():
        assert torch.equal(tiny_net(image, known).output, loaded(image, known).output)


def test_saved_files_are_readable_like_any_new_file(saved: Path) -> None:
    """safetensors writes its own private (0o600) file; a checkpoint must be shareable (and wheel-able)."""
    current = os.umask(0)
    os.umask(current)
    for name in ("model.safetensors", "config.json"):
        assert stat.S_IMODE((saved / name).stat().st_mode) == 0o666 & ~current, name


def test_fp16_variant(tmp_path: Path, tiny_net: DualPathNet) -> None:
    path = save_model(tiny_net, tiny_net.config, tmp_path, variant="fp16")
    assert path.name == "model.fp16.safetensors"
    assert all(t.dtype == torch.float16 for t in load_tensors(path).values() if t.is_floating_point())
    assert path.stat().st_size < 0.6 * sum(v.numel() * 4 for v in tiny_net.state_dict().values())
    loaded = load_model(tmp_path, variant="fp16")
    for key, value in tiny_net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value.half().float()), key
    with pytest.raises(CheckpointError, match=r"no model\.safetensors.*model\.fp16\.safetensors.*variant"):
        load_model(tmp_path)
    with pytest.raises(CheckpointError, match="unknown weights variant 'int8'"):
        weights_name("int8")


def test_missing_unexpected_and_misshaped_keys_are_named(saved: Path, tiny_net: DualPathNet) -> None:
    state = load_tensors(saved / WEIGHTS_NAME)
    missing_key = sorted(state)[-1]
    dropped = {k: v for k, v in state.items() if k != missing_key}
    with pytest.raises(CheckpointError, match=f"missing key.*{missing_key}"):
        load_state_dict_strict(DualPathNet(tiny_net.config), dropped, source="x")
    extra = {**state, "generator.surprise": torch.zeros(1)}
    with pytest.raises(CheckpointError, match=r"unexpected key.*generator\.surprise"):
        load_state_dict_strict(DualPathNet(tiny_net.config), extra, source="x")
    key = "stylegan.w_avg"
    bad = {**state, key: torch.zeros(7)}
    with pytest.raises(CheckpointError, match=r"stylegan\.w_avg.*shape \(7,\).*\(64,\)"):
        load_state_dict_strict(DualPathNet(tiny_net.config), bad, source="x")
    ints = {**state, key: torch.zeros(64, dtype=torch.int64)}
    with pytest.raises(CheckpointError, match="dtype"):
        load_state_dict_strict(DualPathNet(tiny_net.config), ints, source="x")


def test_weights_for_another_config_are_refused(saved: Path) -> None:
    other = get_preset("tiny").replace(fusion="concat")
    (saved / CONFIG_NAME).write_text(other.to_json())
    with pytest.raises(CheckpointError, match="does not fit the model"):
        load_model(saved)


@pytest.mark.parametrize("keep", [0, 7, 100, 0.5, -1])
def test_truncated_weights_give_a_clear_error(saved: Path, keep: float) -> None:
    path = saved / WEIGHTS_NAME
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (len(data) + keep if keep < 0 else keep)
    path.write_bytes(data[:n])
    with pytest.raises(CheckpointError, match=r"empty|truncated or corrupted"):
        load_model(saved)


def test_garbage_weights_and_config(saved: Path) -> None:
    (saved / WEIGHTS_NAME).write_bytes(b"PK\x03\x04 this is a zip, not safetensors" * 10)
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_model(saved)
    (saved / CONFIG_NAME).write_text("{not json")
    with pytest.raises(CheckpointError, match="not a valid dpinpaint model config"):
        read_config(saved)
    (saved / CONFIG_NAME).write_text(json.dumps({"name": "x", "resolution": 64, "unknown_field": 1}))
    with pytest.raises(CheckpointError, match="unknown_field"):
        read_config(saved)


def test_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"not a dpinpaint checkpoint.*config\.json"):
        load_model(tmp_path)


def test_save_tensors_is_atomic_and_handles_shared_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = torch.arange(6.0)
    save_tensors({"a": base, "b": base, "c": base[2:]}, tmp_path / "w.safetensors")
    loaded = load_tensors(tmp_path / "w.safetensors")
    assert torch.equal(loaded["a"], base) and torch.equal(loaded["c"], base[2:])

    import safetensors.torch

    def failing_save(tensors: dict[str, torch.Tensor], filename: str, metadata: dict[str, str]) -> None:
        save_file(tensors, filename, metadata)
        raise KeyboardInterrupt  # killed after the bytes were written, before the rename

    monkeypatch.setattr(safetensors.torch, "save_file", failing_save)
    target = tmp_path / "w.safetensors"
    before = target.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        save_tensors({"a": torch.zeros(3)}, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]


def test_weights_are_checked_against_the_config_before_the_network_is_built(saved: Path) -> None:
    """A config.json asking for a huge (but legal) network beside small weights fails on the shapes
    of the weights' header, compared on a meta-device skeleton: nothing of the network's size is allocated."""
    config = json.loads((saved / "config.json").read_text())
    config["feedforward"]["encoder_channels"] = [4096, 4096, 4096]
    config["feedforward"]["decoder_channels"] = [4096, 4096, 4096, 4096]
    config["feedforward"]["bottleneck_blocks"] = 64
    (saved / "config.json").write_text(json.dumps(config))
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match=r"does not fit the model: .*shape"):
        load_model(saved)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    # The real network would hold about 64 * 2 * 9 * 4096**2 float32 weights (77 GB).
    assert grown_mb < 200, grown_mb


def test_read_shapes_reads_the_header_only(saved: Path, tiny_net: DualPathNet) -> None:
    shapes = read_shapes(saved / "model.safetensors")
    assert shapes == {k: tuple(v.shape) for k, v in tiny_net.state_dict().items()}
    (saved / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        read_shapes(saved / "model.safetensors")
