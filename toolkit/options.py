"""One converter for KEY=VALUE options, checked by constraints declared as data.

Model knobs (``--models cnn:width=16,dropout=0.1/0.2``) and training options
(``--train lr=0.1,amp=no``) are both text that becomes typed values, and both must refuse a
bad value with its name and what is allowed, at argument parsing, before any data is
loaded. So both go through this module: a parameter declares a list of constraints
(scikit-learn's ``_parameter_constraints``), and the same list converts text (the first
constraint that reads the text and accepts the value wins) and checks Python values (a
``TrainConfig`` built in a notebook, a manifest read back). Every refusal has one shape::

    The 'lr' parameter of train must be a number in (0.0, inf). Got 'x' instead.

The constraints:

- :class:`Interval` -- an int or a number in a range (``nan`` and ``inf`` values refused);
- :class:`Boolean` -- true/false/1/0/yes/no in any case, through the one :func:`parse_bool`;
- :data:`NONE` -- the word 'none' for None, where None is allowed;
- :class:`OneOf` -- a choice of strings (or a callable giving them: a registry's names);
- :class:`Slashes` -- a '/'-separated list ("0.1/0.2/0.5": one value per layer, milestones);
- :class:`Satisfies` -- a rule of its own, with its description.

Example:
    >>> CONSTRAINTS = {"width": [Interval(int, 1, None)], "bn": [Boolean()]}
    >>> parse_options("width=16,bn=no", CONSTRAINTS, role="knob of model 'cnn'")
    {'width': 16, 'bn': False}
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real

#: The words a bool option accepts, in any case: one table for model knobs and --train.
BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
BOOL_CHOICES = "/".join(BOOL_WORDS)


def parse_bool(text: str) -> bool:
    """'true'/'false'/'1'/'0'/'yes'/'no' (any case) -> bool; anything else is refused.

    A word such as 'maybe' or 'on' is an error rather than False, so that a typo never
    turns an option off silently.

    Raises:
        ValueError: any other word (the message lists the accepted ones).
    """
    try:
        return BOOL_WORDS[text.strip().lower()]
    except KeyError:
        raise ValueError(f"expected one of {BOOL_CHOICES} (any case); got {text!r}") from None


class Constraint:
    """What a parameter accepts: reads a value from text, checks a value, describes itself."""

    def from_text(self, text: str):
        """The value ``text`` spells for this constraint; ValueError if it spells none."""
        raise NotImplementedError

    def accepts(self, value) -> bool:
        """Whether ``value`` (a Python value, converted or given) meets the constraint."""
        raise NotImplementedError

    def describe(self) -> str:
        """What is allowed, as it reads after "must be"."""
        raise NotImplementedError


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Interval(Constraint):
    """An int (``kind=int``) or a number (``kind=float``, ints accepted) in a range.

    Args:
        kind: int or float.
        low, high: the bounds; None is unbounded (shown as -inf/inf).
        closed: which bounds belong to the range: "left", "right", "both" or "neither".
            An unbounded side is always open.
    """

    def __init__(self, kind: type, low: float | None, high: float | None, *, closed="left"):
        if kind not in (int, float):
            raise ValueError(f"Interval kind must be int or float; got {kind!r}")
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"Interval closed must be left/right/both/neither; got {closed!r}")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def from_text(self, text: str):
        return self.kind(text.strip())

    def accepts(self, value) -> bool:
        if self.kind is int:
            if not _is_int(value):
                return False
        elif isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            return False
        low_closed = self.closed in ("left", "both")
        high_closed = self.closed in ("right", "both")
        if self.low is not None and not (value >= self.low if low_closed else value > self.low):
            return False
        return self.high is None or (value <= self.high if high_closed else value < self.high)

    def describe(self) -> str:
        low_closed = self.closed in ("left", "both") and self.low is not None
        high_closed = self.closed in ("right", "both") and self.high is not None
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        what = "an int" if self.kind is int else "a number"
        left, right = "[" if low_closed else "(", "]" if high_closed else ")"
        return f"{what} in {left}{low}, {high}{right}"


class Boolean(Constraint):
    """A bool; from text only the words of :data:`BOOL_WORDS` (via :func:`parse_bool`)."""

    def from_text(self, text: str) -> bool:
        return parse_bool(text)

    def accepts(self, value) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return f"a bool ({BOOL_CHOICES}, any case)"


class _NoneValue(Constraint):
    """None, spelled 'none' (any case) in text."""

    def from_text(self, text: str) -> None:
        if text.strip().lower() != "none":
            raise ValueError(f"not 'none': {text!r}")

    def accepts(self, value) -> bool:
        return value is None

    def describe(self) -> str:
        return "None"


#: The constraint of a parameter that may be None ('none' on the command line).
NONE = _NoneValue()


class OneOf(Constraint):
    """A string among ``choices``: a collection, or a callable giving one when asked (a
    registry's names, or None when the names cannot be known here: then any string passes
    and the code that uses it refuses it instead)."""

    def __init__(self, choices: Iterable[str] | Callable[[], Iterable[str] | None]):
        self._choices = choices if callable(choices) else list(choices)

    def choices(self) -> list[str] | None:
        """The allowed strings now, or None when they cannot be known here."""
        choices = self._choices() if callable(self._choices) else self._choices
        return None if choices is None else list(choices)

    def from_text(self, text: str) -> str:
        return text.strip()

    def accepts(self, value) -> bool:
        choices = self.choices()
        return isinstance(value, str) and (choices is None or value in choices)

    def describe(self) -> str:
        return f"one of {self.choices()}"


class Slashes(Constraint):
    """A '/'-separated list whose items all meet ``item`` ("0.1/0.2/0.5").

    Args:
        item: the constraint of each item.
        description: what the list is, as it reads after "must be".
        increasing: the items must increase strictly (milestones).
        as_tuple: give a tuple rather than a list.
    """

    def __init__(self, item: Constraint, description: str, *, increasing=False, as_tuple=False):
        self.item, self.description = item, description
        self.increasing, self.as_tuple = increasing, as_tuple

    def from_text(self, text: str):
        values = [self.item.from_text(part) for part in text.split("/")]
        return tuple(values) if self.as_tuple else values

    def accepts(self, value) -> bool:
        if not isinstance(value, list | tuple) or not value:
            return False
        if not all(self.item.accepts(v) for v in value):
            return False
        return not self.increasing or all(a < b for a, b in zip(value, value[1:], strict=False))

    def describe(self) -> str:
        return self.description


class Satisfies(Constraint):
    """A rule of its own: ``check(value)``, described by ``description``; text read with
    ``convert`` (the text itself by default)."""

    def __init__(self, check: Callable[[object], bool], description: str, convert=str.strip):
        self.check, self.description, self.convert = check, description, convert

    def from_text(self, text: str):
        return self.convert(text)

    def accepts(self, value) -> bool:
        try:
            return bool(self.check(value))
        except (TypeError, ValueError):
            return False

    def describe(self) -> str:
        return self.description


Constraints = Sequence[Constraint]


def describe(constraints: Constraints) -> str:
    """'None or an int in [1, inf)': every alternative, in the order declared."""
    return " or ".join(c.describe() for c in constraints)


def _refusal(key: str, role: str, constraints: Constraints, value) -> ValueError:
    return ValueError(f"The {key!r} {role} must be {describe(constraints)}. Got {value!r} instead.")


def check_value(key: str, value, constraints: Constraints, *, role: str) -> None:
    """Refuse a Python value that meets none of ``constraints``.

    Args:
        key: the parameter's name.
        value: its value.
        constraints: what it accepts.
        role: who it belongs to, as it reads after the name ("parameter of TrainConfig").

    Raises:
        ValueError: "The 'lr' parameter of TrainConfig must be a number in (0.0, inf).
            Got -1 instead."
    """
    if not any(c.accepts(value) for c in constraints):
        raise _refusal(key, role, constraints, value)


def convert_value(key: str, text: str, constraints: Constraints, *, role: str):
    """The value ``text`` spells: the first constraint that reads it and accepts the value.

    Raises:
        ValueError: no constraint reads and accepts it; the message quotes the value as the
            first constraint that could read it saw it (``Got 0``), or the text (``Got 'x'``).
    """
    read = []
    for constraint in constraints:
        try:
            value = constraint.from_text(text)
        except (ValueError, TypeError):
            continue
        if constraint.accepts(value):
            return value
        read.append(value)
    raise _refusal(key, role, constraints, read[0] if read else text)


def unknown_key(key: str, known: Iterable[str], *, noun: str, where: str = "") -> ValueError:
    """The error for a key that is not a parameter: the closest names, then all of them."""
    known = list(known)
    close = difflib.get_close_matches(str(key), known, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(
        f"Unknown {noun} {key!r}{where}.{hint} Known {noun}s: {', '.join(known) or 'none'}."
    )


def split_options(text: str, *, noun: str, known: Iterable[str], where: str = "") -> dict:
    """'a=1,b=x' -> {'a': '1', 'b': 'x'} (text values); keys must be in ``known``.

    Raises:
        ValueError: an item without '=', an unknown key, or a key given twice.
    """
    known = list(known)
    items: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError(
                f"{item!r}{where}: expected KEY=VALUE with KEY one of {', '.join(known)}."
            )
        if key not in known:
            raise unknown_key(key, known, noun=noun, where=where)
        if key in items:
            raise ValueError(
                f"{noun.capitalize()} {key!r}{where} is given twice ({items[key]!r}, {raw!r})."
            )
        items[key] = raw.strip()
    return items


def parse_options(
    text: str,
    constraints: Mapping[str, Constraints],
    *,
    role: str,
    noun: str = "option",
    where: str = "",
) -> dict:
    """'KEY=VALUE,...' -> typed values, each converted and checked by its constraints.

    Args:
        text: the options, comma-separated.
        constraints: what each known key accepts.
        role: who the options belong to, for the refusal ("parameter of train").
        noun: what a key is called in the unknown-key message ("knob", "training option").
        where: appended to the key in the unknown-key message (" of model 'cnn'").

    Raises:
        ValueError: an unknown key or a bad value, in one line naming it.
    """
    raw = split_options(text, noun=noun, known=constraints, where=where)
    return {
        key: convert_value(key, value, constraints[key], role=role) for key, value in raw.items()
    }


def validate(values: Mapping, constraints: Mapping[str, Constraints], *, role: str) -> None:
    """Check every value that has constraints (Python values, e.g. a dataclass's fields).

    Raises:
        ValueError: the first value that meets none of its constraints.
    """
    for key, value in values.items():
        if key in constraints:
            check_value(key, value, constraints[key], role=role)


def constraints_for_default(default) -> list[Constraint]:
    """What a parameter accepts when it declares nothing: its default's type (a fallback for
    a knob that has no entry yet; the tests ask every knob to have one)."""
    if isinstance(default, bool):
        return [Boolean()]
    if isinstance(default, int):
        return [Interval(int, None, None)]
    if isinstance(default, float):
        return [Interval(float, None, None)]
    if isinstance(default, str):
        return [Satisfies(lambda v: isinstance(v, str), "a string")]
    return [
        NONE,
        Interval(int, None, None),
        Interval(float, None, None),
        Satisfies(lambda v: isinstance(v, str), "a string"),
    ]
