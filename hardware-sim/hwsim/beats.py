"""Beat timing: a seeded train of heartbeats (sinus with HRV, atrial fibrillation, ectopics).

Sinus RR follows the RR model of ECGSYN (P. E. McSharry, G. D. Clifford, L. Tarassenko,
L. A. Smith, "A dynamical model for generating synthetic electrocardiogram signals", IEEE Trans.
Biomed. Eng. 50 (2003) 289): a bimodal spectrum with a Mayer-wave (LF, 0.1 Hz, sd 0.01 Hz)
and a respiratory (HF) peak, mixed by the LF/HF power ratio. ECGSYN draws the spectrum with
random phases through an inverse FFT; here the same spectrum is a sum of sinusoids (LF
frequencies drawn from the Gaussian peak), and the HF peak is locked to the patient's breathing
phase so respiratory sinus arrhythmia is coherent with the respiration signal. Being a function
of time, it needs no fixed length and the train can be extended at any time.

AF: irregularly irregular RR, lognormal around the scenario rate with the scenario's
coefficient of variation (typical AF RR CV 0.15-0.30: Tateno & Glass, Med. Biol. Eng. Comput.
39 (2001) 664). Ectopics during sinus rhythm arrive as a Poisson process: a PAC comes at 70 %
of the RR and resets the sinus node (non-compensatory pause); a PVC comes at 60 % of the RR and
is followed by a full compensatory pause (coupling + pause = 2 RR).

Random numbers are drawn per beat *index* from blocks seeded by (seed, block), so beat n is the
same whether the train was built in one go or extended many times.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
from numpy.typing import NDArray

RR_MIN_S: Final = 0.30  # 200 bpm: fastest interval the ECG model's overlap window allows
RR_MAX_S: Final = 3.0  # 20 bpm
LF_CENTRE_HZ: Final = 0.1  # Mayer waves (McSharry 2003, table I)
LF_SD_HZ: Final = 0.01
N_LF: Final = 12  # sinusoids drawn from the LF peak
PAC_COUPLING: Final = 0.70  # premature interval as a fraction of the sinus RR
PVC_COUPLING: Final = 0.60
PVC_PULSE_REL: Final = 0.25  # stroke volume of a premature beat: small pulse, often a deficit
PAC_PULSE_REL: Final = 0.55
POST_PAUSE_PULSE_REL: Final = 1.15  # post-extrasystolic potentiation
AF_DEFICIT_RR_S: Final = 0.40  # AF beats after a shorter interval barely eject
START_S: Final = -3.0  # the train starts before t = 0 so the first window has whole beats
MAX_BEATS: Final = 20_000  # kept in memory (~4 h at 80 bpm); older ones are forgotten
_BLOCK: Final = 1024  # beats per random block
_STREAM: Final = 0xBEA7


class BeatKind(enum.IntEnum):
    """Origin of a beat (decides ECG morphology and pulse size)."""

    SINUS = 0
    AF = 1
    PAC = 2
    PVC = 3


@dataclass(frozen=True, slots=True)
class BeatTable:
    """Beats in time order: R-peak times, the interval before each, kind and pulse size."""

    t_s: NDArray[np.float64]  # R-peak time
    rr_s: NDArray[np.float64]  # interval from the previous beat
    kind: NDArray[np.int8]  # BeatKind
    pulse_rel: NDArray[np.float64]  # pulse (stroke volume) relative to a normal beat

    def __len__(self) -> int:
        return int(self.t_s.size)

    def window(self, t0_s: float, t1_s: float) -> BeatTable:
        """Beats with t0_s <= t < t1_s."""
        i0, i1 = np.searchsorted(self.t_s, (t0_s, t1_s))
        return BeatTable(self.t_s[i0:i1], self.rr_s[i0:i1], self.kind[i0:i1], self.pulse_rel[i0:i1])


@dataclass(frozen=True, slots=True)
class RhythmState:
    """What the beat generator needs to know about the patient at one moment."""

    hr_bpm: float
    rhythm: str  # "sinus" or "af"
    rr_sd_rel: float  # sinus RR sd as a fraction of the mean
    lf_hf_ratio: float
    af_rr_cv: float
    pvc_per_min: float
    pac_per_min: float
    resp_phase_rad: float


class RhythmSource(Protocol):
    """The patient's state over time, as the beat generator sees it."""

    def rhythm_state(self, t_s: float) -> RhythmState:
        """State at ``t_s``."""
        ...


