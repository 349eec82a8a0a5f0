#!/usr/bin/env python3
"""The man page of sinch-reminder-admin covers what its --help lists: every command has a .TP entry under
COMMANDS, and every option is described under OPTIONS; its title line names the version --version prints.

  check_manpage.py ADMIN_BINARY MAN_PAGE   (the page as troff source, or gzip-compressed as installed)"""
import gzip
import re
import subprocess
import sys

admin, page = sys.argv[1], sys.argv[2]
help_text = subprocess.run([admin, "--help"], capture_output=True, text=True, check=True).stdout
opener = gzip.open if page.endswith(".gz") else open
with opener(page, "rt") as f:
    troff = f.read()


def section(text, name):
    match = re.search(rf"^\.SH {name}\n(.*?)(?=^\.SH |\Z)", text, re.M | re.S)
    return match.group(1) if match else ""


commands_help = re.search(r"^commands:\n(.*?)\n\n", help_text, re.M | re.S).group(1)
options_help = re.search(r"^options:\n(.*?)\n\n", help_text, re.M | re.S).group(1)
commands = re.findall(r"^  ([a-z][a-z-]+)  ", commands_help, re.M)
options = sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b", options_help)))

# troff writes a literal hyphen as \- ; entries are ".TP" followed by ".B name" / ".BI --opt ..." lines.
plain = lambda text: text.replace("\\-", "-")
man_commands = plain(section(troff, "COMMANDS"))
man_options = plain(section(troff, "OPTIONS"))
entries = lambda text: re.findall(r"^\.(?:TP|TQ)\n\.B[IR]? (.+)$", text, re.M)

problems = []
version = subprocess.run([admin, "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
if not re.search(rf'^\.TH .*"mod_sinch_reminder {re.escape(version)}"', troff, re.M):
    problems.append(f"the .TH line does not name version {version} (sinch-reminder-admin --version)")
if len(commands) < 4 or len(options) < 10:
    problems.append(f"found only {commands} and {options} in --help: is this check's parser broken?")
command_entries = " ".join(entries(man_commands))
for command in commands:
    if not re.search(rf"(?<![\w-]){re.escape(command)}(?![\w-])", command_entries):
        problems.append(f"command {command}: no entry under COMMANDS in {page}")
option_entries = " ".join(entries(man_options))
for option in options:
    if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", option_entries):
        problems.append(f"option {option}: no entry under OPTIONS in {page}")
for p in problems:
    print(p)
print(f"{len(commands)} commands and {len(options)} options of --help checked against {page}: "
      f"{len(problems)} problems")
sys.exit(1 if problems else 0)
