"""onshi-cert: keep the client certificates of Online Eligibility Confirmation PCs healthy."""

__version__ = "0.1.0"
