"""callwarden: contact-center compliance and security service."""

from callwarden.errors import CallwardenError, NotFound, PermissionDenied, ValidationFailed

__version__ = "0.1.0"
__all__ = ["CallwardenError", "NotFound", "PermissionDenied", "ValidationFailed", "__version__"]
