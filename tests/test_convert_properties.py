"""Property: whatever a weight file holds, converting it gives a StyleGAN2 or a ``dpinpaint.errors`` exception.

Hypothesis generates the inputs from small valid files of the three formats
(:mod:`support.convert_fixtures`): byte streams (truncations, byte flips, pickle opcodes spliced in,
among them memo GETs of missing keys, opcodes on an empty stack and a shell-command payload) and
structured contents (rosinality state dicts with random shapes, dtypes, layouts, missing, extra and
non-tensor entries; NVIDIA modules with replaced tensors and attributes; TensorFlow variables and
static kwargs). Nothing else may escape, and no code from a file may run. Programming errors in
the package are not hidden by this (see ``test_a_bug_in_the_package_is_not_disguised_as_a_file_error``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dpinpaint.config import StyleGAN2Config
from dpinpaint.convert import load_stylegan2
from dpinpaint.errors import CheckpointError, DPInpaintError
from support.convert_fixtures import (
    build_nvidia_pytorch,
    rosinality_state_dicts,
    tf_variables,
    write_nvidia_pytorch,
    write_nvidia_tf,
    write_rosinality,
)

TINY = StyleGAN2Config(resolution=8, channels=(8, 8), z_dim=8, w_dim=8, n_mlp=1)
TF_KW: dict[str, Any] = {"resolution": 8, "fmap_base": 16, "fmap_max": 8}
PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("convert-properties")


@pytest.fixture(scope="module")
def originals(work: Path) -> dict[str, bytes]:
    """The valid files every byte-stream mutation starts from."""
    G, D = nvidia_networks()
    mapping, syn, d = tf_variables(resolution=8, fmap_base=16, fmap_max=8, w_dim=8, n_mlp=1)
    paths = {
        "rosinality-legacy": write_rosinality(work / "r.pt", TINY, legacy=True)[0],
        "rosinality-zip": write_rosinality(work / "rz.pt", TINY)[0],
        "nvidia-pytorch": write_nvidia_pytorch(work / "n.pkl", G, D),
        "nvidia-tf": write_nvidia_tf(work / "t.pkl", mapping, syn, d, np.zeros(8, np.float32), **TF_KW),
    }
    return {name: path.read_bytes() for name, path in paths.items()}


def _convert(path: Path) -> None:
    """Load ``path``: a StyleGAN2 or a dpinpaint error; anything else fails the test."""
    logging.disable(logging.WARNING)  # "discriminator not converted" warnings, by the hundred
    try:
        load_stylegan2(path)
    except DPInpaintError:
        pass
    finally:
        logging.disable(logging.NOTSET)


# --------------------------------------------------------------------------------------------
# byte streams
# --------------------------------------------------------------------------------------------
def _opcodes(marker: Path) -> list[bytes]:
    shell = b"cos\nsystem\n(V touch " + str(marker).encode() + b"\ntR"
    return [
        b"h\xff",  # BINGET of a memo key never PUT
        b"j\xff\xff\xff\x7f",  # LONG_BINGET of a missing key
        b"g987654\n",  # GET of a missing key
        b"0",  # POP (on an empty stack at the start)
        b"1",  # POP_MARK without a mark
        b"2",  # DUP
        b"R",  # REDUCE
        b"b",  # BUILD
        b"s",  # SETITEM
        b"u",  # SETITEMS
        b"e",  # APPENDS
        b"t",  # TUPLE
        b"\x85",  # TUPLE1
        b"\x87",  # TUPLE3
        b"\x93",  # STACK_GLOBAL
        b"\x81",  # NEWOBJ
        b"N",
        b"}",
        b"(",
        b".",  # STOP early
        b"\x8a\xff" + b"\x7f" * 255,  # LONG1 of 255 bytes
        shell,
    ]


@st.composite
def mutated(draw: st.DrawFn, originals: dict[str, bytes], marker: Path) -> bytes:
    data = bytearray(originals[draw(st.sampled_from(sorted(originals)))])
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.one_of(st.integers(0, min(len(data) - 1, 4096)), st.integers(0, len(data) - 1)))
        kind = draw(st.sampled_from(["truncate", "flip", "splice", "splice"]))
        if kind == "truncate":
            data = data[:at]
            if not data:
                break
        elif kind == "flip":
            data[at] = draw(st.integers(0, 255))
        else:
            data[at:at] = draw(st.sampled_from(_opcodes(marker)))
    return bytes(data)


@settings(PROPERTY, max_examples=150)
@given(data=st.data())
def test_any_mutation_of_a_weight_file_converts_or_raises_a_dpinpaint_error(
    data: st.DataObject, originals: dict[str, bytes], work: Path
) -> None:
    marker = work / "shell-ran"
    path = work / "mutated.bin"
    path.write_bytes(data.draw(mutated(originals, marker)))
    _convert(path)
    assert not marker.exists(), "a command from the file ran"


# --------------------------------------------------------------------------------------------
# structured contents
# --------------------------------------------------------------------------------------------
DTYPES = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.int64,
    torch.int8,
    torch.uint8,
    torch.bool,
    torch.complex64,
]


@st.composite
def tensors(draw: st.DrawFn) -> torch.Tensor:
    shape = draw(st.lists(st.integers(0, 4), max_size=5))
    dtype = draw(st.sampled_from(DTYPES))
    fill = draw(st.sampled_from([0.0, 1.0, -2.0, math.nan, math.inf, 1e30]))
    t = (
        torch.full(shape, fill).to(dtype)
        if dtype.is_floating_point or dtype.is_complex
        else torch.ones(shape, dtype=dtype)
    )
    layout = draw(st.sampled_from(["dense", "dense", "sparse", "meta", "expanded", "transposed"]))
    if layout == "sparse" and t.dim() > 0 and dtype is not torch.bool:
        return t.to_sparse()
    if layout == "meta":
        return torch.empty(shape, dtype=dtype, device="meta")
    if layout == "expanded" and t.dim() > 0:
        return t.reshape(-1)[:1].expand(*shape) if t.numel() > 0 else t
    if layout == "transposed" and t.dim() >= 2:
        return t.transpose(0, 1)
    return t


def values() -> st.SearchStrategy[Any]:
    return st.one_of(
        tensors(),
        st.none(),
        st.integers(),
        st.sampled_from([2**64, -(2**70)]),
        st.floats(),
        st.text(max_size=4),
        st.lists(st.integers(-3, 3), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.builds(lambda a: np.full((2,), a), st.floats(width=32)),
    )


@pytest.fixture(scope="module")
def rosinality_states() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    return rosinality_state_dicts(TINY)


@PROPERTY
@given(data=st.data())
def test_any_rosinality_state_dict_converts_or_raises_a_dpinpaint_error(
    data: st.DataObject, rosinality_states: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], Any], work: Path
) -> None:
    g_state, d_state, avg = (dict(rosinality_states[0]), dict(rosinality_states[1]), rosinality_states[2])
    for state in (g_state, d_state):
        keys = sorted(state)
        for _ in range(data.draw(st.integers(0, 3))):
            edit = data.draw(st.sampled_from(["drop", "replace", "replace", "extra"]))
            key = data.draw(st.sampled_from(keys))
            if edit == "drop":
                state.pop(key, None)
            elif edit == "replace":
                state[key] = data.draw(values())
            else:
                state[data.draw(st.one_of(st.text(max_size=12), st.integers()))] = data.draw(values())
    top: Any = {"g_ema": g_state, "d": d_state, "latent_avg": data.draw(st.one_of(st.just(avg), values()))}
    top["args"] = argparse.Namespace(lr_mlp=data.draw(st.one_of(st.just(0.01), values())))
    top = data.draw(st.sampled_from([top, top, top, g_state, [g_state], "g_ema", 7]))
    path = work / "state.pt"
    torch.save(top, path)
    _convert(path)


def nvidia_networks() -> tuple[Any, Any]:
    """A fresh tiny (G, D) (the fixture modules pickle through NVIDIA's persistence: no deepcopy)."""
    return build_nvidia_pytorch(resolution=8, channel_base=64, channel_max=8, w_dim=8, num_layers=1)


ATTRIBUTES = ["activation", "architecture", "resolution", "conv_clamp", "weight_gain", "bias_gain", "group_size",
              "num_channels", "use_noise", "up", "class_name"]  # fmt: skip


@PROPERTY
@given(data=st.data())
def test_any_nvidia_module_contents_convert_or_raise_a_dpinpaint_error(data: st.DataObject, work: Path) -> None:
    G, D = nvidia_networks()
    modules = [m for net in (G, D) for m in net.modules()]
    for _ in range(data.draw(st.integers(1, 3))):
        module = data.draw(st.sampled_from(modules))
        edit = data.draw(st.sampled_from(["tensor", "attribute", "init kwarg", "drop tensor"]))
        names = sorted({**module._parameters, **module._buffers})
        if edit in ("tensor", "drop tensor") and names:
            name = data.draw(st.sampled_from(names))
            where = module._parameters if name in module._parameters else module._buffers
            if edit == "drop tensor":
                del where[name]
            else:
                where[name] = data.draw(values())
        elif edit == "init kwarg":
            module._init_kwargs = {**module._init_kwargs, data.draw(st.sampled_from(["c_dim", "synthesis_kwargs",
                                   "group_size", "num_channels"])): data.draw(values())}  # fmt: skip
        else:
            module.__dict__[data.draw(st.sampled_from(ATTRIBUTES))] = data.draw(values())
    path = write_nvidia_pytorch(work / "nvidia.pkl", G, D)
    _convert(path)


@pytest.fixture(scope="module")
def tf_networks() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    return tf_variables(resolution=8, fmap_base=16, fmap_max=8, w_dim=8, n_mlp=1)


def _array(shape: list[int], dtype: Any, fill: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # NaN cast to an integer dtype
        return np.full(shape, fill).astype(dtype)


def arrays() -> st.SearchStrategy[Any]:
    dtypes = st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_])
    return st.builds(
        _array, st.lists(st.integers(0, 4), max_size=5), dtypes, st.sampled_from([0.0, 1.0, math.nan, 1e30])
    )


