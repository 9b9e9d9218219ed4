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


def coverage_mode(fmt: str) -> str:
    """How a completed import of `fmt` changes a list's coverage (the import and the replay of
    past snapshots both follow this): `refresh`, a change list renews the dates of what the
    list covers; `merge`, full files of some area codes replace those and keep the others;
    `replace`, a list-wide file replaces all coverage."""
    if fmt == ImportFormat.FTC_CHANGES:
        return "refresh"
    if fmt in (ImportFormat.FTC_FLAT, ImportFormat.CANADA_FLAT):
        return "merge"
    return "replace"


class ScrubOutput(StrEnum):
    """What a scrub over HTTP streams back."""

    CLEAN = "clean"
    REJECTS = "rejects"
    ANNOTATED = "annotated"
