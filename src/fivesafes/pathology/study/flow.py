"""The flow beneath a review study's allocation (issue 17): who reads how many of which cases.

Cases that are interchangeable for the allocation — the same readers may read them, they need
the same number of reads, and they already have the same readers' hospitals — form a
:class:`Group`. The network runs from a source to each group (its cases' reads), from a group
to each hospital's share of it, from there to each eligible reader of that hospital (at most
one read of each of the group's cases) and from each reader to the sink (the reader's
capacity). Grouping keeps the network small: a study of 5,000 cases and 100 readers at ten
hospitals is a network of a few hundred nodes, not half a million edges.

Loads are filled evenly, level by level: every reader's capacity is raised to the next level
and the flow is augmented (Dinic's algorithm) until every read has a reader. After each level
the flow is maximal for that level, so for every level ``l`` the sum over readers of
``min(load, l)`` is as large as any allocation allows: the sorted loads are the most even the
constraints permit — the largest load is the smallest achievable and, with nothing excluded,
loads differ by at most one. (Levels that every reader fills are taken several at a time.)

Hospitals are spread within that evenness. The loads are filled again with each case allowed
at most one reader from a hospital, then two, and so on, and the first cap whose loads are as
even as without it gives the loads. A last network fixes each reader's capacity at their load
and opens hospitals' shares one read per case at a time, so the flow takes what it can from
hospitals a case does not have yet before it doubles one up. A hospital's share of a group is
then dealt to its cases in turn (``allocation``): a share of at most the group's size gives
each case at most one reader from that hospital.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class FlowNetwork:
    """A directed network whose capacities may be raised between augmentations; each edge is
    stored next to its reverse, so edge ``e``'s reverse is ``e ^ 1``."""

    def __init__(self, nodes: int) -> None:
        self._out: list[list[int]] = [[] for _ in range(nodes)]
        self._head: list[int] = []  # the node each edge points to
        self._room: list[int] = []  # residual capacity
        self._capacity: list[int] = []

    def add_edge(self, tail: int, head: int, capacity: int) -> int:
        edge = len(self._head)
        for start, end, room in ((tail, head, capacity), (head, tail, 0)):
            self._out[start].append(len(self._head))
            self._head.append(end)
            self._room.append(room)
            self._capacity.append(room)
        return edge

    def flow(self, edge: int) -> int:
        return self._capacity[edge] - self._room[edge]

    def raise_capacity(self, edge: int, capacity: int) -> None:
        if capacity > self._capacity[edge]:
            self._room[edge] += capacity - self._capacity[edge]
            self._capacity[edge] = capacity

    def save(self) -> tuple[list[int], list[int]]:
        return list(self._room), list(self._capacity)

    def restore(self, saved: tuple[list[int], list[int]]) -> None:
        self._room, self._capacity = list(saved[0]), list(saved[1])

    def augment(self, source: int, sink: int) -> int:
        """Push as much more flow as fits from ``source`` to ``sink``; return how much."""
        pushed = 0
        while (level := self._levels(source, sink)) is not None:
            pushed += self._blocking_flow(source, sink, level)
        return pushed

    def _levels(self, source: int, sink: int) -> list[int] | None:
        level = [-1] * len(self._out)
        level[source] = 0
        queue = deque([source])
        while queue:
            node = queue.popleft()
            for edge in self._out[node]:
                head = self._head[edge]
                if self._room[edge] > 0 and level[head] < 0:
                    level[head] = level[node] + 1
                    queue.append(head)
        return level if level[sink] >= 0 else None

    def _blocking_flow(self, source: int, sink: int, level: list[int]) -> int:
        """Augment along shortest paths until none is left (iteratively: no recursion limit)."""
        next_edge = [0] * len(self._out)
        pushed = 0
        path: list[int] = []
        node = source
        while True:
            if node == sink:
                amount = min(self._room[edge] for edge in path)
                for edge in path:
                    self._room[edge] -= amount
                    self._room[edge ^ 1] += amount
                pushed += amount
                path.clear()
                node = source
                continue
            edges = self._out[node]
            while next_edge[node] < len(edges):
                edge = edges[next_edge[node]]
                if self._room[edge] > 0 and level[self._head[edge]] == level[node] + 1:
                    break
                next_edge[node] += 1
            else:  # a dead end: step back and skip the edge that led here
                if node == source:
                    return pushed
                node = self._head[path.pop() ^ 1]
                next_edge[node] += 1
                continue
            path.append(edge)
            node = self._head[edge]


@dataclass(frozen=True)
class Group:
    """``size`` interchangeable cases, each needing ``reads`` more reads from distinct readers
    among ``eligible`` (reader indices), each already read by ``taken[site]`` readers of a
    hospital (site index)."""

    size: int
    reads: int
    eligible: tuple[int, ...]
    taken: Mapping[int, int]