@PROPERTY
@given(data=st.data())
def test_any_tensorflow_network_contents_convert_or_raise_a_dpinpaint_error(
    data: st.DataObject, tf_networks: tuple[dict[str, np.ndarray], ...], work: Path
) -> None:
    mapping, syn, d = (dict(v) for v in tf_networks)
    for variables in (mapping, syn, d):
        keys = sorted(set(variables) - {"Dense0/weight"})  # the fixture reads its shape for the static kwargs
        for _ in range(data.draw(st.integers(0, 2))):
            key = data.draw(st.sampled_from(keys))
            if data.draw(st.booleans()):
                variables.pop(key, None)
            else:
                variables[key] = data.draw(arrays())
    names = ["architecture", "label_size", "resolution", "resample_kernel", "mapping_lrmul", "nonlinearity",
             "mbstd_group_size", "mbstd_num_features"]  # fmt: skip
    kwargs = data.draw(st.dictionaries(st.sampled_from(names), st.one_of(values(), st.lists(st.floats(), max_size=5))))
    avg = data.draw(st.one_of(st.just(np.zeros(8, np.float32)), arrays()))
    path = write_nvidia_tf(work / "tf.pkl", mapping, syn, d, avg, extra_g_kwargs=kwargs, **TF_KW)
    _convert(path)


