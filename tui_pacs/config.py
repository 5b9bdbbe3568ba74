"""The configuration file: TOML, validated key by key into frozen settings.

Precedence: command-line flags > config file > defaults. The file is found at
``--config FILE``, else ``$TUI_PACS_CONFIG``, else the user config directory.
A missing file means defaults; a broken one raises :class:`ConfigError` with
one line that names the file, the key and the reason.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_pacs import paths
from tui_pacs.core.aetitle import ae_title_problem
from tui_pacs.core.model import InstanceRecord

# An access list entry that stands for every configured modality's AE title.
CONFIGURED_MODALITIES = "@modalities"
ANYONE = "*"
SERVICES = ("echo", "store", "find", "move", "get", "commit")
# How the app's preview draws pictures: auto asks the terminal.
IMAGES = ("auto", "halfblock", "kitty", "sixel")


class ConfigError(Exception):
    """A configuration problem, already phrased for the user as one line."""


@dataclass(frozen=True)
class Modality:
    """A remote DICOM node we talk to, and that may talk to us."""

    name: str
    aet: str
    host: str
    port: int
    tls: bool = False


@dataclass(frozen=True)
class NodeConfig:
    aet: str = "TUIPACS"
    port: int = 11112
    bind: str = "0.0.0.0"
    data: Path = field(default_factory=paths.default_data_dir)
    log_format: str = "text"
    # How many processes serve associations, the node's own included (it
    # keeps the index; see services/ingest_pool.py): 0 for one per CPU, 1
    # for the node's process alone.
    workers: int = 0


@dataclass(frozen=True)
class StorageConfig:
    # A SOP Instance UID we already hold: keep the stored copy unless this is on.
    overwrite_duplicates: bool = False
    # Storage SOP classes pynetdicom does not know are refused unless this is on.
    accept_unknown_sop_classes: bool = False
    # C-STORE answers "out of resources" rather than eat into this reserve.
    min_free_mb: int = 64


@dataclass(frozen=True)
class AccessConfig:
    """Which calling AE titles may use which service (like a cautious Orthanc)."""

    echo: tuple[str, ...] = (ANYONE,)
    store: tuple[str, ...] = (ANYONE,)
    find: tuple[str, ...] = (CONFIGURED_MODALITIES,)
    move: tuple[str, ...] = (CONFIGURED_MODALITIES,)
    get: tuple[str, ...] = (CONFIGURED_MODALITIES,)
    # Storage commitment: requests (N-ACTION) and reports (N-EVENT-REPORT).
    commit: tuple[str, ...] = (CONFIGURED_MODALITIES,)
    # Reject associations whose called AE title is not ours.
    check_called_aet: bool = False


@dataclass(frozen=True)
class LimitsConfig:
    max_associations: int = 32
    acse_timeout: float = 30.0
    dimse_timeout: float = 60.0
    network_timeout: float = 60.0
    # Largest PDU we accept; 0 means no limit.
    max_pdu: int = 262_144
    # Largest dataset stored, as received and (deflated) as inflated: larger
    # ones are refused, so that no peer or file can exhaust memory or disk.
    max_dataset_mb: int = 4096


@dataclass(frozen=True)
class TLSConfig:
    enabled: bool = False
    # None: TLS replaces plain DICOM on node.port; a number: TLS on its own port.
    port: int | None = None
    certificate: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    require_client_certificate: bool = False


@dataclass(frozen=True)
class UIConfig:
    theme: str = "tui-pacs-dark"
    images: str = "auto"
    # The remote modality the app queried last, chosen again when it starts.
    last_remote: str = ""


@dataclass(frozen=True)
class ActivityConfig:
    """How much of the app's activity log is kept on disk (``activity.jsonl``)."""

    keep_days: int = 7
    max_mb: int = 50


@dataclass(frozen=True)
class RetentionConfig:
    """How much the archive keeps. Over a limit, the studies that arrived first are
    deleted first (never a protected one, nor one still being received)."""

    max_studies: int | None = None
    max_size_gb: float | None = None
    # Studies whose last instance arrived longer ago than this are deleted.
    keep_days: int | None = None

    @property
    def enabled(self) -> bool:
        return any(limit is not None for limit in
                   (self.max_studies, self.max_size_gb, self.keep_days))


