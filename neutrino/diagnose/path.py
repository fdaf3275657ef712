"""What ``explain`` produces: hops, a verdict, a fix (plain data, JSON-ready)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Hop:
    node: str                 # lab node, or the instance's name for its own namespace
    device: str
    what: str
    ok: bool = True
    reason: str | None = None
    fix: str | None = None
    fix_api: dict | None = None   # the same fix as an API request, for tools without `openstack`
    direction: str = "forward"
    detail: dict = field(default_factory=dict)

    def fail(self, reason: str, fix: str | None = None, fix_api: dict | None = None) -> "Hop":
        self.ok, self.reason, self.fix, self.fix_api = False, reason, fix, fix_api
        return self


@dataclass
class Explanation:
    src: str
    dst: str
    proto: str
    port: int | None
    hops: list[Hop] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    src_ip: str = ""
    dst_ip: str = ""

    @property
    def failed(self) -> tuple[int, Hop] | None:
        for i, hop in enumerate(self.hops, 1):
            if not hop.ok:
                return i, hop
        return None

    @property
    def verdict(self) -> str:
        return "dropped" if self.failed else "delivered"

    def to_json(self) -> dict:
        failed = self.failed
        out = {"src": self.src, "dst": self.dst, "src_ip": self.src_ip, "dst_ip": self.dst_ip,
               "proto": self.proto, "port": self.port,
               "verdict": self.verdict,
               "hops": [{"n": i, **{k: v for k, v in asdict(h).items() if v not in (None, {})}}
                        for i, h in enumerate(self.hops, 1)],
               "notes": self.notes, "elapsed": round(self.elapsed, 3),
               "dropped_at": None, "fix": None, "fix_api": None}
        if failed:
            n, hop = failed
            out["dropped_at"] = {"hop": n, "node": hop.node, "device": hop.device,
                                 "reason": hop.reason, "direction": hop.direction}
            out["fix"], out["fix_api"] = hop.fix, hop.fix_api
        return out

    def to_text(self) -> str:
        lines = [f"{self.src} -> {self.dst} ({self.proto}"
                 + (f" port {self.port}" if self.port else "") + ")"]
        direction = None
        failed = self.failed
        for i, hop in enumerate(self.hops, 1):
            if hop.direction != direction:
                direction = hop.direction
                lines.append(f"  {direction} path:")
            mark = "  " if hop.ok else "!!"
            lines.append(f"  {mark}{i:3d}  {hop.node:<11} {hop.device:<16} {hop.what}")
            if not hop.ok:
                lines.append(f"{'':>24}DROPPED: {hop.reason}")
            if failed and i == failed[0]:
                break
        for note in self.notes:
            lines.append(f"  note: {note}")
        if failed:
            n, hop = failed
            lines.append(f"verdict: dropped at hop {n} ({hop.node} {hop.device}): {hop.reason}")
            if hop.fix:
                lines.append(f"fix: {hop.fix}")
        else:
            lines.append("verdict: delivered")
        return "\n".join(lines)
