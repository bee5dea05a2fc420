"""The compiled replay behind :func:`saosim.metrics.staleness.staleness` (see that module for the
maths).

One pass over the events of one scenario in time order — source arrivals, build starts, build
finishes — keeping per node ``U``, the time of the oldest arrival not yet reflected (``2**62``
when none is pending). Ties at one instant go in topological order (a parent's event before its
child's), an arrival before a build that starts at the same instant (data landed at ``s`` counts
for a build starting at ``s``), and a build's start before its finish. Every change of ``U``
closes one segment of the staleness curve ``max(0, t − U)``, integrated in closed form.

>>> import numpy as np
>>> from saosim.project.graph import Project
>>> g = staleness_graph(Project.from_spec({"raw.a": [], "m": ["raw.a"]}))
>>> H = 3_600_000_000
>>> acc = replay_staleness(g, np.array([0, 1, 1]), np.array([H // 6]), np.array([1]),
...     np.array([H]), np.array([H]), t0_us=0, t1_us=2 * H, day0_us=0, n_days=1,
...     tier_of=np.zeros(2, dtype=np.int64), n_tiers=1, sla_s=np.full(2, np.nan),
...     bin_s=2 * 3600 / 1024, n_bins=1024)
>>> float(acc["max"][1]) / 60   # landed 00:10, built 01:00 → 50 minutes at worst
50.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numba
import numpy as np

if TYPE_CHECKING:
    from saosim.project.graph import Project

__all__ = [
    "StalenessGraph",
    "StalenessReplay",
    "replay_staleness",
    "staleness_graph",
]

_INF = np.int64(2**62)
_DAY_US = np.int64(86_400_000_000)


KIND_SOURCE, KIND_TABLE, KIND_LIVE, KIND_OTHER = 0, 1, 2, 3


@dataclass(frozen=True, eq=False)
class StalenessGraph:
    """The project as arrays in topological order (index = position in ``project.order``)."""

    node_ids: tuple[str, ...]
    kind: np.ndarray  # int8, KIND_*
    parent_ptr: np.ndarray
    parent_idx: np.ndarray
    live_ptr: np.ndarray  # live children of each node (propagated eagerly)
    live_idx: np.ndarray
    measured: np.ndarray  # bool: nodes whose staleness is reported


def staleness_graph(project: Project, *, live_views: bool = True) -> StalenessGraph:
    """The arrays the staleness replay needs.

    >>> from saosim.project.graph import Project
    >>> g = staleness_graph(Project.from_spec({"raw.a": [], "m": ["raw.a"]}))
    >>> g.kind.tolist(), g.parent_idx.tolist()
    ([0, 1], [0])
    """
    order = project.order
    pos = project.position
    kind = np.full(len(order), KIND_OTHER, dtype=np.int8)
    measured = np.zeros(len(order), dtype=np.bool_)
    for i, uid in enumerate(order):
        node = project.nodes[uid]
        if node.resource_type == "source":
            kind[i] = KIND_SOURCE
        elif node.is_buildable:
            live = node.is_ephemeral or (live_views and node.materialization == "view")
            kind[i] = KIND_LIVE if live else KIND_TABLE
            measured[i] = node.resource_type in ("model", "snapshot") and not node.is_ephemeral
    p_ptr = np.zeros(len(order) + 1, dtype=np.int64)
    p_idx: list[int] = []
    children: list[list[int]] = [[] for _ in order]
    for i, uid in enumerate(order):
        if kind[i] in (KIND_TABLE, KIND_LIVE):
            for parent in project.parents(uid):
                j = pos[parent]
                if kind[j] != KIND_OTHER:
                    p_idx.append(j)
                    if kind[i] == KIND_LIVE:
                        children[j].append(i)
        p_ptr[i + 1] = len(p_idx)
    l_ptr = np.zeros(len(order) + 1, dtype=np.int64)
    l_ptr[1:] = np.cumsum([len(c) for c in children])
    l_idx = np.array([c for cs in children for c in cs], dtype=np.int64)
    return StalenessGraph(
        order, kind, p_ptr, np.array(p_idx, dtype=np.int64), l_ptr, l_idx, measured
    )


@dataclass(eq=False)
class StalenessReplay:
    """The replay of one scenario, fed its builds a batch at a time (:meth:`add`) and read
    once at the end (:meth:`result`).

    A batch's events before ``upto`` are replayed at once and let go; builds that start or
    finish later wait for the next batch. The caller promises that no later batch holds a
    build starting before ``upto`` (a log in ``run_at`` order, every build starting at or after
    its run: ``upto`` is the last ``run_at`` read). With ``upto=None`` everything waits for
    :meth:`result` — any log, all its builds in memory.
    """

    graph: StalenessGraph
    arr_ptr: np.ndarray
    arr_t: np.ndarray
    t0_us: int
    t1_us: int
    day0_us: int
    n_days: int
    tier_of: np.ndarray
    n_tiers: int
    sla_s: np.ndarray
    bin_s: float
    n_bins: int
    _state: dict[str, np.ndarray] = field(init=False, repr=False)
    #: builds not finished yet: (node, start, finish, what each read at its start or _INF)
    _waiting: list[tuple[np.ndarray, ...]] = field(init=False, repr=False)
    _ia: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        g, n = self.graph, len(self.graph.node_ids)
        a_node = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.arr_ptr))
        keep = (self.arr_t > self.t0_us) & (self.arr_t <= self.t1_us)
        a_node, a_time = a_node[keep], self.arr_t[keep].astype(np.int64)
        a_sort = _order(a_time, a_node)
        if a_sort is not None:
            a_node, a_time = a_node[a_sort], a_time[a_sort]
        u, ptr = _fresh(g.kind, g.parent_ptr, g.parent_idx, self.arr_ptr, self.arr_t, self.t0_us)
        self._state = {
            "a_node": a_node,
            "a_time": a_time,
            "u": u,
            "ptr": ptr,
            "last": np.full(n, self.t0_us, dtype=np.int64),
            "integral": np.zeros(n),
            "max": np.zeros(n),
            "stale": np.zeros(n),
            "sla": np.zeros(n),
            "hist": np.zeros((self.n_tiers, 4, self.n_bins)),
            "day_integral": np.zeros((self.n_tiers, self.n_days)),
            "day_sla": np.zeros((self.n_tiers, self.n_days)),
            "tier_of": self.tier_of.astype(np.int64),
            "sla_us": (self.sla_s * 1e6).astype(np.float64),
        }
        self._waiting = []

    def add(self, node: np.ndarray, start: np.ndarray, finish: np.ndarray, upto: int | None):
        """Builds of the next rows of the log (start/finish in µs; finish ≥ start), replaying
        every event before ``upto`` (None: none yet)."""
        unew = np.full(len(node), _INF, dtype=np.int64)
        self._waiting.append((node, start, finish, unew))
        if upto is not None:
            self._replay(upto)

    def _replay(self, stop: int) -> None:
        if not self._waiting:
            self._waiting.append(tuple(np.zeros(0, dtype=np.int64) for _ in range(4)))
        if len(self._waiting) == 1:
            node, start, finish, unew = (np.asarray(c, np.int64) for c in self._waiting[0])
        else:
            node, start, finish, unew = (
                np.concatenate(columns).astype(np.int64, copy=False)
                for columns in zip(*self._waiting, strict=True)
            )
        self._waiting = []
        waiting = np.flatnonzero(unew == _INF)  # not started yet
        if len(waiting) == len(node):
            s_order = _order(start, node)
            if s_order is None:
                s_order = waiting
        else:
            s_sort = _order(start[waiting], node[waiting])
            s_order = waiting if s_sort is None else waiting[s_sort]
        del waiting
        f_order = _order(finish, node)
        if f_order is None:
            f_order = np.arange(len(node), dtype=np.int64)
        g, st = self.graph, self._state
        self._ia, n_finished = _step(
            g.kind, g.measured, g.parent_ptr, g.parent_idx, g.live_ptr, g.live_idx,
            self.arr_ptr.astype(np.int64, copy=False), self.arr_t.astype(np.int64, copy=False),
            st["a_node"], st["a_time"], self._ia,
            node, start, finish, s_order, f_order, unew, np.int64(stop),
            np.int64(self.day0_us), st["tier_of"], st["sla_us"], float(self.bin_s) * 1e6,
            st["u"], st["last"], st["ptr"], st["integral"], st["max"], st["stale"],
            st["sla"], st["hist"], st["day_integral"], st["day_sla"],
        )  # fmt: skip
        del s_order
        if n_finished < len(node):
            left = np.ones(len(node), dtype=np.bool_)
            left[f_order[:n_finished]] = False
            self._waiting.append(tuple(column[left] for column in (node, start, finish, unew)))

    def result(self) -> dict[str, np.ndarray]:
        """Replay what is left up to the window's end; per-node and per-tier accumulators
        (seconds, seconds²)."""
        self._replay(self.t1_us + 1)
        g, st = self.graph, self._state
        _close(
            g.measured, np.int64(self.t1_us), np.int64(self.day0_us), st["tier_of"],
            st["sla_us"], float(self.bin_s) * 1e6, st["u"], st["last"], st["integral"],
            st["max"], st["stale"], st["sla"], st["hist"], st["day_integral"], st["day_sla"],
        )  # fmt: skip
        out = {k: st[k] for k in ("integral", "max", "stale", "sla", "hist")}
        out |= {k: st[k] for k in ("day_integral", "day_sla")}
        # the kernel works in microseconds; report seconds
        out["integral"] /= 1e12
        out["max"] /= 1e6
        out["stale"] /= 1e6
        out["sla"] /= 1e6
        out["hist"][:, 1, :] /= 1e6
        out["hist"][:, 3, :] /= 1e6
        out["day_integral"] /= 1e12
        out["day_sla"] /= 1e6
        return out


def replay_staleness(
    graph: StalenessGraph,
    arr_ptr: np.ndarray,
    arr_t: np.ndarray,
    b_node: np.ndarray,
    b_start: np.ndarray,
    b_finish: np.ndarray,
    **window,
) -> dict[str, np.ndarray]:
    """Run the replay over all builds at once (``window``: :class:`StalenessReplay`'s
    other fields); returns per-node and per-tier accumulators (seconds, seconds²)."""
    replay = StalenessReplay(graph, arr_ptr, arr_t, **window)
    replay.add(b_node, b_start, b_finish, upto=None)
    return replay.result()


def _order(t: np.ndarray, node: np.ndarray) -> np.ndarray | None:
    """Indices sorting by (time, node), or ``None`` when already in that order (the usual case:
    a log written run by run in topological order), checked without temporaries."""
    if len(t) == 0 or _is_sorted(t, node):
        return None
    span = int(node.max()) + 1
    first = int(t.min())
    if node.min() >= 0 and (int(t.max()) - first + 1) * span < 2**63:
        # one int64 key and a stable sort: lexsort's order exactly (equal pairs keep the log's
        # order), 3-6x faster on a log that is sorted run by run already
        return np.argsort((t - first) * span + node, kind="stable")
    return np.lexsort((node, t))


@numba.njit(cache=True)
def _is_sorted(t, node):
    for i in range(1, t.shape[0]):
        if t[i] < t[i - 1] or (t[i] == t[i - 1] and node[i] < node[i - 1]):
            return False
    return True


# inlined into the replay's step (numba IR level): called per event with fifteen arrays, a
# call cost ~15% of the step
@numba.njit(cache=True, inline="always")
def _integrate(
    n, x, y, u, tier, sla, day0, bin_us, integral, mx, stale, slam, hist, day_int, day_sla
):
    # staleness(t) = max(0, t − u) on [x, y]; every quantity in microseconds
    if y <= x or u >= y:
        return
    lo = x if x > u else u
    v0 = float(lo - u)
    v1 = float(y - u)
    integral[n] += (v1 * v1 - v0 * v0) / 2.0
    if v1 > mx[n]:
        mx[n] = v1
    stale[n] += v1 - v0
    n_bins = hist.shape[2]
    b0 = min(int(v0 / bin_us), n_bins - 1)
    b1 = min(int(v1 / bin_us), n_bins - 1)
    hist[tier, 0, b0] += 1.0
    hist[tier, 1, b0] += v0
    hist[tier, 2, b1] += 1.0
    hist[tier, 3, b1] += v1
    has_sla = sla == sla
    thr = u + np.int64(sla) if has_sla else _INF
    if has_sla and y > max(lo, thr):
        slam[n] += float(y - max(lo, thr))
    n_days = day_int.shape[1]
    d = (lo - day0) // _DAY_US
    while d < n_days:
        ds = day0 + d * _DAY_US
        de = ds + _DAY_US
        a = max(lo, ds)
        b = min(y, de)
        if b > a and d >= 0:
            fa = float(a - u)
            fb = float(b - u)
            day_int[tier, d] += (fb * fb - fa * fa) / 2.0
            if has_sla and b > max(a, thr):
                day_sla[tier, d] += float(b - max(a, thr))
        if de >= y:
            break
        d += 1


@numba.njit(cache=True, inline="always")
def _parents_min(n, u, p_ptr, p_idx):
    m = _INF
    for j in range(p_ptr[n], p_ptr[n + 1]):
        v = u[p_idx[j]]
        if v < m:
            m = v
    return m


@numba.njit(cache=True)
def _fresh(kind, p_ptr, p_idx, arr_ptr, arr_t, t0):
    """The state at the window's start: a virtual build of everything at t0, in topological
    order (``u`` per node, each source's next arrival)."""
    n_nodes = kind.shape[0]
    u = np.empty(n_nodes, dtype=np.int64)
    ptr = arr_ptr[:-1].astype(np.int64)
    for n in range(n_nodes):
        if kind[n] == 0:
            k = ptr[n]
            while k < arr_ptr[n + 1] and arr_t[k] <= t0:
                k += 1
            ptr[n] = k
            u[n] = arr_t[k] if k < arr_ptr[n + 1] else _INF
        elif kind[n] == 1 or kind[n] == 2:
            u[n] = _parents_min(n, u, p_ptr, p_idx)
        else:
            u[n] = _INF
    return u, ptr


@numba.njit(cache=True, inline="always")
def _heap_push(heap, size, v):
    """Push ``v`` on the min-heap ``heap[:size]``; returns the new size. A fixed array:
    numba's ``heapq`` on a list made the whole replay ~1.4x slower."""
    i = size
    while i > 0:
        up = (i - 1) >> 1
        if heap[up] <= v:
            break
        heap[i] = heap[up]
        i = up
    heap[i] = v
    return size + 1


@numba.njit(cache=True, inline="always")
def _heap_pop(heap, size):
    """The least of ``heap[:size]`` and the new size."""
    top = heap[0]
    size -= 1
    last = heap[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and heap[c + 1] < heap[c]:
            c += 1
        if last <= heap[c]:
            break
        heap[i] = heap[c]
        i = c
    heap[i] = last
    return top, size


@numba.njit(cache=True, nogil=True)
def _step(
    kind, measured, p_ptr, p_idx, l_ptr, l_idx, arr_ptr, arr_t, a_node, a_time, ia,
    b_node, b_start, b_finish, s_order, f_order, unew, stop,
    day0, tier_of, sla_us, bin_us, u, last, ptr,
    integral, mx, stale, slam, hist, day_int, day_sla,
):  # fmt: skip
    """Replay the events before ``stop``: arrivals from ``ia`` on, the starts of builds
    ``s_order``, the finishes of builds ``f_order``; returns the next arrival and how many
    finishes were replayed (a build's ``unew`` holds what it read at its start)."""
    n_nodes = kind.shape[0]
    dirty = np.zeros(n_nodes, dtype=np.bool_)
    heap = np.empty(n_nodes, dtype=np.int64)  # each node at most once (``dirty``)
    size = 0
    ib = 0
    jf = 0
    na = a_node.shape[0]
    ns = s_order.shape[0]
    nf = f_order.shape[0]
    while True:
        # next event by (time, node, kind): arrival 0 < start 1 < finish 2
        ev = -1
        et = _INF
        en = np.int64(0)
        if ia < na:
            ev, et, en = 0, a_time[ia], a_node[ia]
        if ib < ns:
            b = s_order[ib]
            t, m = b_start[b], b_node[b]
            if ev == -1 or t < et or (t == et and m < en):
                ev, et, en = 1, t, m
        if jf < nf:
            b = f_order[jf]
            t, m = b_finish[b], b_node[b]
            if ev == -1 or t < et or (t == et and m < en):
                ev, et, en = 2, t, m
        if ev == -1 or et >= stop:
            break
        changed = False
        if ev == 0:
            ia += 1
            k = ptr[en]
            while k < arr_ptr[en + 1] and arr_t[k] <= et:
                k += 1
            ptr[en] = k
            new = arr_t[k] if k < arr_ptr[en + 1] else _INF
            if new != u[en]:
                u[en] = new
                changed = True
        elif ev == 1:
            unew[s_order[ib]] = _parents_min(en, u, p_ptr, p_idx)
            ib += 1
        else:
            b = f_order[jf]
            jf += 1
            # max(): overlapping builds never move a node back in time
            if kind[en] == 1 and unew[b] > u[en]:
                if measured[en]:
                    _integrate(
                        en, last[en], et, u[en], tier_of[en], sla_us[en], day0, bin_us,
                        integral, mx, stale, slam, hist, day_int, day_sla,
                    )  # fmt: skip
                last[en] = et
                u[en] = unew[b]
                changed = True
        if changed:
            # live children (views, ephemerals) follow their parents at once, in topo order
            for j in range(l_ptr[en], l_ptr[en + 1]):
                c = l_idx[j]
                if not dirty[c]:
                    dirty[c] = True
                    size = _heap_push(heap, size, c)
            while size > 0:
                v, size = _heap_pop(heap, size)
                dirty[v] = False
                new = _parents_min(v, u, p_ptr, p_idx)
                if new != u[v]:
                    if measured[v]:
                        _integrate(
                            v, last[v], et, u[v], tier_of[v], sla_us[v], day0, bin_us,
                            integral, mx, stale, slam, hist, day_int, day_sla,
                        )  # fmt: skip
                    last[v] = et
                    u[v] = new
                    for j in range(l_ptr[v], l_ptr[v + 1]):
                        c = l_idx[j]
                        if not dirty[c]:
                            dirty[c] = True
                            size = _heap_push(heap, size, c)
    return ia, jf


@numba.njit(cache=True)
def _close(
    measured, t1, day0, tier_of, sla_us, bin_us, u, last,
    integral, mx, stale, slam, hist, day_int, day_sla,
):  # fmt: skip
    """Every measured node's last segment, to the window's end."""
    for n in range(measured.shape[0]):
        if measured[n]:
            _integrate(
                n, last[n], t1, u[n], tier_of[n], sla_us[n], day0, bin_us,
                integral, mx, stale, slam, hist, day_int, day_sla,
            )  # fmt: skip
