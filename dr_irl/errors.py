"""Errors a user can fix (bad config, bad data, missing model, busy run directory).

``train.py`` prints such an error as one message and exits non-zero, without a traceback; any other
exception is a bug and keeps its traceback. ``debug=true`` (or ``HYDRA_FULL_ERROR=1``) keeps the traceback
for user errors too.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; the message says what (the key, the file and line) and how."""


class ConfigError(UserError, ValueError):
    """A config value out of its range or not one of its choices; the message names the key."""
