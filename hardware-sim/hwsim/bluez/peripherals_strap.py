"""Simulated chest strap: Heart Rate (0x180D) and a Polar H10-style PMD ECG stream.

Heart Rate Measurement is notified once a second with the RR intervals of the beats that ended
in that second and "sensor contact detected". The Polar Measurement Data service (PMD, Polar
BLE SDK "Polar Measurement Data Specification for 3rd Party") streams ECG at 130 Hz after the
client enables indications on the control point and notifications on the data characteristic
and writes ``02 00`` (start ECG; optional settings TLVs ``00 01 82 00`` = 130 Hz and
``01 01 0E 00`` = 14 bit). Each data notification carries 73 samples (what an H10 sends at its
default MTU): ``00`` (ECG), the last sample's timestamp as u64 ns since 2000-01-01, frame type
``00``, then 3-byte little-endian two's complement µV samples.
"""

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import numpy as np
from numpy.typing import NDArray

from hwsim.bluez import encoders as enc
from hwsim.bluez.gatt import ATT_INVALID_VALUE_LENGTH, Characteristic, GattError, Service, uuid16
from hwsim.bluez.peripherals import SimPeripheral

PMD_SERVICE: Final = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL: Final = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA: Final = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
POLAR_COMPANY_ID: Final = 0x006B
POLAR_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
HR_PERIOD_S: Final = 1.0
ECG_LEADS: Final = ("II",)  # a chest strap's single lead, closest to lead II
MEASUREMENT_TYPES_KNOWN: Final = 6  # PMD types 0..6 are defined (ECG, PPG, ACC, PPI, -, gyro, mag)


def builtin_ecg_uv(t_s: NDArray[np.float64], hr_bpm: float) -> NDArray[np.float64]:
    """A plain synthetic ECG (P, QRS, T as Gaussians) at `hr_bpm`, in µV."""
    period_s = 60.0 / max(hr_bpm, 1.0)
    phase = np.mod(t_s, period_s) / period_s
    waves = ((0.2, 0.025, 150.0), (0.4, 0.01, 1100.0), (0.37, 0.01, -120.0), (0.7, 0.05, 300.0))
    out = np.zeros_like(t_s)
    for centre, width, amp_uv in waves:
        out += amp_uv * np.exp(-0.5 * ((phase - centre) / width) ** 2)
    return out


