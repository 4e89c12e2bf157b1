"""Building blocks of the params schema (deeptrash/params.py, deeptrash/synth_params.py).

A `Section` rejects unknown keys and is frozen; a `RangedSection` checks its
two-number [low, high] ranges; a `Step` is a random step of the synth recipe
with `p`, the chance it is applied.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _ordered(pair: tuple[float, float]) -> tuple[float, float]:
    if pair[0] > pair[1]:
        raise ValueError(f"range [{pair[0]}, {pair[1]}] must be [low, high] with low <= high")
    return pair


class RangedSection(Section):
    """A section whose 2-tuples are [low, high] ranges (checked low <= high)."""

    @field_validator("*")
    @classmethod
    def _ranges_ordered(cls, value):
        if isinstance(value, tuple) and len(value) == 2:
            return _ordered(value)
        return value


class Step(RangedSection):
    """A random step of the synth recipe: `p` is the chance it is applied (0 = off)."""
    p: float = Field(0.5, ge=0, le=1)


class OffStep(Step):
    """A sim-to-real step: off (p 0) unless params turn it on, so the demo's defaults stay as they were."""
    p: float = Field(0.0, ge=0, le=1)
