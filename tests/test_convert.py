"""StyleGAN2 import: each community format converts to a network that computes what the source defines.

The source files are built by :mod:`support.convert_fixtures` in the real layouts; the references
are an independent rosinality port (:mod:`support.reference_stylegan2`), a transcription of
stylegan2-ada-pytorch's maths (the fixture modules' ``forward``) and a transcription of the
TensorFlow graph with explicit per-tap loops.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dpinpaint import DualPathNet, StyleGAN2Config, get_preset
from dpinpaint.checkpoint import load_state_dict_strict
from dpinpaint.convert import (
    ACCEPTED_FORMATS,
    convert_stylegan2,
    load_stylegan2,
    load_stylegan2_checkpoint,
    render_sample_grid,
    save_stylegan2_checkpoint,
)
from dpinpaint.errors import CheckpointError, UnsupportedFormatError
from support.convert_fixtures import (
    FullyConnectedLayer,
    build_nvidia_pytorch,
    faithful_dumps,
    tf_discriminator_forward,
    tf_generator_forward,
    tf_mapping_forward,
    tf_variables,
    write_nvidia_pytorch,
    write_nvidia_tf,
    write_rosinality,
)
from support.reference_stylegan2 import ReferenceDiscriminator, ReferenceGenerator

TOL = {"atol": 1e-4, "rtol": 1e-4}
# Widths chosen so that every resolution differs from its neighbour somewhere (catches transposes).
SMALL = StyleGAN2Config(resolution=32, channels=(16, 16, 12, 6), z_dim=16, w_dim=16, n_mlp=2)


def _w_plus(n_latent: int, w_dim: int, batch: int = 2, seed: int = 3) -> torch.Tensor:
    return torch.randn(batch, n_latent, w_dim, generator=torch.Generator().manual_seed(seed))


def _images(batch: int, res: int, seed: int = 4) -> torch.Tensor:
    return torch.randn(batch, 3, res, res, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------------------------
# rosinality
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_rosinality_checkpoint_matches_reference_port(tmp_path: Path, legacy: bool) -> None:
    path, g_state, d_state, latent_avg = write_rosinality(tmp_path / "550000.pt", SMALL, legacy=legacy)
    G, D, info = load_stylegan2(path)
    assert info.format == "rosinality" and info.network == "g_ema" and info.discriminator == "converted"
    assert info.config == SMALL
    assert info.w_avg_source == "latent_avg"
    torch.testing.assert_close(G.w_avg, latent_avg.reshape(-1))
    assert info.parameters["generator"] == sum(p.numel() for p in G.parameters())

    channels = dict(zip(SMALL.resolutions, SMALL.channels))
    ref_g = ReferenceGenerator(32, 16, 2, channels=channels).eval()
    ref_g.load_state_dict(g_state)
    ref_d = ReferenceDiscriminator(32, channels=channels).eval()
    ref_d.load_state_dict(d_state)
    w = _w_plus(G.n_latent, 16)
    z = torch.randn(3, 16)
    with torch.no_grad():
        for mode in ("const", "none"):
            torch.testing.assert_close(G.synthesis(w, mode)[0], ref_g(w, noise_mode=mode), **TOL)
        torch.testing.assert_close(G.mapping(z), ref_g.style(z), **TOL)
        assert D is not None
        torch.testing.assert_close(D(_images(4, 32)), ref_d(_images(4, 32)), **TOL)


def test_rosinality_without_latent_avg_estimates_it(tmp_path: Path) -> None:
    path, *_ = write_rosinality(tmp_path / "ckpt.pt", SMALL, latent_avg=False)
    G, _, info = load_stylegan2(path, with_discriminator=False)
    assert info.w_avg_source.startswith("estimated") and info.discriminator == "not requested"
    with torch.no_grad():
        expected = G.style(torch.randn(20000, 16, generator=torch.Generator().manual_seed(1))).mean(0)
    torch.testing.assert_close(G.w_avg, expected, atol=0.05 * expected.abs().max().item(), rtol=0)


def test_rosinality_bare_generator_state_dict(tmp_path: Path) -> None:
    _, g_state, _, _ = write_rosinality(tmp_path / "full.pt", SMALL)
    torch.save(g_state, tmp_path / "g.pt")
    _, D, info = load_stylegan2(tmp_path / "g.pt")
    assert D is None and info.network == "state dict" and info.config == SMALL


# --------------------------------------------------------------------------------------------
# NVIDIA stylegan2-ada-pytorch
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("numpy_core", ["numpy.core", "numpy._core"])
def test_nvidia_pytorch_pickle_matches_networks_py(tmp_path: Path, numpy_core: str) -> None:
    G_src, D_src = build_nvidia_pytorch(resolution=32, channel_base=192, channel_max=16, w_dim=16, num_layers=2)
    path = write_nvidia_pytorch(tmp_path / "network-snapshot-000000.pkl", G_src, D_src, numpy_core=numpy_core)
    G, D, info = load_stylegan2(path)
    assert info.format == "nvidia-pytorch" and info.network == "G_ema" and info.discriminator == "converted"
    # Inferred, not assumed: widths from channel_base/channel_max, paper256's mbstd group 8.
    assert info.config == StyleGAN2Config(
        resolution=32, channels=(16, 16, 12, 6), z_dim=16, w_dim=16, n_mlp=2, mbstd_group=8
    )
    assert any("conv_clamp=256" in n for n in info.notes) and any("num_fp16_res" in n for n in info.notes)
    torch.testing.assert_close(G.w_avg, G_src.mapping.w_avg)
    z, ws = torch.randn(3, 16), _w_plus(G.n_latent, 16)
    with torch.no_grad():
        torch.testing.assert_close(G.mapping(z), G_src.mapping(z), **TOL)
        torch.testing.assert_close(G.synthesis(ws, "const")[0], G_src.synthesis(ws), **TOL)
        torch.testing.assert_close(G.synthesis(ws[:1], "const")[0], G_src.synthesis(ws[:1]), **TOL)
        assert D is not None
        for batch in (8, 4):
            img = _images(batch, 32)
            torch.testing.assert_close(D(img), D_src(img), **TOL)


def test_nvidia_pytorch_reads_lr_multiplier_and_mbstd_features(tmp_path: Path) -> None:
    G_src, D_src = build_nvidia_pytorch(lr_multiplier=0.05, mbstd_group_size=2, mbstd_num_channels=2, conv_clamp=None)
    G, D, info = load_stylegan2(write_nvidia_pytorch(tmp_path / "g.pkl", G_src, D_src))
    assert (info.config.lr_mlp, info.config.mbstd_group, info.config.mbstd_features) == (0.05, 2, 2)
    assert not any("conv_clamp" in n for n in info.notes)
    z, img = torch.randn(2, 16), _images(4, 32)
    with torch.no_grad():
        torch.testing.assert_close(G.mapping(z), G_src.mapping(z), **TOL)
        assert D is not None
        torch.testing.assert_close(D(img), D_src(img), **TOL)


def test_nvidia_pytorch_upsampling_weight_needs_no_flip(tmp_path: Path) -> None:
    """Evidence for the layout decision: flipping conv0 (as for TF) breaks the match."""
    G_src, _ = build_nvidia_pytorch()
    G, _, _ = load_stylegan2(write_nvidia_pytorch(tmp_path / "g.pkl", G_src, None))
    ws = _w_plus(G.n_latent, 16)
    state = G.state_dict()
    for i in range(0, len(G.convs), 2):
        state[f"convs.{i}.conv.weight"] = state[f"convs.{i}.conv.weight"].flip(3, 4)
    G.load_state_dict(state)
    with torch.no_grad():
        assert (G.synthesis(ws, "const")[0] - G_src.synthesis(ws)).abs().max() > 1e-2


def test_nvidia_pytorch_refuses_stylegan3_and_conditional(tmp_path: Path) -> None:
    G_src, _ = build_nvidia_pytorch()
    G_src.synthesis.input = FullyConnectedLayer(4, 4)  # StyleGAN3's SynthesisInput sits there
    with pytest.raises(UnsupportedFormatError, match="StyleGAN3"):
        load_stylegan2(write_nvidia_pytorch(tmp_path / "sg3.pkl", G_src, None))
    G_src, _ = build_nvidia_pytorch(seed=1)
    G_src._init_kwargs["c_dim"] = 10
    with pytest.raises(CheckpointError, match="conditional"):
        load_stylegan2(write_nvidia_pytorch(tmp_path / "cond.pkl", G_src, None))


# --------------------------------------------------------------------------------------------
# NVIDIA TensorFlow
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tf_vars() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    mapping, syn, d = tf_variables(resolution=32, fmap_base=96, fmap_max=16, w_dim=16, n_mlp=2)
    return mapping, syn, d, np.random.default_rng(5).standard_normal(16).astype(np.float32)


@pytest.mark.parametrize("numpy_core", ["numpy.core", "numpy._core"])
@pytest.mark.slow
def test_nvidia_tf_pickle_matches_tensorflow_graph(tmp_path: Path, tf_vars: tuple, numpy_core: str) -> None:
    mapping, syn, d, avg = tf_vars
    path = write_nvidia_tf(
        tmp_path / "stylegan2-cat-config-f.pkl",
        mapping,
        syn,
        d,
        avg,
        resolution=32,
        fmap_base=96,
        fmap_max=16,
        numpy_core=numpy_core,
    )
    G, D, info = load_stylegan2(path)
    assert info.format == "nvidia-tf" and info.network == "Gs" and info.discriminator == "converted"
    assert info.config == SMALL
    torch.testing.assert_close(G.w_avg, torch.from_numpy(avg))
    z, ws = torch.randn(3, 16), _w_plus(G.n_latent, 16)
    with torch.no_grad():
        torch.testing.assert_close(G.mapping(z), tf_mapping_forward(mapping, z), **TOL)
        torch.testing.assert_close(G.synthesis(ws, "const")[0], tf_generator_forward(syn, ws), **TOL)
        assert D is not None
        img = _images(4, 32)
        torch.testing.assert_close(D(img), tf_discriminator_forward(d, img), **TOL)


@pytest.mark.slow
def test_nvidia_tf_flip_is_needed_and_kwargs_are_read(tmp_path: Path, tf_vars: tuple) -> None:
    mapping, syn, d, avg = tf_vars
    path = write_nvidia_tf(
        tmp_path / "net.pkl",
        mapping,
        syn,
        d,
        avg,
        resolution=32,
        fmap_base=96,
        fmap_max=16,
        extra_d_kwargs={"mbstd_group_size": 2},
    )
    G, D, info = load_stylegan2(path)
    assert info.config.mbstd_group == 2
    ws = _w_plus(G.n_latent, 16)
    img = _images(4, 32)
    with torch.no_grad():
        assert D is not None
        torch.testing.assert_close(D(img), tf_discriminator_forward(d, img, group_size=2), **TOL)
        state = G.state_dict()
        state["convs.0.conv.weight"] = state["convs.0.conv.weight"].flip(3, 4)
        G.load_state_dict(state)
        assert (G.synthesis(ws, "const")[0] - tf_generator_forward(syn, ws)).abs().max() > 1e-2


def test_nvidia_tf_gs_only(tmp_path: Path, tf_vars: tuple) -> None:
    mapping, syn, _, avg = tf_vars
    path = write_nvidia_tf(
        tmp_path / "gs.pkl", mapping, syn, None, avg, resolution=32, fmap_base=96, fmap_max=16, gs_only=True
    )
    _, D, info = load_stylegan2(path)
    assert D is None and info.discriminator == "absent" and info.config.channels == (16, 16, 12, 6)


# --------------------------------------------------------------------------------------------
# converted folder, DualPathNet, samples
# --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_convert_writes_folder_that_dualpathnet_loads(tmp_path: Path) -> None:
    tiny = get_preset("tiny")
    G_src, D_src = build_nvidia_pytorch(resolution=64, channel_base=1024, channel_max=64, w_dim=64, num_layers=2)
    src = write_nvidia_pytorch(tmp_path / "ffhq-res64.pkl", G_src, D_src)
    report = convert_stylegan2(src, tmp_path / "out", samples=3, seed=7, truncation_psi=0.5)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "samples.png", "stylegan2.safetensors"]
    meta = json.loads((out / "config.json").read_text())
    assert meta["kind"] == "stylegan2" and meta["format_version"] == 1 and meta["has_discriminator"]
    assert meta["source"]["format"] == "nvidia-pytorch" and len(meta["source"]["sha256"]) == 64
    assert report.seeds == [7, 8, 9] and "widths        4:64, 8:64, 16:64, 32:32, 64:16" in report.format()
    with Image.open(out / "samples.png") as im:
        assert im.size == (2 * 64, 2 * 64)

    config = report.info.config
    assert config == dataclasses.replace(tiny.stylegan, mbstd_group=8)  # paper256's D group, the rest as tiny
    model_config = tiny.replace(stylegan=config)  # the inferred config passes ModelConfig validation
    net = DualPathNet(model_config).eval()
    G, D, info = load_stylegan2(out)  # the folder is an accepted input too
    assert info.format == "dpinpaint" and D is not None
    load_state_dict_strict(net.stylegan, G.state_dict(), source="converted folder")
    ws = _w_plus(G.n_latent, 64)
    with torch.no_grad():
        torch.testing.assert_close(net.stylegan.synthesis(ws, "const")[0], G_src.synthesis(ws), **TOL)
        img = _images(8, 64)
        torch.testing.assert_close(D(img), D_src(img), **TOL)
    G2, D2, _ = load_stylegan2_checkpoint(out, with_discriminator=False)
    assert D2 is None and torch.equal(G2.w_avg, G.w_avg)


def test_checkpoint_folder_is_strict(tmp_path: Path) -> None:
    from dpinpaint.models.stylegan2 import StyleGAN2Generator

    G = StyleGAN2Generator(SMALL)
    save_stylegan2_checkpoint(tmp_path / "ck", G)
    meta = json.loads((tmp_path / "ck/config.json").read_text())
    meta["stylegan"]["channels"] = [16, 16, 16, 6]
    (tmp_path / "ck/config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shape"):
        load_stylegan2(tmp_path / "ck")
    (tmp_path / "dual").mkdir()
    (tmp_path / "dual/config.json").write_text(json.dumps({"name": "tiny"}))
    with pytest.raises(UnsupportedFormatError):
        load_stylegan2(tmp_path / "dual")


def test_sample_grid_is_deterministic(tmp_path: Path) -> None:
    from dpinpaint.models.stylegan2 import StyleGAN2Generator

    torch.manual_seed(0)
    G = StyleGAN2Generator(SMALL).eval()
    a = render_sample_grid(G, [1, 2, 3, 4, 5], tmp_path / "a.png", truncation_psi=0.7)
    b = render_sample_grid(G, [1, 2, 3, 4, 5], tmp_path / "b.png", truncation_psi=0.7)
    with Image.open(a) as ia, Image.open(b) as ib:
        assert ia.size == (3 * 32, 2 * 32)
        assert np.array_equal(np.asarray(ia), np.asarray(ib))


# --------------------------------------------------------------------------------------------
# truncated and wrong-format files
# --------------------------------------------------------------------------------------------
def _formats_named(message: str) -> bool:
    return all(f in message for f in ACCEPTED_FORMATS)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"hello, I am not a checkpoint\n", id="text"),
        pytest.param(bytes(range(256)) * 4, id="random-bytes"),
        pytest.param(pickle.dumps({"model": [1, 2, 3]}, protocol=4), id="unrelated-pickle"),
        pytest.param(pickle.dumps((1, 2, 3), protocol=2), id="unrelated-tuple"),
    ],
)
def test_wrong_format_names_accepted_formats(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "weights.pkl"
    path.write_bytes(content)
    with pytest.raises(UnsupportedFormatError) as exc:
        load_stylegan2(path)
    assert _formats_named(str(exc.value))


def test_other_wrong_formats(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "not torch")
    (tmp_path / "a.pt").write_bytes(buf.getvalue())
    with pytest.raises(UnsupportedFormatError, match=r"no data\.pkl"):
        load_stylegan2(tmp_path / "a.pt")
    torch.save({"model": torch.zeros(3)}, tmp_path / "b.pt")
    with pytest.raises(UnsupportedFormatError) as exc:
        load_stylegan2(tmp_path / "b.pt")
    assert _formats_named(str(exc.value))
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "c.safetensors"))
    with pytest.raises(UnsupportedFormatError, match="safetensors"):
        load_stylegan2(tmp_path / "c.safetensors")
    (tmp_path / "empty.pkl").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_stylegan2(tmp_path / "empty.pkl")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_stylegan2(tmp_path / "missing.pkl")


@pytest.mark.parametrize("kind", ["rosinality-zip", "rosinality-legacy", "nvidia-pytorch", "nvidia-tf"])
def test_truncated_files_give_clear_errors(tmp_path: Path, kind: str, tf_vars: tuple) -> None:
    if kind.startswith("rosinality"):
        path, *_ = write_rosinality(tmp_path / "x.pt", SMALL, legacy=kind.endswith("legacy"))
    elif kind == "nvidia-pytorch":
        G_src, D_src = build_nvidia_pytorch()
        path = write_nvidia_pytorch(tmp_path / "x.pkl", G_src, D_src)
    else:
        mapping, syn, d, avg = tf_vars
        path = write_nvidia_tf(tmp_path / "x.pkl", mapping, syn, d, avg, resolution=32, fmap_base=96, fmap_max=16)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 7):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=r"truncated|damaged|corrupted"):
            load_stylegan2(path)


def test_faithful_pickle_uses_the_real_globals() -> None:
    """The NVIDIA fixture emits the globals real snapshots contain, and nothing else."""
    import pickletools

    G_src, D_src = build_nvidia_pytorch()
    data = faithful_dumps({"G_ema": G_src, "D": D_src})
    pushed: list[object] = []  # values pushed by string / memo-get opcodes (None for anything else)
    memo: list[object] = []
    globals_: set[str] = set()
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE"):
            pushed.append(arg)
        elif op.name in ("BINGET", "LONG_BINGET"):
            pushed.append(memo[arg])
        elif op.name == "MEMOIZE":
            memo.append(pushed[-1] if pushed else None)
        elif op.name == "STACK_GLOBAL":
            globals_.add(f"{pushed[-2]}.{pushed[-1]}")
            pushed.append(None)
        else:
            pushed.append(None)
    assert globals_ == {
        "torch_utils.persistence._reconstruct_persistent_obj",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_tensor_v2",
        "torch.storage._load_from_bytes",
        "collections.OrderedDict",
        "dnnlib.util.EasyDict",
        "numpy.core.multiarray.scalar",
        "numpy.dtype",
    }


def test_nan_or_infinite_weights_are_refused(tmp_path: Path) -> None:
    """A converted StyleGAN2 with a NaN ``latent_avg`` (or any non-finite weight) would draw NaN images."""
    from dpinpaint.errors import CheckpointError

    nan_avg = torch.full((SMALL.w_dim,), float("nan"))
    path, *_ = write_rosinality(tmp_path / "nan.pt", SMALL, latent_avg=False, extra={"latent_avg": nan_avg})
    with pytest.raises(CheckpointError, match=r"'w_avg' holds NaN or infinite values"):
        load_stylegan2(path)
