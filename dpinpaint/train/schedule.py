"""A schedule of stage-2 phases: one training run whose learning rate, loss weights and holes change.

A recipe that used to be a chain of runs, each re-initialised from the last one's ``final/``
(losing the optimiser's moments and the discriminator), is one run with phases::

    "stage2_steps": 6000,
    "phases": [
        {"steps": 4000},                                       # the config's own settings
        {"steps": 1500, "lr": 5e-5, "lambda_adv": 0.5},
        {"steps": 500, "lr": 2e-5, "hole_ratio": [0.2, 0.6]}
    ]

Each phase lasts ``steps`` stage-2 steps, in order, and their steps add up to ``stage2_steps``.
A field a phase leaves out takes the config's top-level value (not the previous phase's), so
each phase reads on its own. The optimisers, the discriminator and the weight average carry on
from phase to phase; only the settings change.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["Phase", "PhaseSettings", "PHASE_FIELDS", "base_settings", "phase_at", "parse_phases"]

#: The settings a phase may change (each a field of :class:`~dpinpaint.train.TrainConfig`).
PHASE_FIELDS = ("lr", "lambda_r", "lambda_adv", "lambda_ssim", "hole_weight", "hole_ratio")


@dataclass(frozen=True)
class Phase:
    """``steps`` stage-2 steps with some settings changed (None: the config's value)."""

    steps: int
    lr: float | None = None
    lambda_r: float | None = None
    lambda_adv: float | None = None
    lambda_ssim: float | None = None
    hole_weight: float | None = None
    hole_ratio: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"a phase's steps must be an integer >= 1, got {self.steps!r}")
        if self.lr is not None and not (_number(self.lr) and 0 < self.lr < 1):
            raise ConfigError(f"a phase's lr must be in (0, 1), got {self.lr!r}")
        for name in ("lambda_r", "lambda_adv", "lambda_ssim", "hole_weight"):
            value = getattr(self, name)
            if value is not None and not (_number(value) and 0 <= value < math.inf):
                raise ConfigError(f"a phase's {name} must be a finite number >= 0, got {value!r}")
        if self.hole_ratio is not None:
            ratio = self.hole_ratio
            if not (len(ratio) == 2 and all(_number(v) for v in ratio) and 0 <= ratio[0] < ratio[1] <= 1):
                raise ConfigError(f"a phase's hole_ratio must be (lo, hi) with 0 <= lo < hi <= 1, got {ratio!r}")

    def to_dict(self) -> dict[str, Any]:
        """The phase as JSON data: ``steps`` and the fields it sets."""
        data: dict[str, Any] = {"steps": self.steps}
        for name in PHASE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                data[name] = list(value) if isinstance(value, tuple) else value
        return data


@dataclass(frozen=True)
class PhaseSettings:
    """The settings in force at one step: the phase's, else the config's. ``index`` is the phase's (0 without phases)."""

    index: int
    lr: float
    lambda_r: float
    lambda_adv: float
    lambda_ssim: float
    hole_weight: float
    hole_ratio: tuple[float, float]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_phases(data: Any) -> tuple[Phase, ...]:
    """``phases`` of a training config's JSON (a list of objects) as :class:`Phase` tuples.

    Raises:
        ConfigError: not a list of objects, an unknown field, or a bad value.
    """
    if isinstance(data, tuple) and all(isinstance(p, Phase) for p in data):
        return data
    if not isinstance(data, list | tuple):
        raise ConfigError(f"phases must be a list of objects like {{'steps': 1000, 'lr': 5e-5}}, got {data!r}")
    phases = []
    for item in data:
        if isinstance(item, Phase):
            phases.append(item)
            continue
        if not isinstance(item, dict):
            raise ConfigError(f"each phase is an object like {{'steps': 1000, 'lr': 5e-5}}, got {item!r}")
        unknown = sorted(set(item) - {"steps", *PHASE_FIELDS})
        if unknown:
            raise ConfigError(f"unknown phase field(s) {unknown}; a phase sets steps and any of {list(PHASE_FIELDS)}")
        if "steps" not in item:
            raise ConfigError(f"a phase needs its number of steps: {item!r}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in item.items()}
        phases.append(Phase(**values))
    return tuple(phases)


def base_settings(config: Any) -> PhaseSettings:
    """The config's own settings (what stage 1, and a run without phases, use throughout)."""
    return PhaseSettings(index=0, **{name: getattr(config, name) for name in PHASE_FIELDS})


def phase_at(config: Any, step: int) -> PhaseSettings:
    """The settings in force at global ``step`` of a run of ``config`` (a ``TrainConfig``).

    Stage 1 and runs without phases use the config's own values; in stage 2, the phase that
    holds ``step - stage1_steps`` (the last phase past the end).
    """
    stage2_step = step - config.stage1_steps
    if not config.phases or stage2_step < 0:
        return base_settings(config)
    end = 0
    for index, phase in enumerate(config.phases):
        end += phase.steps
        if stage2_step < end or index == len(config.phases) - 1:
            changes = {k: v for k, v in dataclasses.asdict(phase).items() if k in PHASE_FIELDS and v is not None}
            return dataclasses.replace(base_settings(config), index=index, **changes)
    raise AssertionError("unreachable: phases is not empty")
