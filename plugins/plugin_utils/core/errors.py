"""The error hierarchy of the certificate core: raised with ``from``, caught once at the edge."""

from __future__ import annotations


class OnshiCertError(Exception):
    """Base of every error the core raises; ``fix`` tells the engineer what to do."""

    fix: str = ""

    def __init__(self, message: str, *, fix: str = "") -> None:
        super().__init__(message)
        if fix:
            self.fix = fix

    def describe(self) -> str:
        """Return the message followed by the fix, for one-line error reports."""
        text = str(self)
        return f"{text} Fix: {self.fix}" if self.fix else text


class FacilityCodeError(OnshiCertError, ValueError):
    """A facility code (医療機関等コード) is malformed; the message names the wrong part."""

    fix = "check the 10-digit facility code printed on the issuance notice (発行通知書)"


class Pkcs12Error(OnshiCertError):
    """A PKCS#12 file cannot be used."""


class CorruptPkcs12Error(Pkcs12Error):
    """The bytes are not a PKCS#12 file, or its content is damaged."""

    fix = "download the .p12 again from the certificate download site"


class BadPasswordError(Pkcs12Error):
    """The password does not open the PKCS#12 file."""

    fix = "use the 4-digit password chosen at download; if it is lost, apply for a new certificate"


class NoPrivateKeyError(Pkcs12Error):
    """The PKCS#12 file holds no private key, or no certificate matches its key."""

    fix = "use the .p12 saved by the download site, or a backup exported WITH its private key"
