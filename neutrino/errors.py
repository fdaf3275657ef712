"""Errors shared by the command line and the libraries.

A ``NeutrinoError`` is an expected failure with a message meant for a person:
the CLI prints it on one line and exits non-zero.
"""


class NeutrinoError(Exception):
    """An expected failure whose message is shown to the user as is."""


class CommandFailed(NeutrinoError):
    """An external command exited non-zero."""

    def __init__(self, cmd, returncode, stderr="", netns=None):
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stderr = (stderr or "").strip()
        self.netns = netns
        where = f" (in {netns})" if netns else ""
        super().__init__(
            f"{' '.join(self.cmd)}{where} exited {returncode}: {self.stderr}")
