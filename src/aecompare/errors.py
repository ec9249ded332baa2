"""Errors that tell the user what was wrong, where, and how to fix it.

Every error aecompare raises on purpose derives from :class:`AecompareError`, so the CLI can print
its message without a traceback. Each also derives from the built-in type a Python user would catch.
"""

from __future__ import annotations

from collections.abc import Iterable


class AecompareError(Exception):
    """Base class of the errors aecompare raises on purpose."""


class ConfigError(AecompareError, ValueError):
    """A bad name, key or value in a model, training or experiment configuration."""


class DataError(AecompareError, ValueError):
    """Input data of the wrong shape, dtype or content."""


class DataTypeError(AecompareError, TypeError):
    """Input values of a type that cannot be used (objects that are not numbers)."""


class DataNotFoundError(AecompareError, FileNotFoundError):
    """A dataset file that is not where it was looked for."""


class TrainingError(AecompareError, RuntimeError):
    """Training that cannot go on (for example a loss that became NaN)."""


class DataWarning(UserWarning):
    """Input that can be scored but probably not as meant (far outside the training data's range)."""


def unknown_name(kind: str, name: object, valid: Iterable[str]) -> ConfigError:
    """An error for a name that is not one of the valid ones, listing them.

    Args:
        kind: what the name names, e.g. ``"model"``.
        name: the name that was given.
        valid: the names that would have been accepted.

    Returns:
        A :class:`ConfigError` to raise.
    """
    return ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(valid))}")
