"""siyu: private-domain customer operations platform (CDP + social CRM)."""

__version__ = "0.1.0"