def balanced_reads(
    groups: Sequence[Group], reader_sites: Sequence[int], base_loads: Sequence[int]
) -> list[dict[int, int]] | None:
    """For each group, how many of its cases each reader reads: the loads (``base_loads`` plus
    the new reads) as even as possible, then hospitals spread across each case's readers.
    ``None`` when some case cannot get its reads."""
    most = max((g.reads + max(g.taken.values(), default=0) for g in groups), default=0)
    uncapped = _even_loads(_Network(groups, reader_sites), groups, base_loads, most)
    if uncapped is None:
        return None
    # The loads: the most even with as few readers of a case from one hospital as keeps them so.
    loads = uncapped
    for per_site in range(1, most):
        capped = _even_loads(_Network(groups, reader_sites), groups, base_loads, per_site)
        if capped is not None and sorted(capped) == sorted(uncapped):
            loads = capped
            break
    # At those loads, hospitals' shares are opened one read of each case at a time, so the
    # flow takes every read it can from hospitals not yet reading a case before any second.
    network = _Network(groups, reader_sites)
    for reader, edge in enumerate(network.sink_edges):
        network.raise_capacity(edge, loads[reader] - base_loads[reader])
    flow = 0
    for per_site in range(1, most + 1):
        network.open_shares(groups, per_site)
        flow += network.augment(_SOURCE, _SINK)
    assert flow == network.demand, "the loads were reached once, so they are reachable"
    return [
        {r: network.flow(e) for r, e in edges.items() if network.flow(e)}
        for edges in network.reader_edges
    ]


_SOURCE, _SINK = 0, 1


class _Network(FlowNetwork):
    """The study's network with every capacity after the source's at zero: the reader's
    share of a group (``reader_edges``, capacity the group's size: one read per case), the
    hospitals' shares (``share_edges``) and the readers' capacities (``sink_edges``)."""

    def __init__(self, groups: Sequence[Group], reader_sites: Sequence[int]) -> None:
        shares = [sorted({reader_sites[r] for r in group.eligible}) for group in groups]
        first_reader = 2 + len(groups) + sum(len(sites) for sites in shares)
        super().__init__(first_reader + len(reader_sites))
        self.demand = sum(group.size * group.reads for group in groups)
        self.eligible_cases = [0] * len(reader_sites)
        self.share_edges: list[dict[int, int]] = []
        self.reader_edges: list[dict[int, int]] = []
        node = 2
        for group, sites in zip(groups, shares, strict=True):
            group_node, node = node, node + 1
            self.add_edge(_SOURCE, group_node, group.size * group.reads)
            share_node: dict[int, int] = {}
            share_edges: dict[int, int] = {}
            for site in sites:
                share_node[site], node = node, node + 1
                share_edges[site] = self.add_edge(group_node, share_node[site], 0)
            reader_edges = {}
            for reader in group.eligible:
                tail, head = share_node[reader_sites[reader]], first_reader + reader
                reader_edges[reader] = self.add_edge(tail, head, group.size)
                self.eligible_cases[reader] += group.size
            self.share_edges.append(share_edges)
            self.reader_edges.append(reader_edges)
        self.sink_edges = [
            self.add_edge(first_reader + reader, _SINK, 0) for reader in range(len(reader_sites))
        ]

    def open_shares(self, groups: Sequence[Group], per_site: int) -> None:
        """Let each case take up to ``per_site`` readers from one hospital, counting those it
        has already."""
        for group, shares in zip(groups, self.share_edges, strict=True):
            for site, edge in shares.items():
                room = max(0, min(group.reads, per_site - group.taken.get(site, 0)))
                self.raise_capacity(edge, room * group.size)


def _even_loads(
    network: _Network, groups: Sequence[Group], base_loads: Sequence[int], per_site: int
) -> list[int] | None:
    """Fill readers level by level (see the module's docstring), each case taking at most
    ``per_site`` readers from one hospital: each reader's final load, or ``None`` when the
    reads cannot all be given."""
    network.open_shares(groups, per_site)

    def full(level: int) -> bool:
        """Whether every reader the flow can still reach is full at ``level``."""
        return all(
            network.flow(edge) == max(0, level - base_loads[reader])
            for reader, edge in enumerate(network.sink_edges)
            if reader not in final
        )

    # Levels are taken in strides that double while every reader fills them and halve when
    # one does not; only a one-level stride may leave a reader short, and such a reader can
    # no longer be reached by the flow (no residual path leads to it), so its load is final.
    final: set[int] = set()
    ceiling = [b + e for b, e in zip(base_loads, network.eligible_cases, strict=True)]
    highest = max(ceiling, default=0)
    level, stride, flow = min(base_loads, default=0), 1, 0
    while flow < network.demand:
        if level >= highest:
            return None
        target = min(level + stride, highest)
        saved = network.save()
        for reader, edge in enumerate(network.sink_edges):
            network.raise_capacity(edge, max(0, target - base_loads[reader]))
        pushed = network.augment(_SOURCE, _SINK)
        if target == level + 1 or full(target):
            level, flow, stride = target, flow + pushed, stride * 2
            final.update(
                reader
                for reader, edge in enumerate(network.sink_edges)
                if network.flow(edge) < target - base_loads[reader]
            )
        else:
            network.restore(saved)
            stride = max(1, stride // 2)
    return [b + network.flow(e) for b, e in zip(base_loads, network.sink_edges, strict=True)]
