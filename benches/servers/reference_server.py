"""Serves a UDF file with a reference Python UDF server from PyPI, for udfbox's benches and tests.

    python reference_server.py arrow-udf|databend-udf FILE.py... [--listen HOST:PORT]

Imports each FILE.py as a module (its `if __name__ == '__main__':` block does not run), registers
every function object it defines with that library's own server (`arrow_udf.UdfServer` or
`databend_udf.UDFServer`), listens (default 127.0.0.1:0, a free port) and prints
`reference server: listening on HOST:PORT` on stdout once it does. Runs until SIGINT or SIGTERM.
"""

import argparse
import importlib.util
import signal
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("library", choices=["arrow-udf", "databend-udf"])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--listen", default="127.0.0.1:0")
    args = parser.parse_args()

    if args.library == "arrow-udf":
        from arrow_udf import UdfServer as Server
        from arrow_udf import UserDefinedFunction
    else:
        from databend_udf import UDFServer as Server
        from databend_udf.udf import UserDefinedFunction

    server = Server(location=args.listen)
    for i, file in enumerate(args.files):
        spec = importlib.util.spec_from_file_location(f"udf_file_{i}", file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for value in vars(module).values():
            if isinstance(value, UserDefinedFunction) and value._name not in server._functions:
                server.add_function(value)
    host = args.listen.rsplit(":", 1)[0]
    print(f"reference server: listening on {host}:{server.port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    server.serve()


if __name__ == "__main__":
    sys.exit(main())
