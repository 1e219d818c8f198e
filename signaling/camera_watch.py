"""Camera-off accounting: when during a call the camera was really on, and why not.

Pure, with explicit times in seconds since the call became active. Each cause of
"camera off" is switched on and off independently; the camera is off while any
cause is active. Causes: ``no_frames`` (no frame for more than ``max_gap_s``),
``muted`` and ``ended`` (the track), ``page_hidden`` (``visibilitychange``), and
``camera_black``, ``camera_covered``, ``camera_frozen`` (what the analysed frames show).

The picture causes come from samples, so they are only as good as the sampling: each
sample's picture holds for ``picture_ttl_s`` at most (about one sample interval), and
if the server analyses no newer one (its threads or its event loop busy), the cause
lapses instead of stretching one black frame over the server's gap. Likewise a gap in
the frames that overlaps a stretch when the server did not look (``server_gap``: its
event loop stalled, so frames waiting in the socket were not read) is not the page's:
``no_frames`` counts only from when the server looked again. And when the server
sampled a call too sparsely to judge it at all, its session ignores the off periods
only pictures caused (``on_fraction(t, ignore=PICTURE_CAUSES)``).

While the staff page is gone (``away``: a reload, a switch from Wi-Fi to mobile data)
and until its camera is back after it rejoins, time is not measured at all: a dropped
network neither helps nor counts against the share of the call with the camera on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NO_FRAMES = "no_frames"
AWAY = "away"
PICTURE_CAUSES = ("camera_black", "camera_covered", "camera_frozen")


@dataclass(frozen=True)
class OffPeriod:
    start: float
    end: float
    causes: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"start": round(self.start, 2), "end": round(self.end, 2), "causes": self.causes}


@dataclass
class CameraWatch:
    """The camera's on/off timeline of one call.

    The measured period starts at the first frame, or ``connect_grace_s`` after the
    call became active if no frame came by then: connecting the analysis leg takes a
    moment that should count neither for nor against the staff member.
    """

    max_gap_s: float = 2.0
    connect_grace_s: float = 10.0
    picture_ttl_s: float = 1.5
    start: float | None = None
    last_frame: float | None = None
    active: set[str] = field(default_factory=set)
    periods: list[OffPeriod] = field(default_factory=list)
    _off_since: float | None = None
    _causes_seen: set[str] = field(default_factory=set)
    _now: float = 0.0
    _away: list[list[float | None]] = field(default_factory=list)  # [from, until] each
    _back_at: float | None = None
    _picture_at: float | None = None  # the newest analysed picture
    _looked_at: float | None = None  # the end of the server's last gap

    def _begin(self, t: float) -> None:
        if self.start is None:
            self.start = t

    def _switch(self, cause: str, on: bool, t: float) -> None:
        t = max(t, self._now)
        self._now = t
        was_off = bool(self.active)
        if on:
            self.active.add(cause)
            self._causes_seen.add(cause)
        else:
            self.active.discard(cause)
        if not was_off and self.active:
            self._off_since = t
            self._causes_seen = set(self.active)
        elif was_off and not self.active and self._off_since is not None:
            if self.start is not None and t > self._off_since:
                start = max(self._off_since, self.start)
                self.periods.append(OffPeriod(start, t, tuple(sorted(self._causes_seen))))
            self._off_since = None

    def away(self, t: float) -> None:
        """The staff page went away; time stops being measured."""
        self._back_at = None
        if AWAY not in self.active:
            self._switch(AWAY, True, t)
            self._away.append([max(t, self._now), None])

    def back(self, t: float) -> None:
        """The page rejoined: measured again from its first frame, or from
        ``connect_grace_s`` later if none comes."""
        if AWAY in self.active:
            self._back_at = t

    def _return(self, t: float) -> None:
        self._switch(AWAY, False, t)
        self._away[-1][1] = max(t, self._now)
        self._back_at = None

    def frame(self, t: float) -> None:
        """A frame arrived."""
        self._lapse(t)
        if AWAY in self.active:
            if self._back_at is None:
                return  # a late frame of the connection that went away
            self._return(t)
        self._begin(t)
        self.last_frame = t
        if NO_FRAMES in self.active:
            self._switch(NO_FRAMES, False, t)

    def set(self, cause: str, on: bool, t: float) -> None:
        """Switch a cause (other than ``no_frames``) on or off at ``t``."""
        self._lapse(t)
        self._switch(cause, on, t)

    def picture(self, causes: dict[str, bool], t: float) -> None:
        """An analysed sample's picture causes (``PICTURE_CAUSES``), each on or off,
        holding until the next sample or for ``picture_ttl_s``, whichever is first."""
        self._lapse(t)
        self._picture_at = t
        for cause, on in causes.items():
            self._switch(cause, on, t)

    def server_gap(self, t: float) -> None:
        """The server did not look until ``t`` (its event loop was late): a gap in the
        frames until then is not evidence; ``no_frames`` may start ``max_gap_s`` later."""
        self._looked_at = t if self._looked_at is None else max(self._looked_at, t)

    def _lapse(self, t: float) -> None:
        """Switch off the picture causes whose sample is older than ``picture_ttl_s``."""
        if self._picture_at is None or t <= self._picture_at + self.picture_ttl_s:
            return
        until = self._picture_at + self.picture_ttl_s
        for cause in PICTURE_CAUSES:
            if cause in self.active:
                self._switch(cause, False, until)

    def tick(self, t: float) -> None:
        """Advance the clock: starts ``no_frames`` when the feed has gone quiet."""
        if self._back_at is not None and t >= self._back_at + self.connect_grace_s:
            self._return(self._back_at + self.connect_grace_s)
        if self.start is None and t >= self.connect_grace_s:
            self._begin(self.connect_grace_s)
        self._lapse(t)
        if self.start is None or NO_FRAMES in self.active:
            self._now = max(self._now, t)
            return
        # Before any frame the camera is off from the start of the measured period.
        since = self.start - self.max_gap_s if self.last_frame is None else self.last_frame
        if self._looked_at is not None:
            since = max(since, self._looked_at)
        if t - since > self.max_gap_s:
            self._switch(NO_FRAMES, True, since + self.max_gap_s)
        self._now = max(self._now, t)

    def off_periods(self, t: float) -> list[OffPeriod]:
        """Every off period up to ``t``, the open one closed at ``t``."""
        out = list(self.periods)
        if self._off_since is not None and self.start is not None and t > self._off_since:
            out.append(
                OffPeriod(max(self._off_since, self.start), t, tuple(sorted(self._causes_seen)))
            )
        return out

    def on_fraction(self, t: float, ignore: frozenset[str] = frozenset()) -> float | None:
        """Share of the measured period up to ``t`` with the camera on; None before it
        starts. An off period whose causes all lie in ``ignore`` counts as on (a call
        the server sampled too sparsely ignores its ``PICTURE_CAUSES``)."""
        self.tick(t)
        if self.start is None or t <= self.start:
            return None
        start = self.start
        # Away is itself a cause of "off": its time leaves the off periods and the total.
        away = sum(
            max(0.0, min(t, u if u is not None else t) - max(f or 0.0, start))
            for f, u in self._away
        )
        measured = t - start - away
        if measured <= 0:
            return None
        periods = self.off_periods(t)
        off = sum(p.end - p.start for p in periods if not set(p.causes) <= ignore) - away
        return max(0.0, min(1.0, 1 - off / measured))
