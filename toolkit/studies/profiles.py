"""How big a study run is: one profile for tests, one for a laptop, one for the full project.

A profile holds only the sizes every study shares; each study keeps its own settings (sweep
values, sizes) as a frozen dataclass beside its code, with one instance per profile in a
:class:`PerProfile` named ``SETTINGS``, read with ``SETTINGS.of(ctx)``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Generic, TypeVar

from toolkit.registry import Registry


@dataclass(frozen=True)
class Profile:
    """Shared sizes of a study run.

    Attributes:
        name: the profile's name.
        description: what it is for, shown by `xrbench study --help`.
        train_size: training images drawn (balanced) from the official training split;
            None: all of it.
        test_size: test images drawn (balanced) from the official test split; None: all.
        val_fraction: share of the training draw held out for validation.
        epochs: epochs of a PyTorch model unless a study says otherwise.
        embed_points: images in a t-SNE / UMAP embedding.
        latency_budget_s: seconds of timed calls per batch size where a study times latency.
    """

    name: str
    description: str
    train_size: int | None
    test_size: int | None
    val_fraction: float
    epochs: int
    embed_points: int
    latency_budget_s: float


PROFILES: Registry[Profile] = Registry("profile", "xrbench study --help")


def _add(profile: Profile) -> None:
    PROFILES.add(profile.name, profile)


_add(
    Profile(
        name="tiny",
        description="seconds per study, for tests and for trying a dataset out",
        train_size=400,
        test_size=200,
        val_fraction=0.2,
        epochs=1,
        embed_points=150,
        latency_budget_s=0.05,
    )
)
_add(
    Profile(
        name="quick",
        description="every study in under 30 minutes on a 2-core laptop (subsets, few epochs)",
        train_size=10_000,
        test_size=2_000,
        val_fraction=0.1,
        epochs=3,
        embed_points=2_000,
        latency_budget_s=0.3,
    )
)
_add(
    Profile(
        name="full",
        description="the official split and full sweeps: hours on a laptop, a GPU helps",
        train_size=None,
        test_size=None,
        val_fraction=0.1,
        epochs=10,
        embed_points=10_000,
        latency_budget_s=1.0,
    )
)


T = TypeVar("T")


@dataclass(frozen=True)
class PerProfile(Generic[T]):
    """A study's settings: one frozen settings object per profile, checked when the study's
    module is imported (each of tiny, quick and full is required, all of one type).

    Example:
        >>> SETTINGS = PerProfile(tiny=Sizes(3), quick=Sizes(30), full=Sizes(300))
        >>> SETTINGS.of(ctx).n  # doctest: +SKIP
    """

    tiny: T
    quick: T
    full: T

    def __post_init__(self):
        kinds = {type(getattr(self, f.name)) for f in fields(self)}
        if len(kinds) != 1:
            raise TypeError(f"PerProfile needs one settings type; got {sorted(map(str, kinds))}.")

    def __getitem__(self, profile: str) -> T:
        """The settings of the profile called ``profile`` (an unknown one is named)."""
        names = [f.name for f in fields(self)]
        if profile not in names:
            raise ValueError(
                f"No study settings for profile {profile!r}; there are {', '.join(names)}."
            )
        return getattr(self, profile)

    def of(self, ctx) -> T:
        """The settings of ``ctx``'s profile (a StudyContext, or anything with ``.profile``)."""
        return self[ctx.profile.name]


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (an unknown name lists the known ones)."""
    return PROFILES.get(name)
