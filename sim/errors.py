"""Errors that reach the user as one line, without a traceback."""


class GpusimError(Exception):
    """A problem with what the user gave (a file, a flag, a key): shown as one line, exit 2."""


class PolicyError(GpusimError):
    """A policy returned an illegal decision; the message names the policy, time and decision."""
