"""The lab's Networking API as diagnosis needs it: plain GET/PUT of collections."""
from __future__ import annotations

from neutrino.errors import NeutrinoError
from neutrino.lab.api import LabApi


class DiagnoseApi(LabApi):
    def get(self, path: str, params: dict | None = None) -> dict:
        return self._call("GET", path, params=params) or {}

    def put(self, path: str, body: dict) -> dict:
        return self._call("PUT", path, body) or {}

    def post(self, path: str, body: dict, ok_conflict: bool = False) -> dict:
        """POST; with ``ok_conflict`` an existing equal resource (409) is fine."""
        try:
            return self._call("POST", path, body) or {}
        except NeutrinoError as exc:
            if ok_conflict and " 409 " in str(exc):
                return {}
            raise

    def delete(self, path: str) -> None:
        self._call("DELETE", path)