class SimChestStrap(SimPeripheral):
    """Chest strap: Heart Rate 0x180D + Polar-style PMD ECG."""

    kind = "ble-chest-strap"
    advertised = (0x180D,)
    company_id = POLAR_COMPANY_ID
    model = "Sim H10"

    def build_services(self) -> Sequence[Service]:
        self.ecg_running = False
        self._ecg_wanted = asyncio.Event()
        self.ecg_frames_sent = 0
        self.hr = Characteristic(uuid16(0x2A37), ("notify",))
        location = Characteristic(uuid16(0x2A38), ("read",), bytes([enc.BODY_SENSOR_CHEST]))
        self.pmd_cp = Characteristic(
            PMD_CONTROL,
            ("read", "write", "indicate"),
            enc.pmd_features_ecg_only(),
            on_write=self._control,
        )
        self.pmd_data = Characteristic(PMD_DATA, ("notify",))
        return [
            Service(uuid16(0x180D), [self.hr, location]),
            Service(PMD_SERVICE, [self.pmd_cp, self.pmd_data]),
        ]

    def flood_char(self) -> Characteristic:
        return self.hr

    async def run_connected(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._ecg_loop())
            await self._hr_loop()

    async def _ecg_loop(self) -> None:
        while True:
            await self._ecg_wanted.wait()
            await self._stream_ecg()

    async def _hr_loop(self) -> None:
        beats = 0.0
        next_t = time.monotonic()
        while True:
            next_t += HR_PERIOD_S
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))
            hr_bpm = self.vitals().hr_bpm
            beats += hr_bpm * HR_PERIOD_S / 60.0
            n_rr = int(beats)
            beats -= n_rr
            rr_ms = [60_000.0 / hr_bpm] * n_rr
            self.send(self.hr, enc.heart_rate_measurement(round(hr_bpm), rr_ms, contact=True))

    def _respond(self, opcode: int, mtype: int, status: enc.PmdStatus, params: bytes = b"") -> None:
        value = enc.pmd_response(opcode, mtype, status, params)

        async def job() -> None:
            self.send(self.pmd_cp, value)

        self.schedule(job)

    def _control(self, data: bytes) -> None:
        if not data:
            raise GattError(ATT_INVALID_VALUE_LENGTH)
        self.require_indications(self.pmd_cp)
        opcode = data[0]
        if opcode not in {int(op) for op in enc.PmdOpcode}:
            self._respond(opcode, data[1] if len(data) > 1 else 0, enc.PmdStatus.INVALID_OP_CODE)
            return
        if len(data) < 2:
            self._respond(opcode, 0, enc.PmdStatus.INVALID_LENGTH)
            return
        mtype = data[1]
        if mtype != enc.PMD_TYPE_ECG:
            status = (
                enc.PmdStatus.NOT_SUPPORTED
                if mtype <= MEASUREMENT_TYPES_KNOWN
                else enc.PmdStatus.INVALID_MEASUREMENT_TYPE
            )
            self._respond(opcode, mtype, status)
        elif opcode == enc.PmdOpcode.GET_SETTINGS:
            self._respond(opcode, mtype, enc.PmdStatus.SUCCESS, enc.pmd_ecg_settings())
        elif opcode == enc.PmdOpcode.STOP:
            status = enc.PmdStatus.SUCCESS if self.ecg_running else enc.PmdStatus.ALREADY_IN_STATE
            self._stop_ecg()
            self._respond(opcode, mtype, status)
        else:
            self._respond(opcode, mtype, self._start_ecg(data[2:]))

    def _start_ecg(self, settings: bytes) -> enc.PmdStatus:
        if self.ecg_running:
            return enc.PmdStatus.ALREADY_IN_STATE
        if not self.pmd_data.notifying:
            return enc.PmdStatus.INVALID_STATE
        i = 0
        while i < len(settings):
            if i + 2 > len(settings) or i + 2 + 2 * settings[i + 1] > len(settings):
                return enc.PmdStatus.INVALID_LENGTH
            kind, count = settings[i], settings[i + 1]
            value = int.from_bytes(settings[i + 2 : i + 4], "little") if count else 0
            if kind == enc.PMD_SETTING_SAMPLE_RATE and value != enc.ECG_FS_HZ:
                return enc.PmdStatus.INVALID_SAMPLE_RATE
            if kind == enc.PMD_SETTING_RESOLUTION and value != enc.ECG_RESOLUTION_BITS:
                return enc.PmdStatus.INVALID_RESOLUTION
            i += 2 + 2 * count
        self.ecg_running = True
        self._ecg_wanted.set()
        return enc.PmdStatus.SUCCESS

    def _stop_ecg(self) -> None:
        self.ecg_running = False
        self._ecg_wanted.clear()

    def ecg_uv(self, t0_s: float, n: int) -> NDArray[np.float64]:
        """n ECG samples from `t0_s` at 130 Hz, in µV (patient source or built-in)."""
        fs_hz = float(enc.ECG_FS_HZ)
        if self.patient is not None:
            return self.patient.ecg_uv(t0_s, n, fs_hz, ECG_LEADS)[:, 0]
        t_s = t0_s + np.arange(n) / fs_hz
        return builtin_ecg_uv(t_s, self.vitals().hr_bpm)

    async def _stream_ecg(self) -> None:
        fs_hz = float(enc.ECG_FS_HZ)
        per = enc.ECG_SAMPLES_PER_FRAME
        start_mono = time.monotonic()
        start_t_s = self.t_s()
        start_ns = int((datetime.now(UTC) - POLAR_EPOCH).total_seconds() * 1e9)
        k = 0
        while self.ecg_running and self.connected:
            due = start_mono + (k + per) / fs_hz
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            samples = self.ecg_uv(start_t_s + k / fs_hz, per)
            last_ns = start_ns + round((k + per - 1) * 1e9 / fs_hz)
            frame = enc.PmdFrame(last_ns, tuple(round(float(x)) for x in samples))
            if self.send(self.pmd_data, enc.pmd_ecg_frame(frame)):
                self.ecg_frames_sent += 1
            k += per

    def on_disconnect(self) -> None:
        super().on_disconnect()
        self._stop_ecg()
