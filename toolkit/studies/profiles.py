"""How big a study run is: one profile for tests, one for a laptop, one for the full project.

A profile holds only the sizes every study shares; each study keeps its own per-profile
settings (sweep values, sizes) in a ``SETTINGS`` table beside its code, read with
:meth:`toolkit.studies.context.StudyContext.settings`.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (an unknown name lists the known ones)."""
    return PROFILES.get(name)
