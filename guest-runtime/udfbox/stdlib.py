"""The pure-Python standard library, carried inside the sandbox's memory snapshot.

componentize-py unpacks the standard library only while it builds the component: at run time no
file of it exists, so ``import json`` inside a UDF would fail. At build time ``bundle()`` reads
every pure-Python standard-library module into memory (compressed) and installs an importer that
serves them from there. The sandbox therefore needs no preopened directory for the standard library.
"""

import importlib.abc
import importlib.util
import os
import sys
import zlib

__all__ = ["BundledStdlib", "bundle"]

# Packages that are tests, GUIs, installers or tools rather than a library a UDF would use.
_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data", "venv",
         "__phello__", "site-packages", "__pycache__", "_pyrepl", "sqlite3", "dbm", "curses"}


class BundledStdlib(importlib.abc.MetaPathFinder, importlib.abc.InspectLoader):
    def __init__(self, modules):
        self._modules = modules  # name -> (is_package, origin, compressed source)

    def find_spec(self, fullname, path=None, target=None):
        entry = self._modules.get(fullname)
        if entry is None:
            return None
        spec = importlib.util.spec_from_loader(fullname, self, origin=entry[1], is_package=entry[0])
        spec.has_location = True
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.get_code(module.__name__), module.__dict__)

    def is_package(self, fullname):
        return self._modules[fullname][0]

    def get_source(self, fullname):
        return zlib.decompress(self._modules[fullname][2]).decode("utf-8")

    def get_code(self, fullname):
        return compile(self.get_source(fullname), self._modules[fullname][1], "exec",
                       dont_inherit=True)

    def get_filename(self, fullname):
        return self._modules[fullname][1]


def bundle():
    """Reads the standard library and installs the importer; returns (modules, compressed bytes).

    componentize-py mounts the library at ``/python`` while it builds, although ``os.__file__``
    names its run-time path, so the root is the first candidate that holds ``os.py``."""
    candidates = [os.path.dirname(os.__file__)] + [p for p in sys.path if isinstance(p, str)]
    root = next((p for p in candidates if os.path.isfile(os.path.join(p, "os.py"))), None)
    if root is None:
        raise RuntimeError("udfbox: the standard library is not visible at build time")
    modules = {}
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIP and not d.startswith("config-"))
        rel = os.path.relpath(directory, root)
        package = [] if rel == "." else rel.split(os.sep)
        if package and not os.path.exists(os.path.join(directory, "__init__.py")):
            subdirs[:] = []
            continue
        for file in sorted(files):
            if not file.endswith(".py"):
                continue
            stem = file[:-3]
            is_package = stem == "__init__"
            parts = package if is_package else package + [stem]
            if not parts or not all(p.isidentifier() for p in parts):
                continue
            path = os.path.join(directory, file)
            with open(path, "rb") as handle:
                source = handle.read()
            modules[".".join(parts)] = (is_package, path, zlib.compress(source, 9))
    if "json" not in modules or "email.utils" not in modules:
        raise RuntimeError("udfbox: bundled only %d standard-library modules from %s" % (len(modules), root))
    finder = BundledStdlib(modules)
    position = next((i for i, f in enumerate(sys.meta_path)
                     if getattr(f, "__name__", "") == "PathFinder"), len(sys.meta_path))
    sys.meta_path.insert(position, finder)
    return len(modules), sum(len(entry[2]) for entry in modules.values())
