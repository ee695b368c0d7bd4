"""The named model presets (``ffhq-256``, ``church-256``, ``cat-256``, ``tiny``, ``demo``, ...): one
registry of name -> (description, :class:`~dpinpaint.config.ModelConfig` factory)."""

from __future__ import annotations

from .config import FeedForwardConfig, ModelConfig, StyleEncoderConfig, StyleGAN2Config
from .errors import ConfigError

__all__ = ["PAPER256_STYLEGAN", "get_preset", "list_presets"]


def _paper_256(name: str) -> ModelConfig:
    """The paper's 256x256 model: config-f StyleGAN2 (channel multiplier 2), PICNet widths."""
    return ModelConfig(name=name, stylegan=StyleGAN2Config.config_f(256, channel_multiplier=2))


#: The StyleGAN2 of stylegan2-ada-pytorch's ``paper256`` configuration (``cbase=16384``,
#: minibatch-stddev group 8), e.g. ``ffhq-res256-mirror-paper256-noaug.pkl``.
PAPER256_STYLEGAN = StyleGAN2Config(resolution=256, channels=(512, 512, 512, 512, 256, 128, 64), mbstd_group=8)


def _tiny() -> ModelConfig:
    """A 64x64, narrow model for tests and quick experiments (same structure as the paper's)."""
    return ModelConfig(
        name="tiny",
        resolution=64,
        deformable_resolutions=(32, 64),
        stylegan=StyleGAN2Config(resolution=64, channels=(64, 64, 64, 32, 16), z_dim=64, w_dim=64, n_mlp=2),
        style_encoder=StyleEncoderConfig(
            stem_channels=16, channels=(32, 64), pyramid_channels=32, head_channels=32, coarse_end=3, middle_end=6
        ),
        feedforward=FeedForwardConfig(
            encoder_channels=(16, 32, 32),
            decoder_channels=(32, 32, 32, 16),
            bottleneck_blocks=1,
            attention_resolution=16,
            latent_channels=32,
        ),
    )


def _demo() -> ModelConfig:
    """The bundled 128x128 demo: the feed-forward path only (Table 2's "w/o Inv-Path").

    No pretrained StyleGAN2 can be had offline, so the inversion path is off; ``stylegan``
    only sizes the discriminator ``D`` used in training. Weights ship inside the package.
    The bundled weights were trained with the ``"legacy"`` layout, so this preset keeps it
    until the demo is retrained on PICNet's.
    """
    return ModelConfig(
        name="demo",
        resolution=128,
        paths="feedforward",
        deformable_resolutions=(64, 128),
        stylegan=StyleGAN2Config(resolution=128, channels=(64, 64, 64, 64, 32, 16), z_dim=64, w_dim=64, n_mlp=2),
        feedforward=FeedForwardConfig(
            encoder_channels=(48, 96, 96, 96),
            decoder_channels=(96, 96, 96, 48, 32),
            bottleneck_blocks=2,
            attention_resolution=32,
            layout="legacy",
        ),
    )


_PRESETS = {
    "ffhq-256": ("FFHQ faces at 256x256 (the paper's main model)", lambda: _paper_256("ffhq-256")),
    "church-256": ("LSUN church at 256x256", lambda: _paper_256("church-256")),
    "cat-256": ("LSUN cat at 256x256", lambda: _paper_256("cat-256")),
    "ffhq-256-paper256": (
        "ffhq-256 for NVIDIA's ffhq-res256-mirror-paper256-noaug.pkl (widths 64: 256, 128: 128, 256: 64)",
        lambda: _paper_256("ffhq-256-paper256").replace(stylegan=PAPER256_STYLEGAN),
    ),
    "tiny": ("64x64 narrow model for tests and quick experiments", _tiny),
    "demo": ("128x128 feed-forward-only model trained on public photos, bundled (works offline)", _demo),
}


def list_presets() -> dict[str, str]:
    """Preset names with a one-line description each."""
    return {name: desc for name, (desc, _) in _PRESETS.items()}


def get_preset(name: str) -> ModelConfig:
    """The :class:`ModelConfig` of a named preset (``ffhq-256``, ``church-256``, ``cat-256``, ``tiny``)."""
    try:
        return _PRESETS[name][1]()
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; available presets: {', '.join(_PRESETS)}") from None
