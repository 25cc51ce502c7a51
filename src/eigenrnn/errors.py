"""Exceptions that the command line reports as one line, without a traceback."""

from __future__ import annotations


class EigenRNNError(Exception):
    """An expected, user-facing error (bad input, missing data, corrupt file).

    The CLI prints ``eigenrnn: error: <message>`` to stderr and exits with
    status 2.  Library code raises it (or a subclass) only for conditions a
    user can fix; programming errors stay ordinary exceptions.
    """


class DataError(EigenRNNError):
    """A dataset is missing, corrupt or cannot be obtained."""


class CheckpointError(EigenRNNError):
    """A file is not a readable eigenrnn checkpoint."""


class TrainingDiverged(EigenRNNError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def bad_value(argument: str, value: object, allowed: str) -> str:
    """Format the standard message for a rejected argument.

    >>> bad_value("scheme", "foo", "one of 'xavier', 'eigen'")
    "scheme: got 'foo'; expected one of 'xavier', 'eigen'"
    """
    return f"{argument}: got {value!r}; expected {allowed}"


def check_int(argument: str, value: object, minimum: int | None = 1, *, allowed: str | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) ``>= minimum``, else raise ValueError.

    ``minimum=None`` accepts any int (e.g. a seed); ``allowed`` replaces the
    default description of what is accepted in the message.

    >>> check_int("hidden", 0)
    Traceback (most recent call last):
    ...
    ValueError: hidden: got 0; expected a positive int
    >>> check_int("lag", 3, minimum=0)
    3
    """
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        if allowed is None:
            allowed = "an int" if minimum is None else "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(bad_value(argument, value, allowed))
    return value