@dataclass(frozen=True)
class ForwardRule:
    """A ``[[forward]]`` table: instances the node receives by C-STORE that pass
    every filter given are queued for each modality named in ``to``.

    An empty filter lets everything through; ``sop_class`` holds UIDs (a
    keyword in the file is turned into its UID when it is read).
    """

    to: tuple[str, ...]
    calling: tuple[str, ...] = ()
    modality: tuple[str, ...] = ()
    sop_class: tuple[str, ...] = ()

    def matches(self, calling: str, modality: str, sop_class: str) -> bool:
        return all(not allowed or value in allowed for allowed, value in (
            (self.calling, calling), (self.modality, modality), (self.sop_class, sop_class)))


@dataclass(frozen=True)
class ForwardingConfig:
    """How the forwarding queue retries a destination that fails."""

    # After this many failed attempts an entry is kept as failed (not retried
    # until `tui-pacs queue --retry`).
    max_attempts: int = 10
    # Seconds before the first retry; each further one waits twice as long,
    # up to max_retry.
    first_retry: float = 5.0
    max_retry: float = 300.0

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1, 2, ...)."""
        return min(self.max_retry, self.first_retry * 2 ** min(attempts - 1, 30))


@dataclass(frozen=True)
class Settings:
    node: NodeConfig = field(default_factory=NodeConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    access: AccessConfig = field(default_factory=AccessConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    tls: TLSConfig = field(default_factory=TLSConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    activity: ActivityConfig = field(default_factory=ActivityConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    forwarding: ForwardingConfig = field(default_factory=ForwardingConfig)
    modalities: tuple[Modality, ...] = ()
    forward: tuple[ForwardRule, ...] = ()
    # Where these settings came from (the file may not exist).
    path: Path = field(default_factory=paths.default_config_path)

    def modality(self, name: str) -> Modality | None:
        return next((m for m in self.modalities if m.name == name), None)

    def modality_by_aet(self, aet: str) -> Modality | None:
        aet = aet.strip()
        return next((m for m in self.modalities if m.aet == aet), None)

    def forward_to(self, received: InstanceRecord) -> tuple[str, ...]:
        """The modalities (by name) an instance received by C-STORE is forwarded
        to: those of every matching ``[[forward]]`` rule, never the one whose AE
        title sent it."""
        calling = received.source_aet
        names: dict[str, None] = {}
        for rule in self.forward:
            if rule.matches(calling, received.modality, received.sop_class_uid):
                names.update(dict.fromkeys(rule.to))
        return tuple(name for name in names
                     if (m := self.modality(name)) is None or m.aet != calling)

    def with_node(self, **changes: Any) -> Settings:
        """A copy with some ``[node]`` values replaced (command-line flags)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, node=dataclasses.replace(self.node, **changes))


# --- value checkers: each returns the converted value or raises _Invalid ----


class _Invalid(Exception):
    pass


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"must be a string, not {_type_name(value)}")
    return value


def _nonempty_string(value: Any) -> str:
    value = _string(value)
    if not value.strip():
        raise _Invalid("must not be empty")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"must be true or false, not {_type_name(value)}")
    return value


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"must be a whole number, not {_type_name(value)}")
        if not low <= value <= high:
            raise _Invalid(f"{value} is out of range ({low}-{high})")
        return value

    return check


