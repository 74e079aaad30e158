#!/usr/bin/env python3
"""man_settings - every setting of src/config_keys.h has an entry in scepd.conf(5).

    man_settings.py CONFIG_KEYS_H SCEPD_CONF_5

An entry is the list item `.It Cm NAME` that man/conf2mdoc makes of a settings-table
row of docs/configuration.md. For an integer setting the line after it (type; default;
range) must also show the default and the range that config_keys.h gives, so that the
page cannot promise other bounds than the parser enforces. Prints one line per problem
and exits 1 when there is any.
"""

import re
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: man_settings.py CONFIG_KEYS_H SCEPD_CONF_5")
    with open(sys.argv[1], encoding="utf-8") as f:
        keys = re.findall(r'\bX\("([a-z_.]+)",\s*(\w+),\s*\w+,\s*("[^"]*"|\w+),\s*'
                          r"(-?\d+),\s*(-?\d+),", f.read())
    with open(sys.argv[2], encoding="utf-8") as f:
        page = f.read().splitlines()
    if len(keys) < 50:
        sys.exit(f"{sys.argv[1]}: only {len(keys)} settings found: is the X() format unchanged?")

    entries = {}
    for n, line in enumerate(page):
        m = re.fullmatch(r"\.It Cm ([a-z_.]+)", line)
        if m:
            # The facts: the lines up to the .br that ends them, macros and quotes gone.
            facts = []
            for line in page[n + 1:]:
                if line.startswith((".br", ".It", ".El")):
                    break
                facts.append(line)
            text = " ".join(facts).replace("\\&", "").replace('"', " ")
            entries[m.group(1)] = re.sub(r"(^|\s)\.?[A-Z][a-z]\b", " ", text)

    problems = []
    for name, kind, default, low, high in keys:
        if name not in entries:
            problems.append(f"{name}: missing from {sys.argv[2]}")
            continue
        if kind != "INT":
            continue
        facts = entries[name]
        want_default = default.strip('"')
        if not re.search(r"(^|\s)" + re.escape(want_default) + r"($|[\s;.])", facts):
            problems.append(f"{name}: the page does not give the default {want_default}: {facts}")
        if f"{low}..{high}" not in facts:
            problems.append(f"{name}: the page does not give the range {low}..{high}: {facts}")
    for p in problems:
        print(p)
    print(f"{len(keys)} settings, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
