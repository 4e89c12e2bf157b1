"""The schema of params.yaml's `synth:` section: the composite recipe's steps.

One class per step of deeptrash/synth/recipe.py, with its defaults: the
demo's steps are on by default, the sim-to-real ones (`OffStep`) off until a
profile turns them on.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from deeptrash.schema import OffStep, RangedSection, Section, Step


class BackgroundStep(RangedSection):
    zoom: tuple[float, float] = (1.0, 2.0)  # crop side = photo short side / zoom


class ObjectsStep(RangedSection):
    scale: tuple[float, float] = (0.3, 0.65)
    # log_uniform: long side ~ exp(U(log scale)), as many from 0.05 to 0.1 as from 0.4 to 0.8 (most small)
    distribution: Literal["uniform", "log_uniform"] = "uniform"
    perspective_scaling: bool = True
    outside: float = Field(0.35, ge=0, le=0.9)

    @field_validator("scale")
    @classmethod
    def _scale(cls, value):
        if value[0] <= 0 or value[1] > 2:
            raise ValueError("scale must lie in (0, 2]")
        return value


class SlantStep(OffStep):
    squash: tuple[float, float] = (0.5, 1.0)  # vertical shortening of an object lying on the ground


class DistractorStep(OffStep):
    count: tuple[int, int] = (1, 4)
    scale: tuple[float, float] = (0.05, 0.35)   # long side / image side, log-uniform
    patch_share: float = Field(0.4, ge=0, le=1)  # landscape blobs; the rest leaves, sticks, stones


class LeafBedStep(DistractorStep):
    """Distractors strewn over the ground first: real litter lies in leaves and undergrowth (README)."""
    count: tuple[int, int] = (20, 80)
    scale: tuple[float, float] = (0.08, 0.3)
    patch_share: float = Field(0.0, ge=0, le=1)


class ShadowStep(OffStep):
    strength: tuple[float, float] = (0.2, 0.6)  # darkening at the shadow's core
    blur: tuple[float, float] = (0.03, 0.12)    # sigma / object long side
    offset: tuple[float, float] = (0.0, 0.08)   # shift / object long side (light from above-ish)


class HarmonizeStep(OffStep):
    strength: tuple[float, float] = (0.1, 0.5)  # share of the way to the local ground's mean colour


class PoissonStep(OffStep):
    strength: tuple[float, float] = (0.5, 1.0)


class GrassStep(OffStep):
    count: tuple[int, int] = (2, 8)
    width: tuple[float, float] = (1.0, 2.0)     # px


class DefocusStep(OffStep):
    sigma: tuple[float, float] = (0.3, 1.2)     # px


class WearStep(OffStep):
    """Crushed and dirty: litter that has lain outside (deeptrash/synth/wear.py)."""
    crumple: tuple[float, float] = (0.2, 1.0)   # dents and creases (1 = outline moved up to 6% of the long side)
    soil: tuple[float, float] = (0.0, 0.6)      # most a dirty patch is pulled towards mud colour


class SmallLitterStep(OffStep):
    """Cigarette butts, caps and scraps drawn from scratch, labelled trash (deeptrash/synth/litter.py)."""
    count: tuple[int, int] = (1, 3)
    scale: tuple[float, float] = (0.05, 0.2)    # long side / image side, log-uniform, times the depth


class RotateStep(Step):
    p: float = Field(1.0, ge=0, le=1)
    degrees: float = Field(180.0, ge=0, le=180)


class FlipStep(Step):
    p: float = Field(0.5, ge=0, le=1)


class PerspectiveStep(Step):
    p: float = Field(0.7, ge=0, le=1)
    strength: tuple[float, float] = (0.0, 0.2)


class ColorJitterStep(Step):
    p: float = Field(0.8, ge=0, le=1)
    brightness: tuple[float, float] = (0.6, 1.2)
    saturation: tuple[float, float] = (0.7, 1.3)
    hue: float = Field(8.0, ge=0, le=90)


class GradientStep(Step):
    p: float = Field(0.7, ge=0, le=1)
    strength: tuple[float, float] = (0.1, 0.5)


class FeatherStep(Step):
    p: float = Field(1.0, ge=0, le=1)
    sigma: tuple[float, float] = (0.3, 1.2)


class OccluderStep(Step):
    p: float = Field(0.4, ge=0, le=1)
    count: tuple[int, int] = (1, 3)
    size: tuple[float, float] = (0.06, 0.2)
    patch_share: float = Field(0.5, ge=0, le=1)


class OverlayStep(Step):
    p: float = Field(0.5, ge=0, le=1)
    alpha: tuple[float, float] = (0.0, 0.4)


class LensStep(Step):
    p: float = Field(0.5, ge=0, le=1)
    k1_sigma: float = Field(0.08, ge=0, le=1)


class MotionBlurStep(Step):
    p: float = Field(0.4, ge=0, le=1)
    kernel: tuple[int, int] = (3, 9)


class LightingStep(Step):
    p: float = Field(1.0, ge=0, le=1)
    brightness: tuple[float, float] = (-25.0, 25.0)
    contrast: tuple[float, float] = (0.8, 1.2)
    gamma: tuple[float, float] = (0.8, 1.25)
    temperature: tuple[float, float] = (-0.08, 0.08)
    noise: tuple[float, float] = (0.0, 4.0)
    jpeg_quality: tuple[int, int] = (70, 95)


class SynthParams(Section):
    size: int = Field(96, ge=32, le=2048)
    train: int = Field(1500, ge=1)
    val: int = Field(200, ge=1)
    val_share: float = Field(0.2, gt=0, lt=1)
    workers: int = Field(0, ge=0, le=256)
    negatives: float = Field(0.15, ge=0, le=1)
    max_objects: int = Field(3, ge=1, le=20)
    dedupe_hamming: int = Field(6, ge=-1, le=64)
    jpeg_quality: int = Field(95, ge=30, le=100)
    background: BackgroundStep = BackgroundStep()
    objects: ObjectsStep = ObjectsStep()
    rotate: RotateStep = RotateStep()
    flip: FlipStep = FlipStep()
    perspective: PerspectiveStep = PerspectiveStep()
    color_jitter: ColorJitterStep = ColorJitterStep()
    gradient: GradientStep = GradientStep()
    feather: FeatherStep = FeatherStep()
    occluders: OccluderStep = OccluderStep()
    overlay: OverlayStep = OverlayStep()
    lens: LensStep = LensStep()
    motion_blur: MotionBlurStep = MotionBlurStep()
    lighting: LightingStep = LightingStep()
    slant: SlantStep = SlantStep()
    distractors: DistractorStep = DistractorStep()
    leaf_bed: LeafBedStep = LeafBedStep()
    shadow: ShadowStep = ShadowStep()
    harmonize: HarmonizeStep = HarmonizeStep()
    poisson: PoissonStep = PoissonStep()
    grass: GrassStep = GrassStep()
    defocus: DefocusStep = DefocusStep()
    wear: WearStep = WearStep()
    small_litter: SmallLitterStep = SmallLitterStep()
