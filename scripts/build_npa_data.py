"""Build ``src/callwarden/data/npa.csv``, the packaged NANP area-code table.

Run it again whenever the NANPA report, ``phonenumbers`` or the corrections change::

    .venv/bin/python scripts/build_npa_data.py \\
        --source /work/shared/reference/data/npa_report_2020.csv

Inputs:

* the NANPA ``npa_report.csv`` (Latin-1; line 1 ``File Date,MM/DD/YYYY``, line 2 the header;
  a few rows are truncated, so missing cells read as empty);
* ``phonenumbers`` (whichever version is installed; pinned in pyproject.toml): which area
  codes its metadata accepts as valid numbers, its time-zone prefix data
  (``phonenumbers.tzdata``) and, for area codes newer than the NANPA file, its geocoder;
* ``src/callwarden/data/npa_corrections.csv``: corrections as data, each with a source and a
  confidence tag. Actions: ``set`` a field, ``add``/``remove`` a zone (an NXX row edits the
  phonenumbers prefix data of that exchange), ``require``/``forbid`` a zone (checks on the
  result: the build fails if one does not hold). A ``[U]`` row may only add or check.

Output: one row per NPA 200-999 with its status, kind, country, state(s), overlay complex,
NANPA time-zone letters and the candidate IANA zones. ``time_zones`` is the conservative
union of every zone the area code spans:

1. phonenumbers' NPA-level zones and every NPA-NXX (or longer) prefix zone under the NPA
   (after NXX corrections; ``Etc/Unknown`` dropped). A number whose exchange phonenumbers does
   not list can be anywhere in the area code, so it gets all of them (the "423 fallback"), and
   because porting, pooling and mobility make the exchange a weak hint, listed exchanges get
   the same set;
2. the NANPA ``TIME_ZONE`` letters, mapped to IANA zones by state/province (``LETTER_ZONES``);
3. for an overlay, zones 1-2 of every NPA in its own row's ``OVERLAY_COMPLEX``;
4. for an area code the NANPA file does not know (newer than the file), whose overlay complex
   is therefore unknown, the zones of every known area code of the same state or province;
5. zone corrections. Non-geographic codes (toll-free, 5XX, 900...) get no zones.

The script needs no network access; the output is committed so the package needs neither
this script nor the reference directory at run time.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import zoneinfo
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneMetadata, geocoder
from phonenumbers.tzdata import TIMEZONE_DATA

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/work/shared/reference/data/npa_report_2020.csv")
DEFAULT_CORRECTIONS = ROOT / "src/callwarden/data/npa_corrections.csv"
DEFAULT_OUT = ROOT / "src/callwarden/data/npa.csv"

UNKNOWN_ZONE = "Etc/Unknown"
TOLL_FREE_NPAS = frozenset({800, 833, 844, 855, 866, 877, 888})
CONFIDENCE_TAGS = frozenset({"[V]", "[C]", "[S]", "[U]"})

# NANPA LOCATION -> (ISO region as phonenumbers names it, state/province codes).
US_STATES = frozenset(
    {"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
     "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
     "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
     "VT", "VA", "WA", "WV", "WI", "WY"}
)  # fmt: skip
LOCATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "PUERTO RICO": ("PR", ("PR",)),
    "USVI": ("VI", ("VI",)),
    "GU": ("GU", ("GU",)),
    "CNMI": ("MP", ("MP",)),
    "AS": ("AS", ("AS",)),
    "ONTARIO": ("CA", ("ON",)),
    "QUEBEC": ("CA", ("QC",)),
    "BRITISH COLUMBIA": ("CA", ("BC",)),
    "ALBERTA": ("CA", ("AB",)),
    "SASKATCHEWAN": ("CA", ("SK",)),
    "MANITOBA": ("CA", ("MB",)),
    "NEW BRUNSWICK": ("CA", ("NB",)),
    "NEWFOUNDLAND AND LABRADOR": ("CA", ("NL",)),
    "NOVA SCOTIA - PRINCE EDWARD ISLAND": ("CA", ("NS", "PE")),
    "YUKON-NW TERR. - NUNAVUT": ("CA", ("YT", "NT", "NU")),
    "BAHAMAS": ("BS", ()),
    "BARBADOS": ("BB", ()),
    "ANGUILLA": ("AI", ()),
    "ANTIGUA/BARBUDA": ("AG", ()),
    "BRITISH VIRGIN ISLANDS": ("VG", ()),
    "CAYMAN ISLANDS": ("KY", ()),
    "BERMUDA": ("BM", ()),
    "GRENADA": ("GD", ()),
    "TURKS & CAICOS ISLANDS": ("TC", ()),
    "MONTSERRAT": ("MS", ()),
    "SINT MAARTEN": ("SX", ()),
    "ST. LUCIA": ("LC", ()),
    "DOMINICA": ("DM", ()),
    "ST. VINCENT & GRENADINES": ("VC", ()),
    "TRINIDAD & TOBAGO": ("TT", ()),
    "ST. KITTS & NEVIS": ("KN", ()),
    "JAMAICA": ("JM", ()),
    "DOMINICAN REPUBLIC": ("DO", ()),
}
NANPA_COUNTRY = {"US": "US", "CANADA": "CA"}
US_REGIONS = frozenset({"US", "PR", "VI", "GU", "MP", "AS"})

# phonenumbers geocoder names (used only for area codes newer than the NANPA file).
GEOCODER_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Washington D.C.": "DC",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI",
    "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT",
    "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ",
    "New Mexico": "NM", "New York": "NY", "North Carolina": "NC", "North Dakota": "ND",
    "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY", "Ontario": "ON",
    "Quebec": "QC", "British Colombia": "BC", "British Columbia": "BC", "Alberta": "AB",
    "Saskatchewan": "SK", "Manitoba": "MB", "New Brunswick": "NB",
    "Newfoundland and Labrador": "NL", "Nova Scotia": "NS", "Prince Edward Island": "PE",
}  # fmt: skip

# NANPA TIME_ZONE letter -> IANA zone, by state/province/country.  Choices:
# * E -> America/New_York in every US state, including IN, KY and MI: their own IANA zones
#   (America/Indiana/Indianapolis, America/Kentucky/Louisville, America/Detroit) have had the
#   same rules since 2006 or earlier, and phonenumbers uses America/New_York there too.
# * C -> America/Chicago in the US (America/Menominee and America/North_Dakota/* have the same
#   current rules); M -> America/Denver, except AZ -> America/Phoenix (no DST; the Navajo
#   Nation's America/Denver comes from phonenumbers' exchange data) and ID/OR -> America/Boise
#   (Malheur County, OR is in the Boise zone); P -> America/Los_Angeles.
# * Canada: E -> America/Toronto, C -> America/Winnipeg except SK -> America/Regina (no DST),
#   M -> America/Edmonton, P -> America/Vancouver except Yukon -> America/Whitehorse (Yukon
#   keeps UTC-7 all year since 2020), A -> America/Halifax (America/Moncton has the same rules),
#   N -> America/St_Johns. "NA" (709, 879) is read as two letters, N and A: Newfoundland plus
#   Labrador's Atlantic time.
# * (UTC-9) AK -> America/Anchorage, (UTC-10) HI -> Pacific/Honolulu, (UTC+10) GU ->
#   Pacific/Guam and CNMI -> Pacific/Saipan, UTC-11 AS -> Pacific/Pago_Pago, A in PR/VI ->
#   America/Puerto_Rico.
# * Other NANP countries: the country's own zone.
# A (location, letter) pair missing here stops the build: fix the data with a correction.
_US_DEFAULT = {
    "E": "America/New_York",
    "C": "America/Chicago",
    "M": "America/Denver",
    "P": "America/Los_Angeles",
}
_US_LETTERS = {
    "E": {"CT", "DC", "DE", "FL", "GA", "IN", "KY", "MA", "MD", "ME", "MI", "NC", "NH", "NJ",
          "NY", "OH", "PA", "RI", "SC", "TN", "VA", "VT", "WV"},
    "C": {"AL", "AR", "FL", "IA", "IL", "IN", "KS", "KY", "LA", "MI", "MN", "MO", "MS", "ND",
          "NE", "OK", "SD", "TN", "TX", "WI"},
    "M": {"CO", "KS", "MT", "ND", "NE", "NM", "SD", "TX", "UT", "WY"},
    "P": {"CA", "ID", "NV", "OR", "WA"},
}  # fmt: skip
LETTER_ZONES: dict[tuple[str, str], str] = {
    (state, letter): _US_DEFAULT[letter]
    for letter, states in _US_LETTERS.items()
    for state in states
}
LETTER_ZONES.update(
    {
        ("AZ", "M"): "America/Phoenix",
        ("ID", "M"): "America/Boise",
        ("OR", "M"): "America/Boise",
        ("AK", "(UTC-9)"): "America/Anchorage",
        ("HI", "(UTC-10)"): "Pacific/Honolulu",
        ("GU", "(UTC+10)"): "Pacific/Guam",
        ("CNMI", "(UTC+10)"): "Pacific/Saipan",
        ("AS", "UTC-11"): "Pacific/Pago_Pago",
        ("PUERTO RICO", "A"): "America/Puerto_Rico",
        ("USVI", "A"): "America/Puerto_Rico",
        ("ONTARIO", "E"): "America/Toronto",
        ("ONTARIO", "C"): "America/Winnipeg",
        ("QUEBEC", "E"): "America/Toronto",
        ("QUEBEC", "A"): "America/Halifax",
        ("BRITISH COLUMBIA", "P"): "America/Vancouver",
        ("BRITISH COLUMBIA", "M"): "America/Edmonton",
        ("ALBERTA", "M"): "America/Edmonton",
        ("SASKATCHEWAN", "C"): "America/Regina",
        ("MANITOBA", "C"): "America/Winnipeg",
        ("NEW BRUNSWICK", "A"): "America/Halifax",
        ("NOVA SCOTIA - PRINCE EDWARD ISLAND", "A"): "America/Halifax",
        ("NEWFOUNDLAND AND LABRADOR", "N"): "America/St_Johns",
        ("NEWFOUNDLAND AND LABRADOR", "A"): "America/Halifax",
        ("YUKON-NW TERR. - NUNAVUT", "C"): "America/Winnipeg",
        ("YUKON-NW TERR. - NUNAVUT", "M"): "America/Edmonton",
        ("YUKON-NW TERR. - NUNAVUT", "P"): "America/Whitehorse",
        ("BAHAMAS", "E"): "America/Nassau",
        ("CAYMAN ISLANDS", "E"): "America/Cayman",
        ("JAMAICA", "E"): "America/Jamaica",
        ("TURKS & CAICOS ISLANDS", "E"): "America/Grand_Turk",
        ("DOMINICAN REPUBLIC", "A"): "America/Santo_Domingo",
        ("BARBADOS", "A"): "America/Barbados",
        ("ANGUILLA", "A"): "America/Anguilla",
        ("ANTIGUA/BARBUDA", "A"): "America/Antigua",
        ("BRITISH VIRGIN ISLANDS", "A"): "America/Tortola",
        ("BERMUDA", "A"): "Atlantic/Bermuda",
        ("GRENADA", "A"): "America/Grenada",
        ("MONTSERRAT", "A"): "America/Montserrat",
        ("SINT MAARTEN", "A"): "America/Lower_Princes",
        ("ST. LUCIA", "A"): "America/St_Lucia",
        ("DOMINICA", "A"): "America/Dominica",
        ("ST. VINCENT & GRENADINES", "A"): "America/St_Vincent",
        ("TRINIDAD & TOBAGO", "A"): "America/Port_of_Spain",
        ("ST. KITTS & NEVIS", "A"): "America/St_Kitts",
    }
)
_LETTER_TOKEN = re.compile(r"\(?UTC[+-]\d+\)?|[ECMPAN]")

OUT_FIELDS = [
    "npa",
    "status",
    "kind",
    "country",
    "region",
    "states",
    "location",
    "overlay_complex",
    "parent_npa",
    "nanpa_time_zone",
    "time_zones",
    "zones_phonenumbers",
    "zones_nanpa",
    "zones_overlay",
    "zones_state_fallback",
    "zones_corrections",
    "zones_removed",
    "sources",
]


@dataclass
class Npa:
    npa: int
    status: str = "unassigned"  # in_service | assigned | unassigned | unassignable
    kind: str = ""  # geographic | toll_free | non_geographic | ""
    country: str = ""  # NANPA country as ISO: US (with territories), CA, DO, ...
    region: str = ""  # phonenumbers region: US, PR, VI, GU, MP, AS, CA, DO, ...
    states: tuple[str, ...] = ()
    location: str = ""
    overlay_complex: tuple[int, ...] = ()
    parent_npa: int | None = None
    nanpa_time_zone: str = ""
    known_to_nanpa: bool = False  # assigned or in service in the NANPA file
    zones_pn: set[str] = field(default_factory=set)
    zones_nanpa: set[str] = field(default_factory=set)
    zones_overlay: set[str] = field(default_factory=set)
    zones_fallback: set[str] = field(default_factory=set)
    zones_corr: set[str] = field(default_factory=set)
    zones_removed: set[str] = field(default_factory=set)
    sources: list[str] = field(default_factory=list)

    def own_zones(self) -> set[str]:
        return (self.zones_pn | self.zones_nanpa) - self.zones_removed

    def time_zones(self) -> set[str]:
        if self.kind != "geographic":
            return set()
        zones = self.own_zones() | self.zones_overlay | self.zones_fallback | self.zones_corr
        return zones - self.zones_removed - {UNKNOWN_ZONE}


@dataclass(frozen=True)
class Correction:
    npa: int
    nxx: int | None
    field: str
    action: str
    value: str
    confidence: str
    source: str
    line: int


def read_nanpa(path: Path) -> tuple[str, list[dict[str, str]]]:
    with path.open(encoding="latin-1", newline="") as f:
        first = f.readline().strip()
        if not first.startswith("File Date,"):
            raise SystemExit(f"{path}: line 1 should be 'File Date,MM/DD/YYYY', got {first!r}")
        rows = [
            {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            for row in csv.DictReader(f)
        ]
    return first.split(",", 1)[1], rows


def read_corrections(path: Path) -> list[Correction]:
    out = []
    with path.open(encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            c = Correction(
                npa=int(row["npa"]),
                nxx=int(row["nxx"]) if row["nxx"] else None,
                field=row["field"],
                action=row["action"],
                value=row["value"],
                confidence=row["confidence"],
                source=row["source"],
                line=line,
            )
            if c.confidence not in CONFIDENCE_TAGS:
                raise SystemExit(f"{path}:{line}: confidence must be one of {CONFIDENCE_TAGS}")
            if not c.source:
                raise SystemExit(f"{path}:{line}: every correction needs a source")
            if c.confidence == "[U]" and c.action not in {"add", "require", "forbid"}:
                raise SystemExit(f"{path}:{line}: an unconfirmed [U] row may only add or check")
            out.append(c)
    return out


def phonenumbers_valid_npas() -> dict[int, set[str]]:
    """Area codes phonenumbers accepts (any NXX), with the number types it knows there."""
    descs = []
    for region in phonenumbers.region_codes_for_country_code(1):
        md = PhoneMetadata.metadata_for_region(region)
        for name in ("fixed_line", "mobile", "toll_free", "premium_rate", "personal_number",
                     "voip", "uan", "shared_cost", "pager", "voicemail"):  # fmt: skip
            desc = getattr(md, name)
            if desc is not None and desc.national_number_pattern:
                descs.append((name, re.compile(desc.national_number_pattern)))
    found: dict[int, set[str]] = {}
    for npa in range(200, 1000):
        for nxx in range(200, 1000):
            number = f"{npa}{nxx}1234"
            types = {name for name, pattern in descs if pattern.fullmatch(number)}
            if types:
                found[npa] = types
                break
    return found


def geocoder_state(npa: int) -> tuple[str, str]:
    """(region, state) phonenumbers gives for an area code the NANPA file does not know."""
    regions: Counter[str] = Counter()
    states: Counter[str] = Counter()
    for nxx in range(200, 1000):
        number = phonenumbers.parse(f"+1{npa}{nxx}1234")
        if not phonenumbers.is_valid_number(number):
            continue
        regions[phonenumbers.region_code_for_number(number) or ""] += 1
        text = geocoder.description_for_number(number, "en")
        suffix = text.rsplit(", ", 1)[-1]
        state = GEOCODER_STATES.get(text) or (suffix if len(suffix) == 2 else "")
        if state:
            states[state] += 1
    if len(states) > 1:
        raise SystemExit(f"NPA {npa}: phonenumbers geocoder names several states: {states}")
    region = regions.most_common(1)[0][0] if regions else ""
    return region, (next(iter(states)) if states else "")


def letters_to_zones(location: str, letters: str, npa: int) -> set[str]:
    zones = set()
    for token in _LETTER_TOKEN.findall(letters):
        key = (location, token)
        if key not in LETTER_ZONES:
            raise SystemExit(
                f"NPA {npa}: no IANA zone for TIME_ZONE {token!r} in {location!r};"
                " add it to LETTER_ZONES or correct the data in npa_corrections.csv"
            )
        zones.add(LETTER_ZONES[key])
    return zones


def build(source: Path, corrections_path: Path) -> tuple[str, list[Npa]]:
    file_date, rows = read_nanpa(source)
    corrections = read_corrections(corrections_path)
    pn_valid = phonenumbers_valid_npas()
    pn_tag = f"phonenumbers-{phonenumbers.__version__}"
    nanpa_tag = f"nanpa-{source.name}"

    # phonenumbers prefix data per NPA, with the NXX-level corrections applied.
    prefix_zones: dict[int, dict[str, set[str]]] = defaultdict(dict)
    for prefix, pn_zones in TIMEZONE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4:
            prefix_zones[int(prefix[1:4])][prefix] = set(pn_zones) - {UNKNOWN_ZONE}
    for c in corrections:
        if c.nxx is None or c.field != "time_zones":
            continue
        key = f"1{c.npa}{c.nxx}"
        nxx_zones = prefix_zones[c.npa].setdefault(key, set())
        if c.action == "add":
            nxx_zones.add(c.value)
        elif c.action == "remove":
            nxx_zones.discard(c.value)
        else:
            raise SystemExit(f"corrections line {c.line}: NXX rows support add/remove only")

    table = {npa: Npa(npa) for npa in range(200, 1000)}
    for row in rows:
        rec = table[int(row["NPA_ID"])]
        rec.sources.append(nanpa_tag)
        location = row["LOCATION"]
        if row["ASSIGNABLE"] != "Yes":
            rec.status = "unassignable"
        elif row["IN_SERVICE"] == "Y":
            rec.status = "in_service"
        elif row["ASSIGNED"] == "Yes":
            rec.status = "assigned"
        if rec.status in {"in_service", "assigned"}:
            rec.known_to_nanpa = True
            if rec.npa in TOLL_FREE_NPAS or row["SERVICE"] == "Toll-Free":
                rec.kind = "toll_free"
            elif row["USE"] == "G":
                rec.kind = "geographic"
            else:
                rec.kind = "non_geographic"
        rec.location = location
        if location in US_STATES:
            rec.region, rec.states = "US", (location,)
        elif location in LOCATIONS:
            rec.region, rec.states = LOCATIONS[location]
        rec.country = NANPA_COUNTRY.get(row["COUNTRY"], rec.region if rec.kind else "")
        if rec.kind and not rec.region:
            # 710 (US), 600 and 622 (CA); NANP-wide codes (8XX, 5XX, 700, 900) get "US", the
            # region phonenumbers reports for them.
            rec.region = NANPA_COUNTRY.get(row["COUNTRY"], "US")
        if row["OVERLAY"] == "Yes":
            complex_ = {int(x) for x in row["OVERLAY_COMPLEX"].split("/") if x.strip()}
            if not complex_ and row["PARENT_NPA_ID"]:
                complex_ = {int(row["PARENT_NPA_ID"])}  # 428: overlay with no complex listed
            rec.overlay_complex = tuple(sorted(complex_ | {rec.npa}))
        if row["PARENT_NPA_ID"]:
            rec.parent_npa = int(row["PARENT_NPA_ID"])
        rec.nanpa_time_zone = row["TIME_ZONE"]

    # Area codes phonenumbers knows to be in service that the NANPA file does not.
    for npa, types in pn_valid.items():
        rec = table[npa]
        if rec.status == "unassignable":
            raise SystemExit(f"NPA {npa}: unassignable per NANPA but valid in phonenumbers")
        if rec.status != "in_service":
            rec.status = "in_service"
            rec.sources.append(pn_tag)
        if not rec.kind:
            rec.kind = "geographic" if types & {"fixed_line", "mobile"} else "non_geographic"
        if not rec.region:
            region, state = geocoder_state(npa)
            rec.region = region
            if rec.kind == "geographic":
                rec.country = "US" if region in US_REGIONS else region
                rec.states = (state,) if state else ()
                rec.location = state

    # Field corrections.
    for c in corrections:
        if c.nxx is not None:
            continue
        rec = table[c.npa]
        tag = f"correction:{c.field}{c.confidence}"
        if c.field == "time_zones":
            if c.action == "add":
                rec.zones_corr.add(c.value)
            elif c.action == "remove":
                rec.zones_removed.add(c.value)
            if c.action in {"add", "remove"}:
                rec.sources.append(tag)
            continue
        if c.action != "set":
            raise SystemExit(f"corrections line {c.line}: field {c.field} supports 'set' only")
        if c.field == "status":
            rec.status = c.value
        elif c.field == "kind":
            rec.kind = c.value
        elif c.field == "country":
            rec.country = c.value
        elif c.field == "region":
            rec.region = c.value
        elif c.field == "states":
            rec.states = tuple(c.value.split())
        elif c.field == "location":
            rec.location = c.value
        elif c.field == "overlay_complex":
            rec.overlay_complex = tuple(sorted(int(x) for x in c.value.split("/")))
        elif c.field == "nanpa_time_zone":
            rec.nanpa_time_zone = c.value
        else:
            raise SystemExit(f"corrections line {c.line}: unknown field {c.field!r}")
        rec.sources.append(tag)

    # Own zones: phonenumbers NPA + every prefix under it, and the NANPA letters by state.
    for rec in table.values():
        if rec.kind != "geographic":
            continue
        for nxx_zones in prefix_zones.get(rec.npa, {}).values():
            rec.zones_pn |= nxx_zones
        if rec.nanpa_time_zone:
            rec.zones_nanpa = letters_to_zones(rec.location, rec.nanpa_time_zone, rec.npa)

    # Overlays take the union of their own row's complex; unknown complexes take the state's.
    by_state: dict[str, set[str]] = defaultdict(set)
    for rec in table.values():
        if rec.kind == "geographic" and rec.known_to_nanpa:
            for state in rec.states:
                by_state[state] |= rec.own_zones()
    for rec in table.values():
        if rec.kind != "geographic":
            continue
        for other in rec.overlay_complex:
            if other != rec.npa:
                rec.zones_overlay |= table[other].own_zones() - rec.own_zones()
        if not rec.overlay_complex and not rec.known_to_nanpa:
            for state in rec.states:
                rec.zones_fallback |= by_state[state]
            rec.zones_fallback -= rec.own_zones() | rec.zones_overlay

    # Checks.
    errors = []
    for c in corrections:
        zones = table[c.npa].time_zones()
        if c.action == "require" and c.value not in zones:
            errors.append(f"line {c.line}: {c.npa} lacks required {c.value}: {sorted(zones)}")
        if c.action == "forbid" and c.value in zones:
            errors.append(f"line {c.line}: {c.npa} has forbidden {c.value}")
    available = zoneinfo.available_timezones()
    for rec in table.values():
        zones = rec.time_zones()
        if rec.status == "in_service" and rec.kind == "geographic":
            if not zones:
                errors.append(f"{rec.npa}: in service and geographic but has no time zone")
            if not rec.region:
                errors.append(f"{rec.npa}: in service and geographic but has no region")
        unknown = zones - available
        if unknown:
            errors.append(f"{rec.npa}: zones not in the tz database: {sorted(unknown)}")
        if rec.region == "US" and rec.kind == "geographic" and len(rec.states) != 1:
            errors.append(f"{rec.npa}: US area code without exactly one state: {rec.states}")
    if errors:
        raise SystemExit("build failed:\n  " + "\n  ".join(errors))
    return file_date, list(table.values())


def write(out: Path, file_date: str, source: Path, table: list[Npa]) -> None:
    def zones(z: set[str]) -> str:
        return " ".join(sorted(z))

    with out.open("w", encoding="utf-8", newline="") as f:
        f.write(
            f"# Generated by scripts/build_npa_data.py from {source.name} (File Date {file_date}),"
            f" phonenumbers {phonenumbers.__version__} and npa_corrections.csv."
            " Do not edit by hand.\n"
        )
        writer = csv.DictWriter(f, fieldnames=OUT_FIELDS, lineterminator="\n")
        writer.writeheader()
        for rec in table:
            writer.writerow(
                {
                    "npa": rec.npa,
                    "status": rec.status,
                    "kind": rec.kind,
                    "country": rec.country,
                    "region": rec.region,
                    "states": " ".join(rec.states),
                    "location": rec.location,
                    "overlay_complex": "/".join(str(n) for n in rec.overlay_complex),
                    "parent_npa": rec.parent_npa or "",
                    "nanpa_time_zone": rec.nanpa_time_zone,
                    "time_zones": zones(rec.time_zones()),
                    "zones_phonenumbers": zones(rec.zones_pn - rec.zones_removed),
                    "zones_nanpa": zones(rec.zones_nanpa - rec.zones_removed),
                    "zones_overlay": zones(rec.zones_overlay),
                    "zones_state_fallback": zones(rec.zones_fallback),
                    "zones_corrections": zones(rec.zones_corr),
                    "zones_removed": zones(rec.zones_removed),
                    "sources": " ".join(dict.fromkeys(rec.sources)),
                }
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="npa_report.csv")
    parser.add_argument("--corrections", type=Path, default=DEFAULT_CORRECTIONS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    file_date, table = build(args.source, args.corrections)
    write(args.out, file_date, args.source, table)
    in_service = sum(1 for r in table if r.status == "in_service")
    print(f"wrote {args.out} ({len(table)} area codes, {in_service} in service)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
