"""The course-project studies: one registered function each, one report section each.

A study is a plain function ``(ctx, section) -> None`` registered with :func:`register_study`;
it draws data with ``ctx.split``, gets every number about a model from ``ctx.measure`` (train,
export, evaluate the ONNX file with the harness), and writes tables, figures and findings to
its ``section``. A study module keeps its settings as a frozen dataclass with one instance
per profile (:class:`toolkit.studies.profiles.PerProfile`), computes its tables apart from
drawing them (figures go through :mod:`toolkit.plots`) and builds its findings from the
tables; 'weights' is the example to copy. Adding a study means adding one module with one
decorated function and naming it in STUDY_MODULES below.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from toolkit.registry import Registry


@dataclass(frozen=True)
class StudyEntry:
    """A registered study."""

    name: str
    title: str
    run: Callable

    @property
    def description(self) -> str:
        """The first paragraph of the study function's docstring, on one line."""
        paragraph = (self.run.__doc__ or "").strip().split("\n\n")[0]
        return " ".join(paragraph.split())


STUDIES: Registry[StudyEntry] = Registry("study", "xrbench study --help")


def register_study(name: str, title: str):
    """Register ``fn(ctx, section)`` as the study ``name``, shown in the report as ``title``."""

    def decorate(fn: Callable) -> Callable:
        STUDIES.add(name, StudyEntry(name=name, title=title, run=fn))
        return fn

    return decorate


def list_studies() -> list[str]:
    """Every study, in the order `xrbench study all` runs them: by module in STUDY_MODULES
    (a study module importing another must not reorder them), then as registered."""
    rank = {f"{__name__}.{module}": i for i, module in enumerate(STUDY_MODULES)}
    names = STUDIES.names()
    return sorted(names, key=lambda n: rank.get(STUDIES.get(n).run.__module__, len(rank)))


def get_study(name: str) -> StudyEntry:
    """The study called ``name`` (an unknown name lists the known ones)."""
    return STUDIES.get(name)


#: Study modules, imported in the order `xrbench study all` runs them and the report shows them.
STUDY_MODULES = (
    "features",
    "embedding",
    "augmentation",
    "compare",
    "ablation",
    "datasize",
    "regularization",
    "optimizers",
    "errors",
    "clustering",
    "weights",
)
#: What every study needs beyond the training stack (the `report` extra): tables and their
#: group-bys go through pandas, figures through matplotlib. Checked before the modules are
#: imported, so `xrbench study` names the missing one with its pip line instead of every
#: study failing on its first table.
REQUIRES = ("pandas", "matplotlib")
for _needed in REQUIRES:
    if importlib.util.find_spec(_needed) is None:
        raise ModuleNotFoundError(
            f"The studies need {_needed}: pip install 'xrbench[train,report]'.", name=_needed
        )
for _module in STUDY_MODULES:  # each module registers its studies on import
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["STUDIES", "StudyEntry", "get_study", "list_studies", "register_study"]
