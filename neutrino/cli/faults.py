"""``neutrino lab break FAULT [TARGET]`` and ``neutrino lab heal``."""
from __future__ import annotations

from neutrino.diagnose import faults
from neutrino.lab.layout import Lab


def run(lab: Lab, args) -> int:
    if args.action == "heal":
        if not faults.heal(lab):
            print(f"lab {lab.name}: nothing to heal")
        return 0
    if args.fault in ("list", "help"):
        print("faults:\n" + faults.catalogue())
        return 0
    entry = faults.break_(lab, args.fault, args.target)
    print(f"broke {entry['fault']}: {entry['undo']}; `neutrino lab heal --name {lab.name}` "
          "undoes it")
    return 0
