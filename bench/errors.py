"""Errors the harness reports to the user as one line (the CLI prints them without a traceback)."""


class BenchError(Exception):
    """A problem the user can fix: bad input, unknown codec, bad parameter, missing data."""


class DataError(BenchError):
    """An MNIST file is missing, truncated or corrupt."""


class CodecError(BenchError):
    """Unknown codec name or bad codec parameters."""


class CorruptStreamError(BenchError):
    """A compressed stream is truncated, extended or altered."""


class CodecUnavailable(BenchError):
    """A codec needs something this machine lacks (an external program): its cells are skipped."""


def one_line(exc: BaseException) -> str:
    """`TypeName: first line of the message`: how a failed row or a broken plugin reports an error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
