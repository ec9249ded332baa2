"""Fail when a function or method is 60 lines or longer (decorators and docstring included), after `ruff format`.

A long function is one that does several things; split it where a name can say what each part does.
Usage: python tools/function_length.py [--limit N] PATH...
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def long_functions(paths: list[Path], limit: int) -> list[tuple[int, str]]:
    """``(lines, "file:line name")`` of each function of ``limit`` lines or more in the Python files under ``paths``."""
    found = []
    for root in paths:
        for file in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    length = node.end_lineno - first + 1
                    if length >= limit:
                        found.append((length, f"{file}:{first} {node.name}"))
    return sorted(found, reverse=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--limit", type=int, default=60)
    args = parser.parse_args()
    found = long_functions(args.paths, args.limit)
    for length, where in found:
        print(f"{where}: {length} lines (the limit is under {args.limit})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
