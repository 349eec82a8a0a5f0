#!/usr/bin/env python3
"""One source of truth per directive: every directive in core/settings.def must be documented in
README.md (a '### Name' entry with Syntax, Default, Context and Example) and listed in
conf/sinch_reminder.conf; and nothing may be documented that does not exist."""
import re
import sys

root = sys.argv[1]
settings_def = open(f"{root}/mod_sinch_reminder/core/settings.def").read()
declared = re.findall(r"^SR_(?:LIST_|LABELLED_)?DIRECTIVE\((SinchReminder\w+),", settings_def, re.M)
member_of = dict(re.findall(r"^SR_(?:LIST_|LABELLED_)?DIRECTIVE\((SinchReminder\w+), (\w+),", settings_def, re.M))
scope_of = dict(re.findall(r"^SR_FIELD\((\w+), .*, (server|clinic)\)$", settings_def, re.M))
readme = open(f"{root}/README.md").read()
conf = open(f"{root}/conf/sinch_reminder.conf").read()

problems = []
if len(declared) < 10:
    problems.append(f"only {len(declared)} directives found in settings.def: is the parser of this lint broken?")
sections = {m.group(1): m.group(2) for m in
            re.finditer(r"^### (SinchReminder\w+)\n(.*?)(?=^### |^## |\Z)", readme, re.M | re.S)}
for name in declared:
    if name not in sections:
        problems.append(f"{name}: no '### {name}' entry in README.md")
    else:
        for field in ("Syntax", "Default", "Context", "Example"):
            if f"**{field}**" not in sections[name]:
                problems.append(f"{name}: README entry lacks **{field}**")
        # Where a directive may appear is what httpd enforces (settings.def scope): the README must say the same.
        context = re.search(r"\*\*Context\*\*: ([^\n]*)", sections[name])
        in_location = bool(context) and "<Location>" in context.group(1)
        if scope_of.get(member_of.get(name)) == "clinic" and not in_location:
            problems.append(f"{name}: a clinic's setting, but its README Context does not name the <Location> of a mount")
        if scope_of.get(member_of.get(name)) == "server" and in_location:
            problems.append(f"{name}: a server setting, but its README Context names <Location>")
    if not re.search(rf"^\s*#?\s*{name}\b", conf, re.M):
        problems.append(f"{name}: not in conf/sinch_reminder.conf")
for name in sections:
    if name not in declared:
        problems.append(f"{name}: documented in README.md but not declared in settings.def")

for p in problems:
    print(p)
print(f"{len(declared)} directives checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
