"""One base for every error a user can cause and fix (bad input, bad config, a busy workspace, …).

The CLI turns a ChendianError into one clear line and a non-zero exit status, never a traceback; anything
else escaping is a bug. Subclasses keep the builtin they used to be (ValueError, RuntimeError) as a second
base, so code that catches those keeps working.
"""

from __future__ import annotations


class ChendianError(Exception):
    """An error with a message meant for the person running chendian."""
