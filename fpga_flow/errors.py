"""Errors the user can act on: printed as one line, exit code 2, no traceback."""


class FlowError(Exception):
    """A problem with the user's input; the message names the problem and the fix."""

    exit_code = 2


class FitError(Exception):
    """The design cannot fit the part (exit code 1); the message is a table of the largest
    consumers and what would fit."""

    exit_code = 1


class Terminated(BaseException):
    """SIGTERM arrived (``fpga-flow`` turns it into this exception, as Python does SIGINT into
    KeyboardInterrupt, so a terminated run cleans up its temporary directory the same way); exit 143."""

    exit_code = 143
