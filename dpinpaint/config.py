"""Model configuration as data: dataclasses that round-trip through JSON, and named presets.

A :class:`ModelConfig` fully determines the network built by
:class:`dpinpaint.models.DualPathNet`; no width, depth or resolution is a constant in code.
Sub-configs describe each network: :class:`StyleGAN2Config` (the frozen generator ``G_s``
and its discriminator ``D_s``), :class:`StyleEncoderConfig` (``E_s``) and
:class:`FeedForwardConfig` (``E`` and ``G``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from .errors import ConfigError

__all__ = [
    "ModelConfig",
    "StyleGAN2Config",
    "StyleEncoderConfig",
    "FeedForwardConfig",
    "CONFIG_FORMAT_VERSION",
    "get_preset",
    "list_presets",
    "PAPER256_STYLEGAN",
]

#: Version of the JSON layout written by :meth:`ModelConfig.to_dict`.
CONFIG_FORMAT_VERSION = 1

Fusion = Literal["deformable", "concat"]
Paths = Literal["dual", "feedforward", "inversion"]
Layout = Literal["picnet", "legacy"]


#: Upper bounds of the sizes a config may ask for: far above any real model (StyleGAN2 at 1024 is
#: 512 wide with 8 mapping layers), low enough that a hostile config.json cannot make the network
#: (or its meta-device skeleton, built to check the weights' shapes) exhaust memory or time.
MAX_RESOLUTION = 4096
MAX_CHANNELS = 4096
MAX_DEPTH = 64  # mapping layers, residual blocks, style heads


def _int_in(value: Any, what: str, low: int, high: int) -> int:
    """``value`` if it is an integer in ``[low, high]`` (bools are not), else :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        kind = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ConfigError(f"{what} must be {kind}, got {value!r} (at most {high})")
    return value


def _log2_resolution(resolution: int, what: str) -> int:
    if (
        isinstance(resolution, bool)
        or not isinstance(resolution, int)
        or not 8 <= resolution <= MAX_RESOLUTION
        or resolution & (resolution - 1)
    ):
        raise ConfigError(f"{what} must be a power of two >= 8, got {resolution!r} (at most {MAX_RESOLUTION})")
    return int(math.log2(resolution))


def _resolutions(start: int, stop: int) -> list[int]:
    """Powers of two from ``start`` to ``stop`` inclusive."""
    return [2**i for i in range(int(math.log2(start)), int(math.log2(stop)) + 1)]


def _positive_ints(values: tuple[int, ...], what: str, length: int) -> None:
    if len(values) != length:
        raise ConfigError(f"{what} must have {length} entries, got {len(values)}: {values}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_CHANNELS for v in values):
        raise ConfigError(f"{what} must be positive integers, got {values} (at most {MAX_CHANNELS})")


def load_json_text(text: str, what: str) -> Any:
    """Parse JSON ``text`` with :class:`ConfigError` for anything wrong in it, including nesting too
    deep to parse and integers of more digits than Python converts (``what`` names the text)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ConfigError(f"{what} is nested too deeply to be a dpinpaint config") from None
    except ValueError as exc:  # JSONDecodeError, and the int-conversion digit limit
        raise ConfigError(f"{what} is not valid JSON: {exc}") from exc


def dump_json(data: dict[str, Any], path: str | os.PathLike[str] | None = None) -> str:
    """``data`` as indented, key-sorted JSON text; also written to ``path`` when given."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if path is not None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return text


class _JsonConfig:
    """Mixin: ``to_dict`` / ``from_dict`` with tuples restored and unknown keys rejected.

    ``_absent_defaults``: values for fields a JSON object lacks that differ from the
    dataclass defaults (fields added later, whose old behaviour files without them keep).
    """

    _absent_defaults: ClassVar[dict[str, Any]] = {}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
        names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} field(s) {unknown}; known fields: {sorted(names)}")
        kwargs = {k: v for k, v in cls._absent_defaults.items() if k not in data}
        for key, value in data.items():
            sub = _SUBCONFIGS.get((cls.__name__, key))
            if sub is not None:
                value = sub.from_dict(value)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"invalid {cls.__name__}: {exc}") from exc