# --------------------------------------------------------------------------------------------
# the cases the adversarial sweep found, named
# --------------------------------------------------------------------------------------------
def _pickle_path(work: Path, name: str, data: bytes) -> Path:
    path = work / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "stream", "message"),
    [
        ("missing-memo", b"\x80\x02h\x05.", "Memo value not found"),
        ("empty-stack", b"\x80\x02s.", "IndexError"),
        ("wrong-types", b"\x80\x02K\x01K\x02s.", "IndexError"),
        ("deep-lists", b"\x80\x02" + b"(" * 100_000 + b"l" * 100_000 + b".", "nested more than 64 levels"),
        ("deep-key", b"\x80\x02}" + b"(" * 100_000 + b"t" * 100_000 + b"K\x01s.", "nested more than 64 levels"),
        ("self-reference", b"\x80\x02]q\x00(h\x00h\x00h\x00e.", None),
    ],
)
def test_malformed_pickles_are_checkpoint_errors(work: Path, name: str, stream: bytes, message: str | None) -> None:
    path = _pickle_path(work, f"{name}.pkl", stream)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_stylegan2(path)
    assert str(path) in str(caught.value)


def _rosinality_with(work: Path, name: str, **changes: Any) -> Path:
    g, _, avg = rosinality_state_dicts(TINY)
    path = work / f"{name}.pt"
    torch.save({"g_ema": {**g, **changes}, "latent_avg": avg}, path)
    return path


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("1d-style", {"style.1.weight": torch.zeros(8)}, r"style\.1\.weight has shape \(8,\).*2-D"),
        ("0d-style", {"style.1.weight": torch.tensor(1.0)}, r"style\.1\.weight has shape \(\)"),
        ("1d-input", {"input.input": torch.zeros(8)}, r"input\.input has shape \(8,\).*4-D"),
        ("1d-conv", {"convs.0.conv.weight": torch.zeros(8)}, r"convs\.0\.conv\.weight.*5-D"),
        ("sparse", {"style.1.weight": torch.eye(8).to_sparse()}, "sparse"),
        ("meta", {"style.1.weight": torch.empty(8, 8, device="meta")}, "meta"),
        ("nan-kernel", {"convs.0.conv.blur.kernel": torch.full((4, 4), math.nan)}, "NaN"),
        ("huge-kernel", {"convs.0.conv.blur.kernel": torch.tensor([[1e30, 1e-30], [1.0, 1.0]])}, "integer FIR"),
        ("empty", {"style.1.weight": torch.zeros(8, 0)}, "empty"),
    ],
)
def test_malformed_rosinality_tensors_are_checkpoint_errors(
    work: Path, name: str, changes: dict[str, torch.Tensor], message: str
) -> None:
    with pytest.raises(CheckpointError, match=message):
        load_stylegan2(_rosinality_with(work, name, **changes))


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("c_dim", "x", r"G c_dim is 'x', not a number"),
        ("resolution", "x", r"resolution is 'x', not a number"),
        ("resolution", 10**5000, "an integer of 16610 bits"),
    ],
    ids=["c_dim-text", "resolution-text", "resolution-huge"],
)
def test_malformed_nvidia_attributes_are_checkpoint_errors(
    work: Path, attribute: str, value: Any, message: str
) -> None:
    G, D = nvidia_networks()
    if attribute == "c_dim":
        G._init_kwargs = {**G._init_kwargs, "c_dim": value}
    else:
        G.synthesis.b8.conv0.resolution = value
    with pytest.raises(CheckpointError, match=message):
        load_stylegan2(write_nvidia_pytorch(work / f"{attribute}.pkl", G, D))


