"""The dual-path inpainting network (paper section 3.1, Fig. 2).

Inversion path: ``w+ = E_s(I_m, M) + w_avg``; ``(I_s, F_s) = G_s(w+)`` with the frozen
StyleGAN2. Feed-forward path: ``I_g = G(E(I_m, M), F_s)`` with concat / deformable fusion.
Output (eq. 5): ``I_out = I_m + (1 - M) * I_g``, computed as a select so that every
observed pixel is copied bit for bit.

Tensors are images in [-1, 1], NCHW; the mask follows the paper: ``known = 1`` observed,
``known = 0`` missing (the public :class:`~dpinpaint.Inpainter` API converts from the
ecosystem's "white = fill" convention at its boundary).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import InvalidInputError
from .feedforward import FeedForwardEncoder, FeedForwardGenerator
from .style_encoder import StyleEncoder
from .stylegan2 import StyleGAN2Generator

__all__ = ["DualPathNet", "DualPathOutput"]


@dataclass
class DualPathOutput:
    """What one forward pass produces (all ``(B, ...)``).

    Attributes:
        output: the composited result ``I_out`` ``(B, 3, R, R)``: the input where
            ``known == 1``, the generated image elsewhere.
        generated: ``I_g`` of the feed-forward path (None when ``paths="inversion"``).
        inversion: ``I_s`` of the inversion path (None when ``paths="feedforward"``).
        latent: the W+ code ``(B, n_latent, w_dim)`` fed to ``G_s`` (None without inversion).
        offsets: per deformable fusion resolution, the DCN offsets ``(B, 2*G*k*k, r, r)``
            (interleaved ``(dy, dx)`` per tap, in pixels); empty under concat fusion.
        modulations: per deformable fusion resolution, the modulation ``(B, G*k*k, r, r)``.
    """

    output: torch.Tensor
    generated: torch.Tensor | None = None
    inversion: torch.Tensor | None = None
    latent: torch.Tensor | None = None
    offsets: dict[int, torch.Tensor] = field(default_factory=dict)
    modulations: dict[int, torch.Tensor] = field(default_factory=dict)

    @property
    def fill(self) -> torch.Tensor:
        """The image the holes are filled from, before compositing: ``generated`` (``I_g``) when the
        model has the feed-forward path, else ``inversion`` (``I_s``)."""
        fill = self.generated if self.generated is not None else self.inversion
        if fill is None:  # unreachable: ModelConfig always builds at least one path
            raise RuntimeError("no path produced an image")
        return fill


class DualPathNet(nn.Module):
    """Dual-path inpainting network built from a :class:`~dpinpaint.ModelConfig`.

    Sub-modules (state-dict prefixes): ``stylegan`` (``G_s``, frozen), ``style_encoder``
    (``E_s``), ``encoder`` (``E``), ``generator`` (``G`` with its fusion modules). A path
    switched off by ``config.paths`` is not built. The discriminators ``D_s`` and ``D``
    belong to training, not to this inference network.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        if config.uses_inversion:
            self.stylegan = StyleGAN2Generator(config.stylegan)
            self.stylegan.requires_grad_(False)
            self.style_encoder = StyleEncoder(config)
        if config.uses_feedforward:
            self.encoder = FeedForwardEncoder(config)
            self.generator = FeedForwardGenerator(config)

    def train(self, mode: bool = True) -> DualPathNet:
        """Switch train/eval mode; ``G_s`` stays frozen in eval mode."""
        super().train(mode)
        if self.config.uses_inversion:
            self.stylegan.eval()
        return self

    @property
    def size_multiple(self) -> int | None:
        """What the input's height and width must be multiples of when any size runs, else None.

        A feed-forward-only model has no fixed-size StyleGAN2: it runs at any size whose sides
        are multiples of its total stride (``R / 8``: 16 for a 128x128 model) and at least twice
        it (the instance norms need more than one value at the 8x8 level), e.g. a window at its own
        resolution. A model with the inversion path needs ``R x R``.
        """
        if self.config.uses_inversion:
            return None
        return self.config.resolution // 8

    # -- the two paths, usable on their own ----------------------------------------------------
    def invert(self, masked: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """Learned inversion: ``E_s(I_m, M) + w_avg`` -> W+ ``(B, n_latent, w_dim)``."""
        return self.style_encoder(masked, known) + self.stylegan.w_avg

    def synthesize(
        self, latent: torch.Tensor, noise_mode: Literal["const", "random", "none"] = "const"
    ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """``G_s``: W+ -> ``(I_s (B, 3, R, R), F_s {r: (B, C_r, r, r)})``."""
        return self.stylegan.synthesis(latent, noise_mode=noise_mode)

    def feedforward(
        self, masked: torch.Tensor, known: torch.Tensor, features: dict[int, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict[int, torch.Tensor], dict[int, torch.Tensor]]:
        """``I_g = G(E(I_m, M), F_s)`` -> ``(I_g, offsets, modulations)``."""
        return self.generator(self.encoder(masked, known), known, features)

    def forward(
        self,
        image: torch.Tensor,
        known: torch.Tensor,
        *,
        latent: torch.Tensor | None = None,
        noise_mode: Literal["const", "random", "none"] = "const",
    ) -> DualPathOutput:
        """Inpaint a batch.

        Args:
            image: ``(B, 3, R, R)`` in [-1, 1] (pixels where ``known == 0`` are ignored); for a
                feed-forward-only model ``(B, 3, H, W)`` with sides multiples of :attr:`size_multiple`.
            known: ``(B, 1, H, W)`` like ``image``, exactly 0 (missing) or 1 (observed).
            latent: optional W+ code ``(B, n_latent, w_dim)`` to use instead of ``E_s``'s
                (e.g. from optimisation-based inversion).
            noise_mode: noise of ``G_s``; ``"const"`` keeps inference deterministic.
        """
        self._check_inputs(image, known)
        if noise_mode not in ("const", "random", "none"):
            raise InvalidInputError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        if latent is not None and not self.config.uses_inversion:
            raise InvalidInputError("latent was given, but this model has no inversion path (paths='feedforward')")
        # The network runs in its parameters' dtype; the composite keeps the input's dtype and bits.
        dtype = next(self.parameters()).dtype
        known = known.to(dtype)
        masked = image.to(dtype) * known
        out = DualPathOutput(output=image)
        features = None
        if self.config.uses_inversion:
            if latent is None:
                latent = self.invert(masked, known)
            elif tuple(latent.shape) != (image.shape[0], self.stylegan.n_latent, self.stylegan.w_dim):
                raise InvalidInputError(
                    f"latent must have shape ({image.shape[0]}, {self.stylegan.n_latent}, {self.stylegan.w_dim}), "
                    f"got {tuple(latent.shape)}"
                )
            out.latent = latent = latent.to(dtype)
            out.inversion, features = self.synthesize(latent, noise_mode)
        if self.config.uses_feedforward:
            out.generated, out.offsets, out.modulations = self.feedforward(masked, known, features)
        # Eq. 5 as a select: observed pixels are the input's bits, even if the fill has NaN/inf.
        out.output = torch.where(known.bool(), image, out.fill.to(image.dtype))
        return out

    def _check_inputs(self, image: torch.Tensor, known: torch.Tensor) -> None:
        r = self.config.resolution
        if not isinstance(image, torch.Tensor) or not isinstance(known, torch.Tensor):
            raise InvalidInputError("image and known must be torch tensors")
        if image.dim() != 4 or image.shape[1] != 3:
            raise InvalidInputError(f"image must have shape (B, 3, {r}, {r}), got {tuple(image.shape)}")
        multiple = self.size_multiple
        if multiple is not None:
            if any(side < 2 * multiple or side % multiple for side in image.shape[2:]):
                raise InvalidInputError(
                    f"image is {image.shape[2]}x{image.shape[3]}, but this feed-forward model needs sides that are "
                    f"multiples of {multiple}, at least {2 * multiple}; pad first (Inpainter.inpaint does this for any size)"
                )
        elif tuple(image.shape[2:]) != (r, r):
            raise InvalidInputError(
                f"image is {image.shape[2]}x{image.shape[3]} but this model works at {r}x{r}; resize or crop "
                "first (Inpainter.inpaint does this for any size)"
            )
        if image.shape[0] == 0:
            raise InvalidInputError("image is an empty batch (B = 0); pass at least one image")
        if not image.is_floating_point():
            raise InvalidInputError(f"image must be a floating-point tensor in [-1, 1], got dtype {image.dtype}")
        if tuple(known.shape) != (image.shape[0], 1, *image.shape[2:]):
            raise InvalidInputError(
                f"known must have shape ({image.shape[0]}, 1, {image.shape[2]}, {image.shape[3]}) "
                "(1 = observed, 0 = missing), "
                f"got {tuple(known.shape)}"
            )
        if not torch.isfinite(image).all():
            raise InvalidInputError("image contains NaN or infinite values")
        lo, hi = image.aminmax()
        if lo < -1.0 - 1e-3 or hi > 1.0 + 1e-3:
            raise InvalidInputError(
                f"image values must be in [-1, 1], got [{lo.item():.4g}, {hi.item():.4g}]; map uint8 pixels with x / 127.5 - 1"
            )
        if known.dtype != torch.bool and not ((known == 0) | (known == 1)).all():
            raise InvalidInputError("known must contain only 0 (missing) and 1 (observed); threshold soft masks first")

    def extra_repr(self) -> str:
        c = self.config
        return f"name={c.name!r}, resolution={c.resolution}, paths={c.paths!r}, fusion={c.fusion!r}"