@dataclass(frozen=True)
class StyleGAN2Config(_JsonConfig):
    """The StyleGAN2 generator/discriminator pair (rosinality / NVIDIA config-f layout).

    Attributes:
        resolution: output side length (power of two).
        channels: feature channels at resolutions 4, 8, ..., ``resolution`` (one per
            resolution); config-f at 256 is ``(512, 512, 512, 512, 512, 256, 128)``.
        z_dim / w_dim: latent sizes; ``n_mlp`` mapping layers with learning-rate
            multiplier ``lr_mlp``.
        blur_kernel: the separable FIR used for up/down-sampling (``[1, 3, 3, 1]``).
        mbstd_group / mbstd_features: discriminator minibatch-stddev settings.
    """

    resolution: int = 256
    channels: tuple[int, ...] = (512, 512, 512, 512, 512, 256, 128)
    z_dim: int = 512
    w_dim: int = 512
    n_mlp: int = 8
    lr_mlp: float = 0.01
    blur_kernel: tuple[int, ...] = (1, 3, 3, 1)
    mbstd_group: int = 4
    mbstd_features: int = 1

    def __post_init__(self) -> None:
        log_res = _log2_resolution(self.resolution, "StyleGAN2Config.resolution")
        _positive_ints(self.channels, "StyleGAN2Config.channels (one per resolution 4..resolution)", log_res - 1)
        for name in ("z_dim", "w_dim", "mbstd_group", "mbstd_features"):
            _int_in(getattr(self, name), f"StyleGAN2Config.{name}", 1, MAX_CHANNELS)
        _int_in(self.n_mlp, "StyleGAN2Config.n_mlp", 1, MAX_DEPTH)
        lr = self.lr_mlp
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not 0 < lr <= 1:
            raise ConfigError(f"StyleGAN2Config.lr_mlp must be a number in (0, 1] (StyleGAN2: 0.01), got {lr!r}")
        kernel = self.blur_kernel
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in kernel):
            raise ConfigError(f"StyleGAN2Config.blur_kernel must hold finite numbers, got {kernel}")
        if self.w_dim != self.z_dim:
            raise ConfigError(
                f"StyleGAN2Config needs z_dim == w_dim (the mapping keeps its width), got {self.z_dim} and {self.w_dim}"
            )
        if not 2 <= len(self.blur_kernel) <= 16 or len(self.blur_kernel) % 2 or sum(self.blur_kernel) == 0:
            raise ConfigError(
                "StyleGAN2Config.blur_kernel must be an even-length FIR with non-zero sum (StyleGAN2 uses "
                f"(1, 3, 3, 1)), got {self.blur_kernel}"
            )
        if self.channels[0] % self.mbstd_features:
            raise ConfigError(
                f"StyleGAN2Config.mbstd_features ({self.mbstd_features}) must divide the 4x4 width {self.channels[0]}"
            )

    @classmethod
    def config_f(cls, resolution: int = 256, channel_multiplier: int = 2, **kwargs: Any) -> StyleGAN2Config:
        """The config-f channel table (``{4..32: 512, 64: 256m, 128: 128m, ...}``, capped at 512)."""
        table = {4: 512, 8: 512, 16: 512, 32: 512}
        log_res = _log2_resolution(resolution, "resolution")
        channels = tuple(
            table.get(r, min(512, 16384 * channel_multiplier // r)) for r in (2**i for i in range(2, log_res + 1))
        )
        return cls(resolution=resolution, channels=channels, **kwargs)

    @property
    def resolutions(self) -> list[int]:
        """``[4, 8, ..., resolution]``."""
        return _resolutions(4, self.resolution)

    @property
    def n_latent(self) -> int:
        """Number of W+ entries: ``2 * log2(resolution) - 2`` (14 at 256)."""
        return 2 * int(math.log2(self.resolution)) - 2

    def channels_at(self, resolution: int) -> int:
        return self.channels[int(math.log2(resolution)) - 2]


@dataclass(frozen=True)
class StyleEncoderConfig(_JsonConfig):
    """The style encoder ``E_s`` (pSp-style learned GAN inversion), trained from scratch.

    A residual backbone halves the resolution from the input down to 16x16 with
    ``channels`` (one entry per stage, the last at 16x16) and ``blocks_per_stage``
    residual blocks per stage; a feature pyramid of width ``pyramid_channels`` at
    16/32/64; one map-to-style head of width ``head_channels`` per W+ entry. Entries
    ``[0, coarse_end)`` read the 16x16 level, ``[coarse_end, middle_end)`` the 32x32 level
    and the rest the 64x64 level (pSp's coarse / middle / fine split).
    """

    stem_channels: int = 32
    channels: tuple[int, ...] = (64, 128, 256, 512)
    blocks_per_stage: int = 1
    pyramid_channels: int = 256
    head_channels: int = 256
    coarse_end: int = 3
    middle_end: int = 7

    def __post_init__(self) -> None:
        for name in (
            "stem_channels",
            "blocks_per_stage",
            "pyramid_channels",
            "head_channels",
            "coarse_end",
            "middle_end",
        ):
            high = MAX_CHANNELS if name.endswith("channels") else MAX_DEPTH
            _int_in(getattr(self, name), f"StyleEncoderConfig.{name}", 1, high)
        if not 0 < self.coarse_end <= self.middle_end:
            raise ConfigError(
                f"StyleEncoderConfig needs 0 < coarse_end <= middle_end, got {self.coarse_end}, {self.middle_end}"
            )


@dataclass(frozen=True)
class FeedForwardConfig(_JsonConfig):
    """The feed-forward path: PICNet's generative path without its VAE prior.

    Attributes:
        encoder_channels: ``E``'s widths at ``resolution/2, resolution/4, ..., 8``
            (PICNet at 256: ``(32, 64, 128, 128, 128)``).
        decoder_channels: ``G``'s feature widths ``f_g`` at ``8, 16, ..., resolution``
            (PICNet at 256: ``(128, 128, 128, 128, 64, 32)``).
        bottleneck_blocks: residual blocks at 8x8: in the ``"picnet"`` layout ``E``'s latent
            branch blocks (PICNet's ``L``, 6); in the ``"legacy"`` layout ``G``'s
            instance-normalised blocks on ``f_m``.
        attention_resolution: where the short+long-term attention sits (0 = none); ``E``
            and ``G`` must have the same width there.
        negative_slope: leaky ReLU slope (0.1 in PICNet).
        layout: ``"picnet"`` (PICNet's 8x8 head, output layer and attention fuse block) or
            ``"legacy"`` (dpinpaint 0.1.0's; see :mod:`dpinpaint.models.feedforward`). A
            config.json without this field was written by dpinpaint 0.1.0 and reads as
            ``"legacy"``.
        latent_channels: width of the latent ``z`` at 8x8 (PICNet's ``z_nc``, 128); picnet layout only.
    """

    _absent_defaults: ClassVar[dict[str, Any]] = {"layout": "legacy"}

    encoder_channels: tuple[int, ...] = (32, 64, 128, 128, 128)
    decoder_channels: tuple[int, ...] = (128, 128, 128, 128, 64, 32)
    bottleneck_blocks: int = 6
    attention_resolution: int = 32
    negative_slope: float = 0.1
    layout: Layout = "picnet"
    latent_channels: int = 128

    def __post_init__(self) -> None:
        if self.layout not in ("picnet", "legacy"):
            raise ConfigError(f"FeedForwardConfig.layout must be 'picnet' or 'legacy', got {self.layout!r}")
        _int_in(self.latent_channels, "FeedForwardConfig.latent_channels", 1, MAX_CHANNELS)
        _int_in(self.bottleneck_blocks, "FeedForwardConfig.bottleneck_blocks", 1, MAX_DEPTH)
        if not isinstance(self.attention_resolution, int) or self.attention_resolution < 0:
            raise ConfigError(
                f"FeedForwardConfig.attention_resolution must be 0 (none) or a resolution, got {self.attention_resolution!r}"
            )
        slope = self.negative_slope
        if isinstance(slope, bool) or not isinstance(slope, int | float) or not 0 <= slope < math.inf:
            raise ConfigError(f"FeedForwardConfig.negative_slope must be >= 0, got {self.negative_slope!r}")


@dataclass(frozen=True)
class ModelConfig(_JsonConfig):
    """Everything needed to build :class:`~dpinpaint.models.DualPathNet`.

    Attributes:
        name: a label (the preset name for presets).
        resolution: the network's input/output side length.
        paths: ``"dual"`` (the paper), ``"feedforward"`` (Table 2 "w/o Inv-Path") or
            ``"inversion"`` (Table 2 "w/o FF-Path"); a path that is off is not built.
        fusion: ``"deformable"`` (the paper: concat below ``deformable_resolutions``,
            DCNv2 alignment at them) or ``"concat"`` (Table 2 "w/o DF": concat everywhere).
        deformable_resolutions: resolutions fused by the deformable module (64/128/256 at 256).
        offset_groups: DCNv2 offset groups of the deformable fusion.
        deform_kernel_size: kernel size of the deformable convolution and its predictor.
        stylegan, style_encoder, feedforward: the sub-networks.
    """

    name: str = "custom"
    resolution: int = 256
    paths: Paths = "dual"
    fusion: Fusion = "deformable"
    deformable_resolutions: tuple[int, ...] = (64, 128, 256)
    offset_groups: int = 1
    deform_kernel_size: int = 3
    stylegan: StyleGAN2Config = field(default_factory=StyleGAN2Config)
    style_encoder: StyleEncoderConfig = field(default_factory=StyleEncoderConfig)
    feedforward: FeedForwardConfig = field(default_factory=FeedForwardConfig)
    format_version: int = CONFIG_FORMAT_VERSION

    def __post_init__(self) -> None:
        log_res = _log2_resolution(self.resolution, "ModelConfig.resolution")
        if self.resolution < 16:
            raise ConfigError(
                f"ModelConfig.resolution must be >= 16 (the encoder works down to 8x8), got {self.resolution}"
            )
        if not isinstance(self.format_version, int):
            raise ConfigError(f"ModelConfig.format_version must be an integer, got {self.format_version!r}")
        _int_in(self.offset_groups, "ModelConfig.offset_groups", 1, MAX_CHANNELS)
        _int_in(self.deform_kernel_size, "ModelConfig.deform_kernel_size", 1, 15)
        if len(set(self.deformable_resolutions)) != len(self.deformable_resolutions):
            raise ConfigError(f"ModelConfig.deformable_resolutions has duplicates: {self.deformable_resolutions}")
        if self.paths not in ("dual", "feedforward", "inversion"):
            raise ConfigError(f"ModelConfig.paths must be 'dual', 'feedforward' or 'inversion', got {self.paths!r}")
        if self.fusion not in ("deformable", "concat"):
            raise ConfigError(f"ModelConfig.fusion must be 'deformable' or 'concat', got {self.fusion!r}")
        if self.format_version > CONFIG_FORMAT_VERSION:
            raise ConfigError(
                f"this config has format_version {self.format_version}, newer than this dpinpaint understands "
                f"({CONFIG_FORMAT_VERSION}); upgrade dpinpaint"
            )
        if self.stylegan.resolution != self.resolution:
            raise ConfigError(
                f"stylegan.resolution ({self.stylegan.resolution}) must equal resolution ({self.resolution})"
            )
        if self.resolution < 64 and self.uses_inversion:
            raise ConfigError("the inversion path's style encoder needs resolution >= 64 (its pyramid reads 16/32/64)")
        bad = [r for r in self.deformable_resolutions if r not in self.fusion_resolutions]
        if bad:
            raise ConfigError(f"deformable_resolutions {bad} are not fusion resolutions {self.fusion_resolutions}")
        if self.offset_groups < 1 or self.deform_kernel_size < 1 or self.deform_kernel_size % 2 == 0:
            raise ConfigError("offset_groups must be >= 1 and deform_kernel_size a positive odd integer")
        ff = self.feedforward
        _positive_ints(ff.encoder_channels, "feedforward.encoder_channels (resolution/2 .. 8)", log_res - 3)
        _positive_ints(ff.decoder_channels, "feedforward.decoder_channels (8 .. resolution)", log_res - 2)
        if ff.attention_resolution:
            if ff.attention_resolution not in self.fusion_resolutions[:-1]:
                raise ConfigError(
                    f"feedforward.attention_resolution must be 0 or one of {self.fusion_resolutions[:-1]}, "
                    f"got {ff.attention_resolution}"
                )
            if self.encoder_channels_at(ff.attention_resolution) != self.decoder_channels_at(ff.attention_resolution):
                raise ConfigError(
                    "the attention layer needs equal encoder and decoder widths at "
                    f"{ff.attention_resolution}x{ff.attention_resolution}"
                )
        if ff.layout == "picnet" and self.encoder_channels_at(8) != self.decoder_channels_at(8):
            raise ConfigError(
                "the picnet layout adds f_m to G's 8x8 feature: feedforward.encoder_channels[-1] "
                f"({self.encoder_channels_at(8)}) must equal decoder_channels[0] ({self.decoder_channels_at(8)})"
            )
        for c in self.stylegan.channels:
            if self.offset_groups and c % self.offset_groups:
                raise ConfigError(f"offset_groups ({self.offset_groups}) must divide every StyleGAN2 width, not {c}")
        se = self.style_encoder
        if self.uses_inversion:
            stages = log_res - 4
            _positive_ints(se.channels, "style_encoder.channels (one per stage down to 16x16)", stages)
            if se.middle_end > self.stylegan.n_latent:
                raise ConfigError(f"style_encoder.middle_end must be <= n_latent ({self.stylegan.n_latent})")

    # -- derived structure -------------------------------------------------------------------
    @property
    def uses_inversion(self) -> bool:
        return self.paths in ("dual", "inversion")

    @property
    def uses_feedforward(self) -> bool:
        return self.paths in ("dual", "feedforward")

    @property
    def fusion_resolutions(self) -> list[int]:
        """Resolutions where ``G`` fuses ``f_s`` with ``f_g``: 8, 16, ..., resolution."""
        return _resolutions(8, self.resolution)

    def fusion_kind(self, resolution: int) -> str:
        """``"deformable"`` or ``"concat"`` at a fusion resolution (``"none"`` without inversion)."""
        if self.paths != "dual":
            return "none"
        if self.fusion == "deformable" and resolution in self.deformable_resolutions:
            return "deformable"
        return "concat"

    def encoder_channels_at(self, resolution: int) -> int:
        return self.feedforward.encoder_channels[int(math.log2(self.resolution // resolution)) - 1]

    def decoder_channels_at(self, resolution: int) -> int:
        return self.feedforward.decoder_channels[int(math.log2(resolution)) - 3]

    # -- (de)serialisation ------------------------------------------------------------------
    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The config as JSON text; also written to ``path`` when given."""
        return dump_json(self.to_dict(), path)

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> ModelConfig:
        """Parse JSON text, or read a ``config.json`` path."""
        text = str(text_or_path)
        if os.path.exists(text) or not text.lstrip().startswith(("{", "[")):
            try:
                with open(text_or_path, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                raise ConfigError(f"cannot read config file {text_or_path!r}: {exc}") from exc
        return cls.from_dict(load_json_text(text, "config"))

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (validated again)."""
        try:
            return dataclasses.replace(self, **changes)
        except TypeError as exc:
            raise ConfigError(f"invalid ModelConfig field in {sorted(changes)}: {exc}") from exc


_SUBCONFIGS: dict[tuple[str, str], type[_JsonConfig]] = {
    ("ModelConfig", "stylegan"): StyleGAN2Config,
    ("ModelConfig", "style_encoder"): StyleEncoderConfig,
    ("ModelConfig", "feedforward"): FeedForwardConfig,
}


# The named presets live in their own module (one registry, as timm's); imported last, as they are
# built from the classes above, and re-exported so that ``dpinpaint.config.get_preset`` keeps working.
from .presets import PAPER256_STYLEGAN, get_preset, list_presets  # noqa: E402