class BeatTrain:
    """Beat times for any window, generated lazily and deterministically from a seed."""

    def __init__(self, seed: int, source: RhythmSource, *, extend_s: float = 60.0) -> None:
        self.seed = seed
        self.source = source
        self.extend_s = extend_s
        rng = np.random.default_rng([seed, _STREAM, 0xFFFF])
        self._lf_hz = rng.normal(LF_CENTRE_HZ, LF_SD_HZ, N_LF)
        self._lf_phase = rng.uniform(0.0, 2.0 * math.pi, N_LF)
        self._dropped = 0  # beats forgotten from the front (bounded memory)
        self._t: list[float] = []
        self._rr: list[float] = []
        self._kind: list[int] = []
        self._pulse: list[float] = []
        self._next_rr_s: float | None = None  # forced interval after an ectopic beat
        self._next_pulse = 1.0
        self._blocks: dict[int, NDArray[np.float64]] = {}
        self._table: BeatTable | None = None
        first = self.source.rhythm_state(START_S)
        u = self._draws(0)
        self._append(START_S + float(u[0]) * 60.0 / first.hr_bpm, 60.0 / first.hr_bpm, 0, 1.0)

    # --- public -----------------------------------------------------------------------

    def table(self, until_s: float) -> BeatTable:
        """Every beat so far, generated at least up to ``until_s``."""
        if self._t[-1] < until_s:
            self._extend(until_s + self.extend_s)
        if self._table is None:
            self._table = BeatTable(
                np.array(self._t),
                np.array(self._rr),
                np.array(self._kind, dtype=np.int8),
                np.array(self._pulse),
            )
        return self._table

    def window(self, t0_s: float, t1_s: float) -> BeatTable:
        """Beats with t0_s <= t < t1_s; raises ValueError if they were already forgotten."""
        table = self.table(t1_s)
        if self._dropped and t0_s < self._t[0]:
            raise ValueError(
                f"beats before {self._t[0]:.1f} s are forgotten (the train keeps the last "
                f"{MAX_BEATS}); asked for {t0_s:.1f} s"
            )
        return table.window(t0_s, t1_s)

    def truncate(self, after_s: float) -> None:
        """Forget beats after ``after_s`` (the source changed); later beats are drawn again."""
        keep = max(1, int(np.searchsorted(np.array(self._t), after_s, side="right")))
        del self._t[keep:], self._rr[keep:], self._kind[keep:], self._pulse[keep:]
        self._next_rr_s = None
        self._next_pulse = 1.0
        # Keep a pending pause: the beat after an ectopic one is already decided.
        sinus_rr = self._rr[-1] / (PVC_COUPLING if self._kind[-1] == BeatKind.PVC else PAC_COUPLING)
        if self._kind[-1] == BeatKind.PVC:
            self._next_rr_s, self._next_pulse = 2.0 * sinus_rr - self._rr[-1], POST_PAUSE_PULSE_REL
        elif self._kind[-1] == BeatKind.PAC:
            self._next_rr_s = sinus_rr
        self._table = None

    def sinus_modulation(self, t_s: float, state: RhythmState) -> float:
        """Relative RR change at ``t_s`` from LF (Mayer) and HF (respiratory) components."""
        var_lf = state.rr_sd_rel**2 * state.lf_hf_ratio / (1.0 + state.lf_hf_ratio)
        var_hf = state.rr_sd_rel**2 / (1.0 + state.lf_hf_ratio)
        amp_lf = math.sqrt(2.0 * var_lf / N_LF)
        lf = amp_lf * float(np.sum(np.sin(2.0 * math.pi * self._lf_hz * t_s + self._lf_phase)))
        # RR lengthens in expiration: phase 0..pi is inspiration (see patient.resp_phase).
        hf = -math.sqrt(2.0 * var_hf) * math.sin(state.resp_phase_rad)
        return lf + hf

    # --- generation -------------------------------------------------------------------

    def _draws(self, index: int) -> NDArray[np.float64]:
        """Four uniforms and one normal for beat ``index``, the same however the train grew."""
        block = index // _BLOCK
        if block not in self._blocks:
            rng = np.random.default_rng([self.seed, _STREAM, block])
            u = rng.random((_BLOCK, 4))
            z = rng.standard_normal((_BLOCK, 1))
            self._blocks[block] = np.hstack((u, z))
            if len(self._blocks) > 4:  # beats are generated in order: old blocks are done
                del self._blocks[min(self._blocks)]
        row: NDArray[np.float64] = self._blocks[block][index % _BLOCK]
        return row

    def _append(self, t_s: float, rr_s: float, kind: int, pulse: float) -> None:
        self._t.append(t_s)
        self._rr.append(rr_s)
        self._kind.append(kind)
        self._pulse.append(pulse)

    def _extend(self, until_s: float) -> None:
        self._table = None
        if len(self._t) > MAX_BEATS:
            drop = len(self._t) - MAX_BEATS // 2
            del self._t[:drop], self._rr[:drop], self._kind[:drop], self._pulse[:drop]
            self._dropped += drop
        while self._t[-1] < until_s:
            index = self._dropped + len(self._t)
            t_prev = self._t[-1]
            state = self.source.rhythm_state(t_prev)
            u_ect, u_kind, _, _, z = (float(v) for v in self._draws(index))
            mean_rr = 60.0 / state.hr_bpm
            if state.rhythm == "af":
                self._next_rr_s = None
                sigma = math.sqrt(math.log1p(state.af_rr_cv**2))
                rr = mean_rr * math.exp(sigma * z - 0.5 * sigma * sigma)
                rr = min(max(rr, RR_MIN_S), RR_MAX_S)
                # Pulse size follows the filling time; a very short interval barely ejects.
                pulse = min(max((rr / mean_rr) ** 0.8, 0.15), 1.4)
                if rr < AF_DEFICIT_RR_S:
                    pulse *= 0.3
                self._append(t_prev + rr, rr, BeatKind.AF, pulse)
                continue
            if self._next_rr_s is not None:
                rr, self._next_rr_s = self._next_rr_s, None
                self._append(t_prev + rr, rr, BeatKind.SINUS, self._next_pulse)
                continue
            sinus_rr = mean_rr * (1.0 + self.sinus_modulation(t_prev, state))
            sinus_rr = min(max(sinus_rr, RR_MIN_S), RR_MAX_S)
            p_ectopic = (state.pvc_per_min + state.pac_per_min) * sinus_rr / 60.0
            previous_normal = self._kind[-1] == BeatKind.SINUS
            if previous_normal and u_ect < p_ectopic:
                is_pvc = u_kind * (state.pvc_per_min + state.pac_per_min) < state.pvc_per_min
                coupling = PVC_COUPLING if is_pvc else PAC_COUPLING
                rr = max(coupling * sinus_rr, RR_MIN_S)
                if is_pvc:
                    self._next_rr_s = max(2.0 * sinus_rr - rr, RR_MIN_S)
                    self._next_pulse = POST_PAUSE_PULSE_REL
                    self._append(t_prev + rr, rr, BeatKind.PVC, PVC_PULSE_REL)
                else:
                    self._next_rr_s = sinus_rr
                    self._next_pulse = 1.0
                    self._append(t_prev + rr, rr, BeatKind.PAC, PAC_PULSE_REL)
                continue
            self._append(t_prev + sinus_rr, sinus_rr, BeatKind.SINUS, 1.0)
