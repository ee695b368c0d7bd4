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

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

__all__ = [
    "SpectralNorm",
    "apply_spectral_norm",
    "fold_spectral_norm",
    "folded_state_dict",
    "has_spectral_norm",
    "spectral_norm_conv",
    "spectral_norms",
]

if TYPE_CHECKING:
    from .dual_path import DualPathNet

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)
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
        # In the weight's precision under autocast too (the convolution casts the result).
        with torch.autocast(weight.device.type, enabled=False):
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


def _normalised_convs(net: nn.Module) -> dict[str, nn.Conv2d | nn.ConvTranspose2d]:
    """The convolutions of ``E`` and ``G`` that PICNet spectral-normalises, by qualified name."""
    convs: dict[str, nn.Conv2d | nn.ConvTranspose2d] = {}
    for prefix in ("encoder", "generator"):
        root = getattr(net, prefix, None)
        if root is None:
            continue
        for name, module in root.named_modules():
            if isinstance(module, _CONVS) and not name.startswith("fusions.") and name != "attention.query":
                convs[f"{prefix}.{name}"] = module
    return convs


def apply_spectral_norm(net: nn.Module) -> list[str]:
    """Spectral-normalise the feed-forward path of a :class:`~dpinpaint.DualPathNet` in place.

    Returns the qualified names of the convolutions it normalised (empty when the network
    has no feed-forward path, or they already are).
    """
    done: list[str] = []
    for name, conv in _normalised_convs(net).items():
        if not parametrize.is_parametrized(conv, "weight"):
            spectral_norm_conv(conv)
            done.append(name)
    return done


@torch.no_grad()
def spectral_norms(net: nn.Module) -> dict[str, float]:
    """The exact spectral norm of each weight :func:`apply_spectral_norm` normalises (1 after folding, nearly)."""
    return {
        name: float(torch.linalg.matrix_norm(conv.weight.detach().flatten(1).float(), ord=2))
        for name, conv in _normalised_convs(net).items()
    }


def has_spectral_norm(net: nn.Module) -> bool:
    """Whether any sub-module of ``net`` holds a parametrised (e.g. spectral-normalised) weight."""
    return any(parametrize.is_parametrized(m) for m in net.modules())


@torch.no_grad()
def folded_state_dict(net: nn.Module) -> dict[str, torch.Tensor]:
    """``net``'s state dict with every parametrised weight replaced by its eval-mode value.

    Keys ``<module>.parametrizations.weight.original`` become ``<module>.weight`` (the weight
    the network uses in eval mode: the stored power-iteration estimate, no extra iteration);
    the estimate's buffers are dropped. ``net`` itself is not changed.
    """
    values: dict[str, torch.Tensor] = {}
    for name, module in net.named_modules():
        if parametrize.is_parametrized(module):
            chains = getattr(module, "parametrizations")  # noqa: B009 (added at run time)
            for tensor_name, chain in chains.items():
                modes = [m.training for m in chain.modules()]
                chain.eval()
                values[f"{name}.{tensor_name}" if name else tensor_name] = getattr(module, tensor_name).detach().clone()
                for m, mode in zip(chain.modules(), modes, strict=True):
                    m.training = mode
    state: dict[str, torch.Tensor] = {}
    for key, value in net.state_dict().items():
        owner, found, rest = ("." + key).partition(".parametrizations.")
        if not found:
            state[key] = value
        elif rest.endswith(".original"):  # the other entries are the parametrisation's buffers
            full = f"{owner[1:]}.{rest[: -len('.original')]}".lstrip(".")
            state[full] = values[full]
    return state


def fold_spectral_norm(net: DualPathNet) -> DualPathNet:
    """A new, plain :class:`~dpinpaint.DualPathNet` (eval mode) with ``net``'s spectral norm folded in.

    Its output equals ``net``'s in eval mode; its state dict has plain ``weight`` tensors and no
    ``parametrizations.*`` / ``u`` / ``v`` entries. ``net`` is not changed. (PyTorch's
    ``remove_parametrizations`` is not used: it edits the class that deep copies share.)
    """
    from .dual_path import DualPathNet

    plain = DualPathNet(net.config).to(next(net.parameters()).device)
    plain.load_state_dict(folded_state_dict(net))
    return plain.eval()
