"""Errors the operator or the user can fix, told in their language.

A :class:`UserError` carries a catalog key and its placeholders, never a sentence: the edge
(the ``bdg`` command's error boundary, a chat handler) renders it with ``kernel.i18n.t`` in
the language of whoever reads it. Its ``str()`` is the key, so a log line holds no input.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a state to fix; ``key`` is a catalog key, ``params`` its placeholders."""

    exit_code = 1

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params
