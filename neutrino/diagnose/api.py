"""The lab's Networking API as diagnosis needs it: plain GET/PUT of collections."""
from __future__ import annotations

from neutrino.lab.api import LabApi


class DiagnoseApi(LabApi):
    def get(self, path: str, params: dict | None = None) -> dict:
        return self._call("GET", path, params=params) or {}

    def put(self, path: str, body: dict) -> dict:
        return self._call("PUT", path, body) or {}