def _more_than_zero(unit: str = "") -> Callable[[Any], float]:
    """A checker of numbers above 0 (``unit``: " seconds", said in the complaints)."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Invalid(f"must be a number{' of' + unit if unit else ''}, "
                           f"not {_type_name(value)}")
        if value <= 0:
            raise _Invalid(f"must be more than 0{unit}")
        return float(value)

    return check


_seconds = _more_than_zero(" seconds")
_positive_number = _more_than_zero()


def _seconds_up_to(high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        seconds = _seconds(value)
        if seconds > high:
            raise _Invalid(f"must be at most {high:g} seconds")
        return seconds

    return check


_port = _integer(1, 65535)


def _ae_title(value: Any) -> str:
    value = _string(value)
    problem = ae_title_problem(value)
    if problem:
        raise _Invalid(f"AE title {value!r} {problem}")
    return value.strip()


def _bind_address(value: Any) -> str:
    value = _nonempty_string(value)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if value != "localhost":
            raise _Invalid(f"{value!r} is not an IP address") from None
    return value


def _host(value: Any) -> str:
    value = _nonempty_string(value).strip()
    if any(c.isspace() or ord(c) < 0x20 for c in value):
        raise _Invalid(f"{value!r} is not a host name or address")
    return value


def _path(value: Any) -> Path:
    return Path(_nonempty_string(value)).expanduser()


def _one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise _Invalid(f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    return check


def _access_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Invalid(
            f'must be a list of AE titles, "{ANYONE}" or "{CONFIGURED_MODALITIES}"'
        )
    entries = []
    for item in value:
        if item in (ANYONE, CONFIGURED_MODALITIES):
            entries.append(item)
        else:
            entries.append(_ae_title(item))
    return tuple(entries)


def _strings(check: Callable[[Any], str]) -> Callable[[Any], tuple[str, ...]]:
    """A non-empty list of values, each checked by ``check``."""

    def check_list(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise _Invalid(f"must be a non-empty list, not {_type_name(value)}")
        return tuple(check(item) for item in value)

    return check_list


def _modality_value(value: Any) -> str:
    value = _nonempty_string(value).strip()
    if len(value) > 16 or not all(c.isupper() or c.isdigit() or c in "_ " for c in value):
        raise _Invalid(f"{value!r} is not a Modality value (such as CT, MR, US)")
    return value


def _sop_class(value: Any) -> str:
    """A SOP class UID, or its keyword (CTImageStorage) turned into the UID."""
    from pydicom import uid

    value = _nonempty_string(value).strip()
    if value[0].isdigit():
        if len(value) > 64 or not uid.RE_VALID_UID.match(value):
            raise _Invalid(f"{value!r} is not a valid UID")
        return value
    known = getattr(uid, value, None)
    if not isinstance(known, uid.UID) or known.type != "SOP Class":
        raise _Invalid(f"{value!r} is not a SOP class keyword (such as CTImageStorage) "
                       "or UID")
    return str(known)


def _type_name(value: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "a number", float: "a number",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


# --- section schemas: key -> checker --------------------------------------

_SECTIONS: dict[str, tuple[type, dict[str, Callable[[Any], Any]]]] = {
    "node": (NodeConfig, {
        "aet": _ae_title, "port": _port, "bind": _bind_address, "data": _path,
        "log_format": _one_of("text", "json"), "workers": _integer(0, 64),
    }),
    "storage": (StorageConfig, {
        "overwrite_duplicates": _boolean, "accept_unknown_sop_classes": _boolean,
        "min_free_mb": _integer(0, 10_000_000),
    }),
    "access": (AccessConfig, {
        **{service: _access_list for service in SERVICES},
        "check_called_aet": _boolean,
    }),
    "limits": (LimitsConfig, {
        "max_associations": _integer(1, 1000), "acse_timeout": _seconds,
        "dimse_timeout": _seconds, "network_timeout": _seconds,
        "max_pdu": _integer(0, 2**32 - 1), "max_dataset_mb": _integer(1, 1_000_000),
    }),
    "tls": (TLSConfig, {
        "enabled": _boolean, "port": _port, "certificate": _path, "key": _path,
        "ca": _path, "require_client_certificate": _boolean,
    }),
    "ui": (UIConfig, {"theme": _nonempty_string, "images": _one_of(*IMAGES),
                      "last_remote": _nonempty_string}),
    "activity": (ActivityConfig, {"keep_days": _integer(1, 3650),
                                  "max_mb": _integer(1, 100_000)}),
    "retention": (RetentionConfig, {"max_studies": _integer(1, 1_000_000_000),
                                    "max_size_gb": _positive_number,
                                    "keep_days": _integer(1, 36_500)}),
    "forwarding": (ForwardingConfig, {"max_attempts": _integer(1, 1000),
                                      "first_retry": _seconds_up_to(30),
                                      "max_retry": _seconds_up_to(3600)}),
}

_MODALITY_KEYS: dict[str, Callable[[Any], Any]] = {
    "name": _nonempty_string, "aet": _ae_title, "host": _host, "port": _port, "tls": _boolean,
}

_FORWARD_KEYS: dict[str, Callable[[Any], Any]] = {
    "to": _strings(_nonempty_string), "calling": _strings(_ae_title),
    "modality": _strings(_modality_value), "sop_class": _strings(_sop_class),
}


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the config file; defaults when it does not exist."""
    path = Path(path).expanduser() if path else paths.default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings(path=path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {_reason(exc)}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_settings(document, path)


def parse_settings(document: dict[str, Any], path: Path) -> Settings:
    """Turn a parsed TOML document into Settings, or raise ConfigError."""

    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(f"{path}: {key}: {reason}")

    sections: dict[str, Any] = {}
    modalities: tuple[Modality, ...] = ()
    for name, value in document.items():
        if name == "modalities":
            modalities = _parse_modalities(value, fail)
            continue
        if name == "forward":
            continue  # read below, once every modality it may name is known
        if name not in _SECTIONS:
            known = ", ".join(f"[{s}]" for s in (*_SECTIONS, "[modalities]", "[forward]"))
            raise fail(name, f"unknown section or key (known: {known})")
        if not isinstance(value, dict):
            raise fail(name, f"must be a table ([{name}]), not {_type_name(value)}")
        cls, schema = _SECTIONS[name]
        sections[name] = cls(**_checked_table(value, schema, name, fail))

    forward = _parse_forward(document.get("forward", []), modalities, fail)
    settings = Settings(**sections, modalities=modalities, forward=forward, path=path)
    forwarding = settings.forwarding
    if forwarding.max_retry < forwarding.first_retry:
        raise fail("forwarding.max_retry", "must not be less than first_retry")
    tls = settings.tls
    if tls.enabled and (tls.certificate is None or tls.key is None):
        raise fail("tls", "enabled = true needs both certificate and key")
    if tls.require_client_certificate and tls.ca is None:
        raise fail("tls.require_client_certificate", "needs ca, to verify client certificates")
    return settings


def _parse_modalities(value: Any, fail: Callable[[str, str], ConfigError]) -> tuple[Modality, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise fail("modalities", "must be an array of tables ([[modalities]])")
    result: list[Modality] = []
    for number, table in enumerate(value, start=1):
        label = f"modalities[{number}]"
        if isinstance(table.get("name"), str):
            label = f'modalities "{table["name"]}"'
        values = _checked_table(table, _MODALITY_KEYS, label, fail)
        missing = [k for k in ("name", "aet", "host", "port") if k not in values]
        if missing:
            raise fail(label, f"missing {', '.join(missing)}")
        if any(m.name == values["name"] for m in result):
            raise fail(label, f"duplicate modality name {values['name']!r}")
        result.append(Modality(**values))
    return tuple(result)


def _parse_forward(value: Any, modalities: tuple[Modality, ...],
                   fail: Callable[[str, str], ConfigError]) -> tuple[ForwardRule, ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise fail("forward", "must be an array of tables ([[forward]])")
    names = [m.name for m in modalities]
    rules = []
    for number, table in enumerate(value, start=1):
        label = f"forward[{number}]"
        values = _checked_table(table, _FORWARD_KEYS, label, fail)
        if "to" not in values:
            raise fail(label, "missing to (the [[modalities]] names to forward to)")
        for name in values["to"]:
            if name not in names:
                known = f"configured: {', '.join(names)}" if names else "none are configured"
                raise fail(f"{label}.to", f"{name!r} is not a [[modalities]] name ({known})")
        rules.append(ForwardRule(**values))
    return tuple(rules)


def _checked_table(table: dict[str, Any], schema: dict[str, Callable[[Any], Any]],
                   label: str, fail: Callable[[str, str], ConfigError]) -> dict[str, Any]:
    """Each key of a table checked and converted by its schema entry."""
    values = {}
    for key, raw in table.items():
        if key not in schema:
            raise fail(f"{label}.{key}", f"unknown key (known: {', '.join(schema)})")
        try:
            values[key] = schema[key](raw)
        except _Invalid as exc:
            raise fail(f"{label}.{key}", str(exc)) from None
    return values


def _reason(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
