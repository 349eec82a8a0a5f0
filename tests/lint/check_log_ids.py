#!/usr/bin/env python3
"""Every log message id used in the sources is documented in docs/error-reference.md, and each
documented id appears once there (ids are never reused)."""
import collections
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
used = set()
for path in (root / "mod_sinch_reminder").rglob("*"):
    if path.suffix in (".cpp", ".hpp", ".c", ".h"):
        used.update(re.findall(r'"(SR\d{4})', path.read_text()))
doc = (root / "docs" / "error-reference.md").read_text()
documented = re.findall(r"^\| (SR\d{4}) \|", doc, re.M)
problems = [f"{i}: used in the sources but not in docs/error-reference.md" for i in sorted(used - set(documented))]
problems += [f"{i}: documented {n} times" for i, n in collections.Counter(documented).items() if n > 1]
problems += [f"{i}: documented but used nowhere" for i in sorted(set(documented) - used)]
if len(used) < 10:
    problems.append(f"only {len(used)} ids found in the sources: is this lint broken?")
for p in problems:
    print(p)
print(f"{len(used)} ids used, {len(documented)} documented, {len(problems)} problems")
sys.exit(1 if problems else 0)
