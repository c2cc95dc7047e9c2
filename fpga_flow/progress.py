"""Progress bars for the long commands (tqdm), shown on a terminal only.

A bar is drawn on stderr when stderr is a terminal and nothing turned bars off: ``fpga-flow ... --json``
turns them off (its output is one JSON object and nothing else), and so does ``FPGA_FLOW_PROGRESS=0``.
Piped, redirected or captured output (CI, tests, ``> log.txt``) never gets a bar. Where no bar is
drawn, :func:`bar` returns an object with the same methods that does nothing, so callers need no
branches. :func:`write` prints a line above an active bar instead of through it.

Used by: verify over many images (local C-sim processes, verify/csim.py; Dask, verify/distributed.py),
hence ``accuracy`` and ``demo``; ``sweep`` points (sweep.py); ``fifo-search`` runs (verify/dataflow.py);
the nets of ``benchmarks/fuzz_nets.py``.
"""
from __future__ import annotations

import os
import sys

_enabled = True
_active = 0  # bars open now (a line printed meanwhile goes through tqdm.write)


def disable() -> None:
    """No bars from now on in this process (``--json``)."""
    global _enabled
    _enabled = False


def enabled() -> bool:
    if not _enabled or os.environ.get("FPGA_FLOW_PROGRESS", "") == "0":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


class _NoBar:
    """What :func:`bar` returns where no bar is drawn."""

    n = 0

    def update(self, k=1):
        self.n += k

    def set_postfix_str(self, s="", refresh=True):
        pass

    def set_description_str(self, s="", refresh=True):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Bar:
    def __init__(self, **kw):
        from tqdm import tqdm

        global _active
        try:  # follow the terminal's size; one that reports none (0 x 0, e.g. a fresh pty) is taken as 80 x 24
            size = os.get_terminal_size(sys.stderr.fileno())
            sized = size.columns > 0 and size.lines > 0
        except (OSError, ValueError, AttributeError):
            sized = False
        # (tqdm hides a bar whose position is beyond the terminal's rows: 0 rows would hide every bar)
        self._bar = tqdm(file=sys.stderr, **({"dynamic_ncols": True} if sized else {"ncols": 80, "nrows": 24}), **kw)
        _active += 1
        self._open = True

    @property
    def n(self):
        return self._bar.n

    def update(self, k=1):
        self._bar.update(k)

    def set_postfix_str(self, s="", refresh=True):
        self._bar.set_postfix_str(s, refresh=refresh)

    def set_description_str(self, s="", refresh=True):
        self._bar.set_description_str(s, refresh=refresh)

    def close(self):
        global _active
        if self._open:
            self._bar.close()
            _active -= 1
            self._open = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def bar(total: int | None = None, desc: str = "", unit: str = "it", leave: bool = True):
    """A tqdm bar on stderr when :func:`enabled`, else a silent stand-in with the same methods."""
    if not enabled():
        return _NoBar()
    return _Bar(total=total, desc=desc, unit=unit, leave=leave)


def write(msg: str) -> None:
    """Print a line on stdout; above the bars while some are drawn."""
    if _active:
        from tqdm import tqdm

        tqdm.write(msg, file=sys.stdout)
        sys.stdout.flush()
    else:
        print(msg, flush=True)
