"""Tests for :mod:`dpinpaint.config`: JSON round trips, validation errors and presets."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpinpaint import DualPathNet
from dpinpaint.config import (
    CONFIG_FORMAT_VERSION,
    FeedForwardConfig,
    ModelConfig,
    StyleEncoderConfig,
    StyleGAN2Config,
    get_preset,
    list_presets,
)
from dpinpaint.errors import ConfigError, DPInpaintError
from support.reference_stylegan2 import default_channels

PRESETS = ("ffhq-256", "church-256", "cat-256", "ffhq-256-paper256", "tiny", "demo")


def _custom() -> ModelConfig:
    """A non-preset config touching every sub-config and every tuple field."""
    return ModelConfig(
        name="my-model",
        resolution=128,
        paths="dual",
        fusion="deformable",
        deformable_resolutions=(64, 128),
        offset_groups=2,
        deform_kernel_size=5,
        stylegan=StyleGAN2Config(
            resolution=128,
            channels=(96, 96, 64, 64, 32, 16),
            z_dim=48,
            w_dim=48,
            n_mlp=3,
            lr_mlp=0.02,
            blur_kernel=(1, 2, 3, 1),
            mbstd_group=2,
            mbstd_features=2,
        ),
        style_encoder=StyleEncoderConfig(
            stem_channels=8,
            channels=(16, 24, 32),
            blocks_per_stage=2,
            pyramid_channels=24,
            head_channels=20,
            coarse_end=4,
            middle_end=9,
        ),
        feedforward=FeedForwardConfig(
            encoder_channels=(8, 24, 24, 24),
            decoder_channels=(24, 24, 24, 16, 8),
            bottleneck_blocks=3,
            attention_resolution=32,
            negative_slope=0.2,
        ),
    )


def _all_tuple_fields(config: ModelConfig) -> list[tuple[str, object]]:
    return [
        ("deformable_resolutions", config.deformable_resolutions),
        ("stylegan.channels", config.stylegan.channels),
        ("stylegan.blur_kernel", config.stylegan.blur_kernel),
        ("style_encoder.channels", config.style_encoder.channels),
        ("feedforward.encoder_channels", config.feedforward.encoder_channels),
        ("feedforward.decoder_channels", config.feedforward.decoder_channels),
    ]


CONFIGS: dict[str, Callable[[], ModelConfig]] = {name: (lambda n=name: get_preset(n)) for name in PRESETS}
CONFIGS["custom"] = _custom
CONFIGS["custom-feedforward"] = lambda: ModelConfig(
    name="ff", paths="feedforward", fusion="concat", deformable_resolutions=()
)


# --------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------


def test_presets_are_the_four_documented_ones() -> None:
    presets = list_presets()
    assert tuple(presets) == PRESETS
    assert all(isinstance(d, str) and d for d in presets.values())
    for name in PRESETS:
        assert get_preset(name).name == name


@pytest.mark.parametrize("key", list(CONFIGS))
def test_json_text_round_trip(key: str) -> None:
    config = CONFIGS[key]()
    text = config.to_json()
    data = json.loads(text)
    assert data["format_version"] == CONFIG_FORMAT_VERSION
    assert isinstance(data["stylegan"]["channels"], list)
    restored = ModelConfig.from_json(text)
    assert restored == config
    assert hash(restored) == hash(config)  # only possible when lists became tuples again
    for what, value in _all_tuple_fields(restored):
        assert isinstance(value, tuple), what
    assert isinstance(restored.stylegan, StyleGAN2Config)
    assert isinstance(restored.style_encoder, StyleEncoderConfig)
    assert isinstance(restored.feedforward, FeedForwardConfig)
    # Serialising again is byte-identical.
    assert restored.to_json() == text


@pytest.mark.parametrize("key", list(CONFIGS))
def test_json_file_round_trip(key: str, tmp_path: Path) -> None:
    config = CONFIGS[key]()
    path = tmp_path / "config.json"
    text = config.to_json(path)
    assert path.read_text(encoding="utf-8") == text
    assert ModelConfig.from_json(path) == config
    assert ModelConfig.from_json(str(path)) == config


@pytest.mark.parametrize("key", list(CONFIGS))
def test_dict_round_trip(key: str) -> None:
    config = CONFIGS[key]()
    data = config.to_dict()
    assert isinstance(data["stylegan"], dict)
    restored = ModelConfig.from_dict(data)
    assert restored == config
    # Through JSON types (lists) as well.
    restored = ModelConfig.from_dict(json.loads(json.dumps(data)))
    assert restored == config
    for what, value in _all_tuple_fields(restored):
        assert isinstance(value, tuple), what


def test_json_text_with_leading_whitespace() -> None:
    config = get_preset("tiny")
    assert ModelConfig.from_json("\n  " + config.to_json()) == config


def test_partial_json_uses_defaults() -> None:
    config = ModelConfig.from_json('{"name": "x", "fusion": "concat"}')
    assert config == ModelConfig(name="x", fusion="concat")


def test_sub_config_round_trip() -> None:
    sg = StyleGAN2Config.config_f(128, 1, z_dim=64, w_dim=64)
    assert StyleGAN2Config.from_dict(json.loads(json.dumps(sg.to_dict()))) == sg
    se = StyleEncoderConfig(channels=(8, 16))
    assert StyleEncoderConfig.from_dict(json.loads(json.dumps(se.to_dict()))) == se


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
    assert issubclass(ConfigError, DPInpaintError)


def test_unknown_field_is_named() -> None:
    data = get_preset("tiny").to_dict()
    data["resolutoin"] = 64
    with pytest.raises(ConfigError, match=r"resolutoin") as info:
        ModelConfig.from_dict(data)
    assert "resolution" in str(info.value)  # the known fields are listed


def test_unknown_nested_field_is_named() -> None:
    data = get_preset("tiny").to_dict()
    data["feedforward"]["attention"] = 16
    with pytest.raises(ConfigError, match=r"FeedForwardConfig.*'attention'"):
        ModelConfig.from_json(json.dumps(data))


def test_sub_config_must_be_an_object() -> None:
    with pytest.raises(ConfigError, match=r"StyleGAN2Config must be a JSON object"):
        ModelConfig.from_json('{"stylegan": [1, 2]}')


def _tiny_ff(**changes: object) -> FeedForwardConfig:
    return dataclasses.replace(get_preset("tiny").feedforward, **changes)


INVALID: dict[str, tuple[Callable[[], object], str]] = {
    "resolution-not-power-of-two": (lambda: ModelConfig(resolution=100), r"resolution must be a power of two"),
    "resolution-too-small": (lambda: ModelConfig(resolution=4), r"power of two >= 8, got 4"),
    "resolution-float": (lambda: ModelConfig(resolution=256.0), r"power of two"),
    "stylegan-resolution-not-power-of-two": (
        lambda: StyleGAN2Config(resolution=48, channels=(8, 8, 8, 8)),
        r"StyleGAN2Config.resolution must be a power of two",
    ),
    "stylegan-channels-length": (
        lambda: StyleGAN2Config(resolution=64, channels=(64, 64, 64)),
        r"StyleGAN2Config.channels.*must have 5 entries, got 3",
    ),
    "stylegan-channels-nonpositive": (
        lambda: StyleGAN2Config(resolution=64, channels=(64, 64, 0, 32, 16)),
        r"StyleGAN2Config.channels.*positive integers",
    ),
    "stylegan-z-ne-w": (lambda: StyleGAN2Config(z_dim=512, w_dim=256), r"z_dim == w_dim"),
    "stylegan-n-mlp-zero": (lambda: StyleGAN2Config(n_mlp=0), r"n_mlp must be a positive integer"),
    "stylegan-blur-zero-sum": (lambda: StyleGAN2Config(blur_kernel=(1, -1)), r"blur_kernel"),
    "encoder-channels-length": (
        lambda: get_preset("tiny").replace(feedforward=_tiny_ff(encoder_channels=(16, 32))),
        r"feedforward.encoder_channels.*must have 3 entries, got 2",
    ),
    "decoder-channels-length": (
        lambda: get_preset("tiny").replace(feedforward=_tiny_ff(decoder_channels=(32, 32, 32, 16, 8))),
        r"feedforward.decoder_channels.*must have 4 entries, got 5",
    ),
    "style-encoder-channels-length": (
        lambda: get_preset("tiny").replace(style_encoder=StyleEncoderConfig(channels=(8, 8, 8), middle_end=6)),
        r"style_encoder.channels.*must have 2 entries, got 3",
    ),
    "stylegan-resolution-mismatch": (
        lambda: get_preset("tiny").replace(stylegan=StyleGAN2Config.config_f(128)),
        r"stylegan.resolution \(128\) must equal resolution \(64\)",
    ),
    "bad-paths": (lambda: ModelConfig(paths="both"), r"paths must be 'dual', 'feedforward' or 'inversion', got 'both'"),
    "bad-fusion": (lambda: ModelConfig(fusion="sum"), r"fusion must be 'deformable' or 'concat', got 'sum'"),
    "deformable-resolution-not-fusion-resolution": (
        lambda: get_preset("tiny").replace(deformable_resolutions=(4, 64)),
        r"deformable_resolutions \[4\] are not fusion resolutions \[8, 16, 32, 64\]",
    ),
    "deformable-resolution-too-large": (
        lambda: get_preset("tiny").replace(deformable_resolutions=(128,)),
        r"deformable_resolutions \[128\]",
    ),
    "newer-format-version": (
        lambda: ModelConfig(format_version=CONFIG_FORMAT_VERSION + 1),
        rf"format_version {CONFIG_FORMAT_VERSION + 1}, newer.*upgrade dpinpaint",
    ),
    "newer-format-version-json": (
        lambda: ModelConfig.from_json(json.dumps({"format_version": CONFIG_FORMAT_VERSION + 1})),
        r"newer than this dpinpaint understands",
    ),
    "invalid-json": (lambda: ModelConfig.from_json('{"resolution": 64,'), r"config is not valid JSON"),
    "missing-file": (lambda: ModelConfig.from_json("/nonexistent/dir/config.json"), r"cannot read config file"),
    "even-deform-kernel": (lambda: ModelConfig(deform_kernel_size=4), r"deform_kernel_size a positive odd integer"),
    "offset-groups-not-dividing": (
        lambda: ModelConfig(offset_groups=3),
        r"offset_groups \(3\) must divide every StyleGAN2 width",
    ),
    "attention-resolution": (
        lambda: get_preset("tiny").replace(feedforward=_tiny_ff(attention_resolution=64)),
        r"attention_resolution must be 0 or one of \[8, 16, 32\]",
    ),
    "attention-width-mismatch": (
        lambda: get_preset("tiny").replace(feedforward=_tiny_ff(attention_resolution=32)),
        r"equal encoder and decoder widths at 32x32",
    ),
    "inversion-below-64": (
        lambda: ModelConfig(
            resolution=32,
            deformable_resolutions=(32,),
            stylegan=StyleGAN2Config(resolution=32, channels=(8, 8, 8, 8)),
            feedforward=FeedForwardConfig(encoder_channels=(8, 8), decoder_channels=(8, 8, 8), attention_resolution=0),
        ),
        r"needs resolution >= 64",
    ),
    "middle-end-beyond-n-latent": (
        lambda: get_preset("tiny").replace(style_encoder=StyleEncoderConfig(channels=(8, 8), middle_end=11)),
        r"middle_end must be <= n_latent \(10\)",
    ),
    "coarse-after-middle": (
        lambda: StyleEncoderConfig(coarse_end=5, middle_end=4),
        r"0 < coarse_end <= middle_end",
    ),
    "wrong-type-in-json": (
        lambda: ModelConfig.from_json('{"format_version": "2"}'),
        r"format_version must be an integer, got '2'",
    ),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_config_raises_config_error(case: str) -> None:
    build, message = INVALID[case]
    with pytest.raises(ConfigError, match=message) as info:
        build()
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, DPInpaintError)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("resolution", 100, r"power of two"),
        ("paths", "both", r"paths must be"),
        ("deformable_resolutions", [4], r"not fusion resolutions"),
        ("format_version", 99, r"newer"),
    ],
)
def test_invalid_values_in_json_raise_config_error(field: str, value: object, message: str) -> None:
    data = get_preset("tiny").to_dict()
    data[field] = value
    with pytest.raises(ConfigError, match=message):
        ModelConfig.from_json(json.dumps(data))


def test_replace_validates_again() -> None:
    config = get_preset("tiny")
    assert config.replace(fusion="concat").fusion == "concat"
    with pytest.raises(ConfigError, match=r"fusion must be"):
        config.replace(fusion="add")


def test_unknown_preset_lists_presets() -> None:
    with pytest.raises(ConfigError, match=r"unknown preset 'nope'") as info:
        get_preset("nope")
    for name in PRESETS:
        assert name in str(info.value)


def test_bottleneck_blocks_zero_is_rejected_or_honoured() -> None:
    tiny = get_preset("tiny")
    try:
        config = tiny.replace(feedforward=_tiny_ff(bottleneck_blocks=0))
    except ConfigError:
        return
    net = DualPathNet(config)
    assert len(net.generator.bottleneck) == 0


def test_every_valid_config_builds() -> None:
    try:
        config = ModelConfig(
            resolution=8,
            paths="feedforward",
            deformable_resolutions=(),
            stylegan=StyleGAN2Config(resolution=8, channels=(8, 8)),
            feedforward=FeedForwardConfig(encoder_channels=(), decoder_channels=(8,), attention_resolution=0),
        )
    except ConfigError:
        return
    DualPathNet(config)


# --------------------------------------------------------------------------------------
# Derived values
# --------------------------------------------------------------------------------------


def test_config_f_channels() -> None:
    assert StyleGAN2Config.config_f(256, 2).channels == (512, 512, 512, 512, 512, 256, 128)
    assert StyleGAN2Config.config_f(256, 1).channels == (512, 512, 512, 512, 256, 128, 64)
    assert StyleGAN2Config() == StyleGAN2Config.config_f(256, 2)


@pytest.mark.parametrize("multiplier", [1, 2])
@pytest.mark.parametrize("resolution", [8, 64, 256, 1024])
def test_config_f_matches_rosinality_table(resolution: int, multiplier: int) -> None:
    table = default_channels(multiplier)
    config = StyleGAN2Config.config_f(resolution, multiplier)
    assert config.channels == tuple(table[r] for r in config.resolutions)
    assert all(config.channels_at(r) == table[r] for r in config.resolutions)


def test_n_latent_and_resolutions() -> None:
    assert StyleGAN2Config.config_f(256).n_latent == 14
    assert get_preset("ffhq-256").stylegan.n_latent == 14
    assert get_preset("tiny").stylegan.n_latent == 10
    assert StyleGAN2Config(resolution=64, channels=(8,) * 5).n_latent == 10
    assert StyleGAN2Config(resolution=1024, channels=(8,) * 9).n_latent == 18
    assert get_preset("tiny").stylegan.resolutions == [4, 8, 16, 32, 64]
    assert get_preset("ffhq-256").fusion_resolutions == [8, 16, 32, 64, 128, 256]


def test_paper_presets_follow_the_paper() -> None:
    for name in ("ffhq-256", "church-256", "cat-256"):
        config = get_preset(name)
        assert config.resolution == 256
        assert config.paths == "dual" and config.fusion == "deformable"
        assert config.deformable_resolutions == (64, 128, 256)
        assert [config.fusion_kind(r) for r in config.fusion_resolutions] == ["concat"] * 3 + ["deformable"] * 3
        assert config.stylegan.w_dim == 512
        assert config.feedforward.encoder_channels == (32, 64, 128, 128, 128)
        assert config.feedforward.decoder_channels == (128, 128, 128, 128, 64, 32)
        assert config.feedforward.attention_resolution == 32
        assert [config.encoder_channels_at(r) for r in (128, 64, 32, 16, 8)] == [32, 64, 128, 128, 128]
        assert [config.decoder_channels_at(r) for r in (8, 16, 32, 64, 128, 256)] == [128, 128, 128, 128, 64, 32]


def test_fusion_kind_follows_ablations() -> None:
    tiny = get_preset("tiny")
    assert [tiny.fusion_kind(r) for r in (8, 16, 32, 64)] == ["concat", "concat", "deformable", "deformable"]
    concat = tiny.replace(fusion="concat")
    assert [concat.fusion_kind(r) for r in (8, 16, 32, 64)] == ["concat"] * 4
    ff = tiny.replace(paths="feedforward")
    assert [ff.fusion_kind(r) for r in (8, 16, 32, 64)] == ["none"] * 4
    assert ff.uses_feedforward and not ff.uses_inversion
    inv = tiny.replace(paths="inversion")
    assert inv.uses_inversion and not inv.uses_feedforward


def test_configs_written_before_the_layout_field_read_as_legacy() -> None:
    """dpinpaint 0.1.0 wrote no ``feedforward.layout``: its models keep their network."""
    data = get_preset("tiny").to_dict()
    del data["feedforward"]["layout"], data["feedforward"]["latent_channels"]
    old = ModelConfig.from_dict(data)
    assert old.feedforward.layout == "legacy" and get_preset("tiny").feedforward.layout == "picnet"
    net = DualPathNet(old)
    assert len(net.generator.bottleneck) == old.feedforward.bottleneck_blocks and not hasattr(net.encoder, "prior")
    assert isinstance(net.generator.blocks["64"][0], torch.nn.InstanceNorm2d)
    assert FeedForwardConfig().layout == "picnet" and ModelConfig.from_json(old.to_json()) == old
    with pytest.raises(ConfigError, match="layout must be"):
        FeedForwardConfig(layout="resnet")  # type: ignore[arg-type]


def test_picnet_layout_needs_equal_widths_at_8x8() -> None:
    with pytest.raises(ConfigError, match="adds f_m"):
        get_preset("tiny").replace(feedforward=_tiny_ff(decoder_channels=(16, 32, 32, 16)))
    get_preset("tiny").replace(feedforward=_tiny_ff(decoder_channels=(16, 32, 32, 16), layout="legacy"))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("feedforward", "bottleneck_blocks"),
            10_000,
            r"bottleneck_blocks must be a positive integer, got 10000 \(at most 64\)",
        ),
        (
            ("feedforward", "encoder_channels"),
            [100_000, 32, 32],
            r"encoder_channels .* positive integers, .* \(at most 4096\)",
        ),
        (("resolution",), 2**20, r"power of two >= 8, got 1048576 \(at most 4096\)"),
        (("stylegan", "n_mlp"), 10**6, r"n_mlp must be a positive integer, got 1000000 \(at most 64\)"),
        (("stylegan", "z_dim"), 10**6, r"z_dim must be a positive integer, got 1000000 \(at most 4096\)"),
        (("stylegan", "lr_mlp"), -1, r"lr_mlp must be a number in \(0, 1\]"),
        (("stylegan", "blur_kernel"), [1e60, "x"], r"blur_kernel must hold finite numbers"),
        (
            ("style_encoder", "blocks_per_stage"),
            500,
            r"blocks_per_stage must be a positive integer, got 500 \(at most 64\)",
        ),
        (("deform_kernel_size",), 99, r"deform_kernel_size must be a positive integer, got 99 \(at most 15\)"),
        (("feedforward", "bottleneck_blocks"), True, r"bottleneck_blocks must be a positive integer, got True"),
    ],
)
def test_sizes_beyond_any_real_model_are_refused(path: tuple[str, ...], value: object, message: str) -> None:
    data = get_preset("tiny").to_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=message):
        ModelConfig.from_json(json.dumps(data))


def test_deep_nesting_and_huge_numbers_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="nested too deeply"):
        ModelConfig.from_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="not valid JSON"):
        ModelConfig.from_json('{"resolution": ' + "9" * 4301 + "}")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(
        [
            "resolution",
            "paths",
            "fusion",
            "deformable_resolutions",
            "offset_groups",
            "feedforward",
            "stylegan",
            "style_encoder",
            "deform_kernel_size",
            "format_version",
            "name",
        ]
    ),
    sub=st.sampled_from(
        [
            "channels",
            "n_mlp",
            "lr_mlp",
            "blur_kernel",
            "encoder_channels",
            "bottleneck_blocks",
            "layout",
            "negative_slope",
            "z_dim",
            "mbstd_group",
            "coarse_end",
            "latent_channels",
        ]
    ),
    value=JSON_VALUES,
)
def test_any_json_value_in_any_field_gives_a_config_or_a_config_error(field: str, sub: str, value: object) -> None:
    """Property: whatever a config.json holds, reading it raises nothing but ConfigError."""
    for data in (get_preset("tiny").to_dict(), get_preset("demo").to_dict()):
        data[field] = value
        try:
            ModelConfig.from_dict(data)
        except ConfigError:
            pass
        data = get_preset("tiny").to_dict()
        if isinstance(data.get(field), dict):
            data[field][sub] = value
            try:
                ModelConfig.from_dict(data)
            except ConfigError:
                pass
