"""Gateway settings: one TOML file, overridden by ``HELSEROM_…`` environment variables.

Every key is documented in ``config/gateway.toml`` and ``docs/configuration.md``.
Unknown keys are errors. ``check_file()`` turns every problem into one line that names
the key path, the value given and what was expected.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Any, Literal

from hwsim.scenario import ScenarioError, builtin_scenario, builtin_scenarios, load_scenario
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from drivers.devices import KNOWN_BLE_PROFILES, KNOWN_CODECS
from drivers.errors import UriError
from drivers.transports.uri import DeviceUri
from gateway.clinical.careplan import CarePlanError, load_careplan

ENV_PREFIX = "HELSEROM_"
LOOPBACK_NAMES = ("localhost",)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    """The HTTP/WebSocket server. Non-loopback listeners only with TLS."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tls: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="auto: TLS when host is not loopback; on: always; off: never (loopback only)",
    )
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @field_validator("host")
    @classmethod
    def _address(cls, host: str) -> str:
        if host in LOOPBACK_NAMES:
            return host
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError("an IP address (0.0.0.0, 127.0.0.1, ::) or localhost") from None
        return host

    @model_validator(mode="after")
    def _tls_for_remote(self) -> ServerSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key both set, or neither")
        if self.tls == "off" and not self.is_loopback:
            raise ValueError(
                f"tls = 'auto' or 'on' for host {self.host!r}: remote listeners need TLS "
                "(tls = 'off' is allowed on loopback only)"
            )
        return self

    @property
    def is_loopback(self) -> bool:
        """True if only this machine can reach the listener."""
        return self.host in LOOPBACK_NAMES or ipaddress.ip_address(self.host).is_loopback

    @property
    def use_tls(self) -> bool:
        """Whether the server speaks TLS."""
        return self.tls == "on" or (self.tls == "auto" and not self.is_loopback)


class SecuritySettings(_Section):
    """Roles and limits (docs/security.md)."""

    idle_lock_s: float = Field(
        default=300.0, ge=0, le=86_400, description="kiosk locks after this idle time (0: never)"
    )
    pin_hash: str | None = Field(
        default=None,
        pattern=r"^scrypt\$\d+\$\d+\$\d+\$[0-9a-f]+\$[0-9a-f]+$",
        description="the nurse PIN as made by `helserom pin hash` (or the credential nurse-pin)",
    )
    pin_max_tries: int = Field(default=5, ge=1, le=100)
    pin_lockout_s: float = Field(default=60.0, ge=1, le=3600)
    join_rate_per_min: float = Field(default=10.0, gt=0, le=10_000)
    join_burst: int = Field(default=5, ge=1, le=1000)
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_file: Path | None = None
    oidc_jwks_url: str | None = Field(default=None, pattern=r"^https://")
    oidc_require_dpop: bool = False
    oidc_role_claim: str = "helserom_role"
    allowed_origins: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _oidc_complete(self) -> SecuritySettings:
        oidc = (self.oidc_issuer, self.oidc_audience)
        keys = self.oidc_jwks_file or self.oidc_jwks_url
        if (any(oidc) or keys) and (not all(oidc) or not keys):
            raise ValueError(
                "oidc_issuer, oidc_audience and one of oidc_jwks_file/oidc_jwks_url "
                "all set (or none of them)"
            )
        return self


