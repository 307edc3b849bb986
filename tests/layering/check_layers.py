#!/usr/bin/env python3
"""The rooms' one-way doors (shared/STYLE.md), checked on every include.

    core/     measuring: may include core/ and the shim's wire header only;
              no sqlite3.h, no curses
    storage/  may include storage/ and core/; the only room with sqlite3.h
    app/      may include app/, storage/ and core/; no sqlite3.h, no curses
    tui/      may include every room above; curses lives here; no sqlite3.h
    shim/     injected into other programs: shim/ only, libc (and libunwind)

A quoted include must resolve, from the including file's folder or from a
room's root (core/ is the root of "engine/engine.h"), to a file of a room
the including room may use. The include paths of the build already make
most crossings fail to compile; this catches the rest (system headers that
are on every path, and relative "../" escapes).

Usage: check_layers.py [SOURCE_DIR]      exit 1 and one line per crossing
       check_layers.py --self-test       plants a forbidden include in a
                                         copy of the tree and expects failure
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOMS = ["core", "storage", "app", "tui", "shim"]
MAY_USE = {
    "core": {"core"},
    "storage": {"storage", "core"},
    "app": {"app", "storage", "core"},
    "tui": {"tui", "app", "storage", "core"},
    "shim": {"shim"},
}
# The one file core shares with the shim.
SHARED = {"shim/lsalloc_wire.h": {"core"}}
CURSES = re.compile(r"^(n?curses(w)?/.*|n?curses\.h|term\.h|panel\.h|menu\.h|form\.h)$")
FORBIDDEN_SYSTEM = {
    "core": [re.compile(r"^sqlite3\.h$"), CURSES],
    "storage": [CURSES],
    "app": [re.compile(r"^sqlite3\.h$"), CURSES],
    "tui": [re.compile(r"^sqlite3\.h$")],
    "shim": [re.compile(r"^sqlite3\.h$"), CURSES, re.compile(r"^curl/"), re.compile(r"^cjson/")],
}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def room_of(rel):
    return rel.split("/", 1)[0]


def resolve(src, including, name):
    """The tree-relative path a quoted include names, or None."""
    here = os.path.dirname(including)
    candidates = [os.path.normpath(os.path.join(here, name))]
    candidates += [os.path.normpath(os.path.join(r, name)) for r in ROOMS]
    for c in candidates:
        if not c.startswith("..") and os.path.isfile(os.path.join(src, c)):
            return c
    return None


def check(src):
    bad = []
    for room in ROOMS:
        for dirpath, _, files in os.walk(os.path.join(src, room)):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, src)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for lineno, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        kind, name = m.groups()
                        where = "%s:%d" % (rel, lineno)
                        if kind == "<":
                            for pat in FORBIDDEN_SYSTEM[room]:
                                if pat.match(name):
                                    bad.append("%s: %s/ must not include <%s>" % (where, room, name))
                            continue
                        target = resolve(src, rel, name)
                        if target is None:
                            # A header of a library installed on the system (quoted by habit).
                            continue
                        troom = room_of(target)
                        if target in SHARED and room in SHARED[target]:
                            continue
                        if troom not in MAY_USE[room]:
                            bad.append('%s: %s/ must not include "%s" (%s)' % (where, room, name, target))
    return bad


def self_test(src):
    """Copies the rooms, plants one forbidden include per door, expects each caught."""
    plants = [
        ("core/stats/hdr.c", '#include <sqlite3.h>'),
        ("core/engine/engine.c", '#include "store.h"'),
        ("core/proto/h1.c", '#include <curses.h>'),
        ("storage/store.c", '#include <ncurses.h>'),
        ("app/report.c", '#include <sqlite3.h>'),
        ("shim/shim_core.c", '#include "stats/hdr.h"'),
        ("core/alloc/alloc.c", '#include "../../tui/dash.h"'),
    ]
    ok = True
    clean = check(src)
    if clean:
        print("self-test: the tree itself has crossings:\n  " + "\n  ".join(clean))
        return False
    for path, line in plants:
        tmp = tempfile.mkdtemp(prefix="ls-layers-")
        try:
            for room in ROOMS:
                shutil.copytree(os.path.join(src, room), os.path.join(tmp, room))
            with open(os.path.join(tmp, path), "a") as fh:
                fh.write("\n" + line + "\n")
            found = check(tmp)
            caught = len(found) == 1 and found[0].startswith(path + ":")
            print("self-test: %-40s in %-22s %s" % (line, path, "caught: " + found[0] if caught else "NOT caught"))
            ok = ok and caught
        finally:
            shutil.rmtree(tmp)
    return ok


def main():
    args = sys.argv[1:]
    if args and args[0] == "--self-test":
        src = args[1] if len(args) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
        ok = self_test(os.path.abspath(src))
        print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
        return 0 if ok else 1
    src = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), "..", ".."))
    bad = check(src)
    for b in bad:
        print(b)
    print("layering: %d crossing(s)" % len(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
