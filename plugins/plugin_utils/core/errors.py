"""The error hierarchy of the certificate core: raised with ``from``, caught once at the edge.

Every error is raised from a :class:`Message` of the catalogue (``core/messages.py``): a stable code such as
``ONSHI-E012`` that engineers can search and report in any language, the English message id and the fix, both
rendered in the reader's language when the error is made.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from ..i18n import say as _


@dataclass(frozen=True)
class Message:
    """One error of the catalogue: its code, what is wrong and what to do (gettext message ids)."""

    code: str
    text: str
    fix: str = ""


class OnshiCertError(Exception):
    """Base of every error the core raises; ``code`` names it, ``fix`` tells the engineer what to do."""

    def __init__(self, message: Message, /, *, fix: str | None = None, file: str | None = None, **values: object):
        self.message = message
        self.values = values
        self.code = message.code
        self.text = _(message.text, **values)
        self.fix = fix if fix is not None else (_(message.fix, **values) if message.fix else "")
        self.file = file
        super().__init__(self.text)

    def describe(self) -> str:
        """Return ``[code] message Fix: fix`` for one-line error reports, in the reader's language."""
        text = f"[{self.code}] {self.text}"
        return text + " " + _("Fix: {fix}", fix=self.fix) if self.fix else text

    def fields(self) -> dict[str, object]:
        """Return the values the message and its fix were filled with, as JSON keeps them: only the fields the
        texts name (nothing else passed along is shown anywhere), a value that is not plain text as its text."""
        named = {
            name.split(".")[0].split("[")[0]
            for text in (self.message.text, self.message.fix)
            for _literal, name, _spec, _conv in string.Formatter().parse(text)
            if name
        }
        plain = (str, int, float, bool)
        return {k: v if isinstance(v, plain) else str(v) for k, v in self.values.items() if k in named}

    def to_dict(self) -> dict[str, str]:
        """Return the error as a task result or JSON output carries it."""
        return {"error_code": self.code, "message": self.text, "fix": self.fix}


class FacilityCodeError(OnshiCertError, ValueError):
    """A facility code (医療機関等コード) is malformed; the message names the wrong part."""


class Pkcs12Error(OnshiCertError):
    """A PKCS#12 file cannot be used."""


class CorruptPkcs12Error(Pkcs12Error):
    """The bytes are not a PKCS#12 file, or its content is damaged."""


class BadPasswordError(Pkcs12Error):
    """The password does not open the PKCS#12 file."""


class NoPrivateKeyError(Pkcs12Error):
    """The PKCS#12 file holds no private key, or no certificate matches its key."""