@pytest.mark.parametrize(("kernel", "message"), [([1, math.nan, 1], "nan, not a finite number"), ([1e300, 1], "beyond any"),
                                                 ("x", "not a list of taps")])  # fmt: skip
def test_malformed_tensorflow_kernels_are_checkpoint_errors(
    work: Path, tf_networks: tuple[dict[str, np.ndarray], ...], kernel: Any, message: str
) -> None:
    mapping, syn, d = tf_networks
    path = write_nvidia_tf(
        work / "kernel.pkl",
        mapping,
        syn,
        d,
        np.zeros(8, np.float32),
        extra_g_kwargs={"resample_kernel": kernel},
        **TF_KW,
    )
    with pytest.raises(CheckpointError, match=message):
        load_stylegan2(path)


def test_a_bug_in_the_package_is_not_disguised_as_a_file_error(
    work: Path, originals: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure raised by the package's own code while reading (here: an allow-list function with a bug)
    shows as what it is, not as "the file is corrupted"."""
    from dpinpaint.convert import pickle_allowlist

    # a bug inside the package: the tensor rebuilder calls a helper that is not callable
    monkeypatch.setattr(pickle_allowlist, "_int_tuple", None)
    path = _pickle_path(work, "bug.pkl", originals["nvidia-pytorch"])
    with pytest.raises(TypeError, match="'NoneType' object is not callable"):
        load_stylegan2(path)


def test_a_converted_folder_with_a_malformed_config_is_a_checkpoint_error(work: Path) -> None:
    from dpinpaint.convert import save_stylegan2_checkpoint
    from dpinpaint.models.stylegan2 import StyleGAN2Generator

    folder = save_stylegan2_checkpoint(work / "folder", StyleGAN2Generator(TINY))
    config = folder / "config.json"
    meta = json.loads(config.read_text())
    config.write_text(json.dumps({**meta, "source": "not a dict"}))
    _, _, info = load_stylegan2(folder)  # the provenance is informative only: still loads
    assert info.notes == []
    config.write_text('{"kind": "stylegan2", "stylegan": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(CheckpointError, match=r"config\.json"):
        load_stylegan2(folder)
