"""Closed vocabularies of the Do-Not-Call domain, shared by the service, the API and the CLI."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """How a consumer may be contacted; an internal entry names the one it forbids."""

    VOICE = "voice"
    SMS = "sms"
    EMAIL = "email"
    ALL = "all"


class Source(StrEnum):
    """Where a Do-Not-Call request came from (evidence for 47 CFR 64.1200(d)(3))."""

    AGENT_DISPOSITION = "agent_disposition"
    IVR = "ivr"
    SMS_KEYWORD = "sms_keyword"
    EMAIL = "email"
    WEB_FORM = "web_form"
    LETTER = "letter"
    API = "api"
    IMPORT = "import"
    OTHER = "other"


class ImportFormat(StrEnum):
    """File layouts the importers read."""

    FTC_FLAT = "ftc_flat"
    FTC_CHANGES = "ftc_changes"
    CANADA_FLAT = "canada_flat"
    NUMBERS = "numbers"
    CSV = "csv"


class ScrubOutput(StrEnum):
    """What a scrub over HTTP streams back."""

    CLEAN = "clean"
    REJECTS = "rejects"
    ANNOTATED = "annotated"
