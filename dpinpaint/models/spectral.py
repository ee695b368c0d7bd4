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

As in PICNet's ``SpectralNorm``: the matrix has ``W.shape[0]`` rows for transposed
convolutions too (their input channels; ``torch.nn.utils.spectral_norm`` would use
``dim=1``), and one training forward updates ``v = W^T u / |.|`` then ``u = W v / |.|`` and
divides by ``u . W v`` (PyTorch's parametrisation updates ``u`` first, a different estimate
after one step). Unlike PICNet's: the estimate is not updated in eval mode, so evaluation
never changes the network, and ``u``/``v`` start from 15 power iterations (PyTorch's
warm-up) rather than from random vectors.
"""

from __future__ import annotations

from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

__all__ = ["SpectralNorm", "apply_spectral_norm", "fold_spectral_norm", "has_spectral_norm", "spectral_norm_conv"]

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)
ModuleT = TypeVar("ModuleT", bound=nn.Module)
_WARMUP = 15


class SpectralNorm(nn.Module):
    """Parametrisation ``W -> W / sigma(W)`` with PICNet's power iteration (buffers ``u``, ``v``).

    ``W`` is read as a ``(W.shape[0], -1)`` matrix; one iteration per training forward.
    """

    u: torch.Tensor
    v: torch.Tensor

    def __init__(self, weight: torch.Tensor, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = eps
        matrix = weight.detach().flatten(1)
        self.register_buffer("u", F.normalize(matrix.new_empty(matrix.shape[0]).normal_(), dim=0, eps=eps))
        self.register_buffer("v", F.normalize(matrix.new_empty(matrix.shape[1]).normal_(), dim=0, eps=eps))
        self._power_iteration(matrix, _WARMUP)

    @torch.no_grad()
    def _power_iteration(self, matrix: torch.Tensor, steps: int) -> None:
        for _ in range(steps):  # in place: DataParallel replicas share the buffers' storage
            F.normalize(matrix.T @ self.u, dim=0, eps=self.eps, out=self.v)
            F.normalize(matrix @ self.v, dim=0, eps=self.eps, out=self.u)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        matrix = weight.flatten(1)
        if self.training:
            self._power_iteration(matrix.detach(), 1)
        # Clones: a second forward before the backward must not change what the first one used.
        u, v = self.u.clone(), self.v.clone()
        return weight / torch.dot(u, matrix @ v)


def spectral_norm_conv(conv: nn.Conv2d | nn.ConvTranspose2d) -> nn.Module:
    """Spectral-normalise ``conv``'s ``weight`` in place with :class:`SpectralNorm`; returns ``conv``."""
    parametrize.register_parametrization(conv, "weight", SpectralNorm(conv.weight))
    return conv


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


def fold_spectral_norm(net: ModuleT) -> ModuleT:
    """Replace every parametrised weight of ``net`` by its current value, in place; returns ``net``.

    ``net`` is put in eval mode first, so the stored power-iteration estimate is used as is
    (no extra iteration): the folded network's output equals ``net``'s in eval mode. The state
    dict afterwards has plain ``weight`` tensors and no ``parametrizations.*`` / ``_u`` / ``_v``.
    """
    net.eval()
    for module in net.modules():
        if parametrize.is_parametrized(module):
            names = list(getattr(module, "parametrizations").keys())  # noqa: B009 (added at run time)
            for name in names:
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return net
