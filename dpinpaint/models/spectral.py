"""Spectral normalisation of the feed-forward path, as PICNet trains it, and its folding for export.

PICNet (Zheng et al. 2019) wraps every convolution of its encoder and generator in spectral
normalisation (Miyato et al. 2018): the weight used is ``W / sigma(W)``, ``sigma`` the largest
singular value of ``W`` reshaped to ``(W.shape[0], -1)``, estimated by one power iteration
per training forward. It is a reparametrisation used while training; an exported model holds
the normalised weights as plain tensors (:func:`fold_spectral_norm`), so inference files and
speed are those of a network without it.

Which convolutions: every ``Conv2d`` / ``ConvTranspose2d`` of ``E`` and ``G`` that PICNet
normalises, i.e. all but the attention's 1x1 query convolution (plain in PICNet's
``Auto_Attn``) and the fusion modules of the dual-path network (not PICNet's; the offset
predictor starts at zero, whose spectral norm is 0).

As in PICNet's ``SpectralNorm``, the matrix is ``W.shape[0]`` rows for transposed
convolutions too (their input channels; ``torch.nn.utils.spectral_norm`` would use
``dim=1``). Unlike PICNet's, the power iteration does not run in eval mode (PyTorch's
parametrisation), so evaluation does not change the stored estimate.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["apply_spectral_norm", "fold_spectral_norm", "has_spectral_norm", "spectral_norm_conv"]

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def spectral_norm_conv(conv: nn.Module) -> nn.Module:
    """Spectral-normalise ``conv``'s ``weight`` in place (PICNet's layout: rows = ``weight.shape[0]``)."""
    return spectral_norm(conv, dim=0)


def apply_spectral_norm(net: nn.Module) -> list[str]:
    """Spectral-normalise the feed-forward path of a :class:`~dpinpaint.DualPathNet` in place.

    Returns the qualified names of the convolutions it normalised (empty when the network
    has no feed-forward path).
    """
    done: list[str] = []
    for prefix in ("encoder", "generator"):
        root = getattr(net, prefix, None)
        if root is None:
            continue
        for name, module in root.named_modules():
            if not isinstance(module, _CONVS) or name.startswith("fusions.") or name == "attention.query":
                continue
            if not parametrize.is_parametrized(module, "weight"):
                spectral_norm_conv(module)
                done.append(f"{prefix}.{name}")
    return done


def has_spectral_norm(net: nn.Module) -> bool:
    """Whether any sub-module of ``net`` holds a parametrised (e.g. spectral-normalised) weight."""
    return any(parametrize.is_parametrized(m) for m in net.modules())


def fold_spectral_norm(net: nn.Module) -> nn.Module:
    """Replace every parametrised weight of ``net`` by its current value, in place; returns ``net``.

    ``net`` is put in eval mode first, so the stored power-iteration estimate is used as is
    (no extra iteration): the folded network's output equals ``net``'s in eval mode. The state
    dict afterwards has plain ``weight`` tensors and no ``parametrizations.*`` / ``_u`` / ``_v``.
    """
    net.eval()
    for module in net.modules():
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations.keys()):  # type: ignore[union-attr]
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return net
