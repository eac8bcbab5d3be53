"""How big a study run is: one profile for tests, one for a laptop, one for the full project.

A profile holds only the sizes every study shares; each study keeps its own settings (sweep
values, sizes) as a frozen dataclass beside its code, with one instance per profile in a
:class:`PerProfile` named ``SETTINGS``, read with ``SETTINGS.of(ctx)``.

A smaller (or larger) study than a profile's is a profile with a study's own settings object
in place of the profile's: ``get_profile("tiny").with_settings(DatasizeSettings(...))``, or
``run_studies(..., study_settings=[DatasizeSettings(...)])`` (what the example notebook and
the tests use to run a study in seconds).
"""

from __future__ import annotations

import dataclasses
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
        study_settings: settings objects of studies (e.g. a ``DatasizeSettings``) that replace
            the ones the studies keep for this profile; empty for the named profiles. Set
            with :meth:`with_settings`.
    """

    name: str
    description: str
    train_size: int | None
    test_size: int | None
    val_fraction: float
    epochs: int
    embed_points: int
    latency_budget_s: float
    study_settings: tuple = ()

    def with_settings(self, *settings) -> Profile:
        """This profile with ``settings`` (one settings object per study, of the type in the
        study's ``SETTINGS``) in place of the studies' own for it.

        Raises:
            ValueError: an object that is no study's settings type, or two of one type.

        Example:
            >>> from toolkit.studies.datasize import DatasizeSettings
            >>> small = DatasizeSettings(sizes=(100, None), families=("lr",), seeds=2,
            ...                          table_sizes=(100, None), min_steps=0)
            >>> get_profile("tiny").with_settings(small).study_settings == (small,)
            True
        """
        known = {kind.__name__: kind for kind in _SETTINGS_TYPES}
        chosen = list(self.study_settings)
        for item in settings:
            kind = type(item)
            if kind not in _SETTINGS_TYPES:
                raise ValueError(
                    f"with_settings: {kind.__name__} is no study's settings type; the studies "
                    f"take {', '.join(sorted(known)) or 'none (import toolkit.studies)'}."
                )
            if any(type(c) is kind for c in settings if c is not item):
                raise ValueError(f"with_settings: two {kind.__name__} objects; give one.")
            chosen = [c for c in chosen if type(c) is not kind] + [item]
        return dataclasses.replace(self, study_settings=tuple(chosen))

    def settings_record(self) -> dict:
        """The study settings objects as JSON-ready dicts by type name, for manifests."""
        return {type(s).__name__: dataclasses.asdict(s) for s in self.study_settings}


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

#: The settings types of the studies' PerProfile tables (what with_settings accepts).
_SETTINGS_TYPES: set[type] = set()


@dataclass(frozen=True)
class PerProfile(Generic[T]):
    """A study's settings: one frozen settings object per profile, checked when the study's
    module is imported (each of tiny, quick and full is required, all of one type). A profile
    made with :meth:`Profile.with_settings` that holds an object of that type gets it instead.

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
        _SETTINGS_TYPES.update(kinds)

    def __getitem__(self, profile: str) -> T:
        """The settings of the profile called ``profile`` (an unknown one is named)."""
        names = [f.name for f in fields(self)]
        if profile not in names:
            raise ValueError(
                f"No study settings for profile {profile!r}; there are {', '.join(names)}."
            )
        return getattr(self, profile)

    def of(self, ctx) -> T:
        """The settings of ``ctx``'s profile (a StudyContext, or anything with ``.profile``):
        the profile's own settings object of this type if it has one, else this table's."""
        kind = type(self.tiny)
        for chosen in getattr(ctx.profile, "study_settings", ()):
            if type(chosen) is kind:
                return chosen
        return self[ctx.profile.name]


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (an unknown name lists the known ones)."""
    return PROFILES.get(name)