class GatewaySettings(_Section):
    """Who and where this room is, and where it keeps its state."""

    site: str = Field(default="sim-site", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    room: str = Field(default="sim-room", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    state_dir: Path = Path("var")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    language: Literal["nb", "en"] = "nb"


class PipelineSettings(_Section):
    """Queues, restarts and link-health timing."""

    device_queue_size: int = Field(default=512, ge=8, le=100_000)
    live_queue_size: int = Field(default=256, ge=8, le=100_000)
    restart_backoff_initial_s: float = Field(default=0.25, gt=0, le=60)
    restart_backoff_max_s: float = Field(default=1.0, gt=0, le=300)
    silence_timeout_s: float = Field(default=2.0, gt=0, le=60)

    @model_validator(mode="after")
    def _backoff_order(self) -> PipelineSettings:
        if self.restart_backoff_max_s < self.restart_backoff_initial_s:
            raise ValueError(
                "restart_backoff_max_s to be at least restart_backoff_initial_s "
                f"({self.restart_backoff_initial_s})"
            )
        return self


class DeviceSettings(_Section):
    """One device the gateway reads."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    uri: str
    label: str = ""

    @field_validator("uri")
    @classmethod
    def _valid_uri(cls, uri: str) -> str:
        try:
            parsed = DeviceUri.parse(uri)
        except UriError as exc:
            raise ValueError(str(exc)) from None
        profile = parsed.params.get("profile")
        if parsed.scheme == "ble" and profile not in KNOWN_BLE_PROFILES:
            raise ValueError(
                f"a known ?profile= in the ble URI (got {profile!r}; known: "
                + ", ".join(sorted(KNOWN_BLE_PROFILES))
                + ")"
            )
        if parsed.codec is not None and parsed.codec not in KNOWN_CODECS:
            raise ValueError(
                f"a known codec in the URI (got codec={parsed.codec!r}; known: "
                + ", ".join(sorted(KNOWN_CODECS))
                + ")"
            )
        return uri


SimKind = Literal[
    "nonin2-oximeter",
    "nonin7-oximeter",
    "nonin8-oximeter",
    "cms50-oximeter",
    "openbci-cyton",
    "spiro-sfm3300",
    "ble-pulse-oximeter",
    "ble-bp-cuff",
    "ble-thermometer",
    "ble-weight-scale",
    "ble-chest-strap",
]
MAC_PATTERN = r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$"


class SimDeviceSettings(_Section):
    """One simulated device in the room simulator."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    kind: SimKind = "nonin2-oximeter"
    link: str | None = Field(
        default=None, description="serial kinds: symlink name under sim.dir (a by-id name)"
    )
    address: str | None = Field(
        default=None, pattern=MAC_PATTERN, description="ble- kinds: AA:BB:CC:DD:EE:FF"
    )
    name: str = Field(default="", description="ble- kinds: the advertised name")
    seed: int = 1
    hr_bpm: float = Field(default=72.0, ge=20, le=250)
    spo2_pct: float = Field(default=97.0, ge=50, le=100)
    options: dict[str, str | int | float | bool | list[str]] = Field(default_factory=dict)

    @field_validator("link")
    @classmethod
    def _plain_name(cls, link: str | None) -> str | None:
        if link is not None and (not link or "/" in link or link in (".", "..")):
            raise ValueError("a plain file name such as 'usb-Nonin_3150-if00' (no '/' or '..')")
        return link

    @model_validator(mode="after")
    def _link_or_address(self) -> SimDeviceSettings:
        if self.is_ble and self.address is None:
            raise ValueError(f"an address (AA:BB:CC:DD:EE:FF) for the {self.kind} {self.id!r}")
        if not self.is_ble and self.link is None:
            raise ValueError(f"a link (a by-id file name) for the serial {self.kind} {self.id!r}")
        return self

    @property
    def is_ble(self) -> bool:
        """A simulated Bluetooth LE peripheral (else a serial device on a pty)."""
        return self.kind.startswith("ble-")


class SimSettings(_Section):
    """The simulated room (hwsim), started in-process by ``helserom run``."""

    enabled: bool = False
    dir: Path = Path("/tmp/helserom-sim")
    scenario: str | None = Field(
        default=None,
        description="a built-in scenario name (stable-copd, …) or a scenario TOML path",
    )
    seed: int = 1
    devices: list[SimDeviceSettings] = Field(default_factory=list)

    @field_validator("scenario")
    @classmethod
    def _known_scenario(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            if value.endswith(".toml"):
                load_scenario(value)
            else:
                builtin_scenario(value)
        except ScenarioError as exc:
            raise ValueError(
                f"a built-in scenario ({', '.join(builtin_scenarios())}) or a readable, "
                f"valid scenario .toml file ({exc})"
            ) from None
        return value

    @field_validator("dir")
    @classmethod
    def _short_dir(cls, value: Path) -> Path:
        # The control socket lives here; unix socket paths must stay under 108 bytes.
        if len(str(value.absolute())) > 80:
            raise ValueError("a directory path shorter than 80 characters (unix socket limit)")
        return value


class ExportSettings(_Section):
    """FHIR export of a session (docs/fhir.md)."""

    patient: Literal["pseudonymous", "minimal"] = "pseudonymous"
    pseudonym_system: str = Field(
        default="https://helserom.no/fhir/sid/pseudonym", pattern=r"^(urn:|https?://)\S+$"
    )
    waveforms: bool = True
    waveform_max_s: float = Field(default=60.0, ge=0, le=3600)
    reference: Literal["gli2012", "gli-global-2022"] = "gli2012"


class ClinicalSettings(_Section):
    """Clinical rules the room applies."""

    careplan: Path | None = Field(
        default=None, description="care plan TOML (traffic lights; config/careplans/)"
    )

    @field_validator("careplan")
    @classmethod
    def _loadable(cls, value: Path | None) -> Path | None:
        if value is None:
            return value
        try:
            load_careplan(value)
        except OSError as exc:
            raise ValueError(f"a readable care plan file ({exc.strerror})") from None
        except CarePlanError as exc:
            raise ValueError(f"a valid care plan ({exc})") from None
        return value


class MqttSettings(_Section):
    """Delivery of measurements, device status and gateway health to an MQTT v5 broker."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8883, ge=1, le=65535)
    tls: bool = True
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    client_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    topic_prefix: str = Field(default="helserom", pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=7 * 86400, ge=60, le=0xFFFFFFFE)
    inflight: int = Field(default=64, ge=1, le=1000)
    outbox_max_rows: int = Field(default=200_000, ge=10, le=10_000_000)
    outbox_alert_rows: int = Field(default=100_000, ge=1, le=10_000_000)
    health_interval_s: float = Field(default=60.0, ge=1, le=3600)
    broker_down_alert_s: float = Field(default=300.0, ge=1, le=86400)
    reconnect_max_s: float = Field(default=30.0, ge=0.1, le=600)

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        if self.outbox_alert_rows > self.outbox_max_rows:
            raise ValueError(
                f"outbox_alert_rows ({self.outbox_alert_rows}) at most outbox_max_rows "
                f"({self.outbox_max_rows})"
            )
        if self.enabled and self.tls:
            missing = [k for k in ("ca_file", "cert_file", "key_file") if getattr(self, k) is None]
            if missing:
                raise ValueError(
                    f"{', '.join(missing)} set when enabled and tls are true "
                    "(the room's client certificate is its identity)"
                )
            for key in ("ca_file", "cert_file", "key_file"):
                path: Path = getattr(self, key)
                if not path.is_file():
                    raise ValueError(f"{key} to be an existing file (got {str(path)!r})")
        if self.enabled and not self.tls:
            try:
                loopback = ipaddress.ip_address(self.host).is_loopback
            except ValueError:
                loopback = self.host in LOOPBACK_NAMES
            if not loopback:
                raise ValueError(
                    f"tls = true for a broker that is not on loopback (host {self.host!r})"
                )
        return self


class StoreSettings(_Section):
    """How long patient data stays in the room (docs/data-protection.md)."""

    # After the broker acked a measurement, or (for data never sent) after its session ended.
    retention_s: float = Field(default=7 * 86400, ge=0, le=365 * 86400)
    purge_interval_s: float = Field(default=3600.0, ge=1, le=86400)


class IceSettings(_Section):
    """STUN/TURN servers handed to every peer connection (docs/conversation.md)."""

    stun_urls: list[str] = Field(default_factory=list)
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret_file: Path | None = Field(
        default=None, description="file holding coturn's static-auth-secret (mode 0600)"
    )
    turn_secret_credential: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="a systemd credential name ($CREDENTIALS_DIRECTORY/<name>)",
    )
    credential_ttl_s: float = Field(default=3600.0, ge=60, le=86400)
    transport_policy: Literal["all", "relay"] = "all"
    restart_after_s: float = Field(default=2.0, gt=0, le=60)

    @field_validator("stun_urls")
    @classmethod
    def _stun_scheme(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("stun:", "stuns:")):
                raise ValueError(f"stun: or stuns: URLs (got {url!r})")
        return urls

    @field_validator("turn_urls")
    @classmethod
    def _turn_scheme(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("turn:", "turns:")):
                raise ValueError(f"turn: or turns: URLs (got {url!r})")
        return urls

    @model_validator(mode="after")
    def _secret_for_turn(self) -> IceSettings:
        has_secret = self.turn_secret_file is not None or self.turn_secret_credential is not None
        if self.turn_urls and not has_secret:
            raise ValueError(
                "turn_secret_file or turn_secret_credential with turn_urls (coturn "
                "use-auth-secret; the secret is never written inline in the config)"
            )
        if self.transport_policy == "relay" and not self.turn_urls:
            raise ValueError("turn_urls when transport_policy is 'relay'")
        return self


class WebRtcSettings(_Section):
    """The gateway's own media to viewers (docs/webrtc.md)."""

    max_viewers: int = Field(default=4, ge=1, le=32)
    codecs: list[Literal["h264", "vp8"]] = Field(default=["h264", "vp8"], min_length=1)
    h264_encoder: Literal["libx264", "h264_v4l2m2m"] = "libx264"
    bitrate_kbps: int = Field(default=1500, ge=100, le=20_000)
    keyframe_interval_s: float = Field(default=2.0, gt=0, le=30)
    snapshots_kept: int = Field(default=16, ge=1, le=1000)


class CameraSettings(_Section):
    """One camera the gateway owns (room overview, dermatoscope, otoscope, exam camera)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    label: str = ""
    source: str | int = Field(description='"/dev/video0", an opencv index, or "sim:pattern"')
    width: int = Field(default=640, ge=96, le=4096, multiple_of=2)
    height: int = Field(default=480, ge=96, le=4096, multiple_of=2)
    fps: float = Field(default=30.0, gt=0, le=120)

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str | int) -> str | int:
        if isinstance(source, int):
            if source < 0:
                raise ValueError("a camera index >= 0")
            return source
        if source == "sim:pattern" or source.startswith("/dev/"):
            return source
        raise ValueError('a V4L2 device path ("/dev/video0"), an index (0) or "sim:pattern"')


class Settings(BaseSettings):
    """All gateway settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    gateway: GatewaySettings = GatewaySettings()
    server: ServerSettings = ServerSettings()
    security: SecuritySettings = SecuritySettings()
    pipeline: PipelineSettings = PipelineSettings()
    devices: list[DeviceSettings] = Field(default_factory=list)
    sim: SimSettings = SimSettings()
    export: ExportSettings = ExportSettings()
    clinical: ClinicalSettings = ClinicalSettings()
    mqtt: MqttSettings = MqttSettings()
    store: StoreSettings = StoreSettings()
    ice: IceSettings = IceSettings()
    webrtc: WebRtcSettings = WebRtcSettings()
    cameras: list[CameraSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Settings:
        for name, ids in (
            ("devices", [d.id for d in self.devices]),
            ("sim.devices", [d.id for d in self.sim.devices]),
            ("cameras", [c.id for c in self.cameras]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"unique ids in {name} (duplicated: {', '.join(dupes)})")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment overrides the file (the file arrives as init kwargs).
        return (env_settings, init_settings)

    @property
    def store_path(self) -> Path:
        """The SQLite database file."""
        return self.gateway.state_dir / "helserom.sqlite3"


class ConfigError(Exception):
    """A config file that cannot be used; ``problems`` has one line per problem."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


def load(path: Path | None) -> Settings:
    """Read settings from a TOML file (or defaults) plus the environment."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(path, [f"cannot read the file: {exc.strerror}"]) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(path or Path("<defaults>"), _problems(exc)) from None


def _problems(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        key = _key_path(err["loc"])
        expected = _expected(err)
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key (value {_show(err['input'])}); expected no such key")
        elif err["type"] == "missing":
            lines.append(f"{key}: missing; expected {expected}")
        else:
            lines.append(f"{key}: got {_show(err['input'])}; expected {expected}")
    return lines


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def _expected(err: Any) -> str:
    msg: str = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    if msg.startswith("Input should be "):
        return msg[len("Input should be ") :]
    if err["type"] == "missing":
        return "this key to be set"
    return msg[0].lower() + msg[1:]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
