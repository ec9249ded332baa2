"""The one reader of spec files (YAML) for every study: shipped specs by name or a user's file, ``extends``,
``--set key=value`` overrides, and the unknown-key check."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from aecompare.errors import AecompareError, ConfigError, DataNotFoundError, unknown_name


def read_spec(
    name_or_path: str | Path, keys: tuple[str, ...], overrides: list[str] | None = None
) -> tuple[dict[str, Any], str]:
    """A spec as a mapping with ``extends`` resolved and ``overrides`` applied, its keys checked against ``keys``;
    and where it came from, for error messages.

    Raises:
        ConfigError: unknown experiment, malformed YAML, an unknown key (the valid ones are listed) or a bad
            override.
    """
    raw, where = read_spec_mapping(name_or_path, keys)
    raw = _resolve_extends(raw, where, name_or_path)
    raw = apply_overrides(raw, overrides or [])
    check_keys(raw, keys, where)
    return raw, where


MAX_SPEC_BYTES = 1_000_000
MAX_SPEC_NODES = 100_000  # values after expanding aliases: a real spec has a few hundred


def parse_yaml(text: str, where: str) -> Any:
    """YAML text as plain values (``yaml.safe_load``: no Python tags), refusing documents too large once their
    aliases are expanded (nine aliases per level grow a "billion laughs" file ninefold per level).

    Raises:
        ConfigError: for malformed YAML, a tag that would build an object, or a document that is too large.
    """
    if len(text) > MAX_SPEC_BYTES:
        raise ConfigError(f"{where} is {len(text):,} characters; a spec is at most {MAX_SPEC_BYTES:,}")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        size = _expanded_size(root, {}, set(), where) if root is not None else 0
        if size > MAX_SPEC_NODES:
            raise ConfigError(
                f"{where}: its aliases expand to {size:,} values (at most {MAX_SPEC_NODES:,}); "
                "a spec that large is a mistake or an attack, so it is not read"
            )
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        problem = " ".join(str(e).split())
        hint = (
            " (aecompare reads plain YAML values only: tags such as !!python/... are refused)"
            if "tag" in problem
            else ""
        )
        raise ConfigError(f"{where} is not valid YAML: {problem}{hint}") from None


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int], where: str) -> int:
    """How many values ``node`` stands for once every alias is expanded (memoised per node, so a bomb is
    measured without being built)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise ConfigError(f"{where}: a YAML alias refers to the value that contains it; a spec cannot be recursive")
    open_nodes.add(key)
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, sizes, open_nodes, where) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(
            _expanded_size(k, sizes, open_nodes, where) + _expanded_size(v, sizes, open_nodes, where)
            for k, v in node.value
        )
    else:
        size = 1
    open_nodes.discard(key)
    sizes[key] = size
    return size


def check_keys(raw: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    """Refuse a key of ``raw`` that is not in ``keys``, naming the valid ones."""
    unknown = [k for k in raw if k not in keys]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys are: {', '.join(keys)}")


def builtin_specs() -> dict[str, Path]:
    """The experiments shipped with aecompare, by name."""
    folder = resources.files("aecompare.studies") / "specs"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def read_spec_mapping(name_or_path: str | Path, keys: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    """A shipped spec or a YAML file as a mapping, and where it came from (for error messages).

    Raises:
        ConfigError: unknown experiment, malformed YAML, or a file that is not a mapping (``keys`` are listed).
    """
    text, where = _read_spec_text(name_or_path)
    raw = parse_yaml(text, where)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: an experiment file must be a mapping with keys {', '.join(keys)}")
    return raw, where


def study_kind(name_or_path: str | Path) -> str:
    """The ``study`` a spec declares (``"convergence"``, ``"generate"``), else ``"grid"`` (also for a spec that
    does not load: the grid's reader then reports what is wrong with it)."""
    try:
        raw, _ = read_spec_mapping(name_or_path, ("name", "study"))
    except AecompareError:
        return "grid"
    return str(raw.get("study") or "grid")


def _resolve_extends(raw: dict[str, Any], where: str, name_or_path: str | Path, depth: int = 0) -> dict[str, Any]:
    """``extends: other-spec`` starts from that spec; this file's top-level keys replace its keys whole."""
    if "extends" not in raw:
        return raw
    if depth > 4:
        raise ConfigError(f"{where}: 'extends' goes more than 4 specs deep (a cycle?)")
    base_name = raw["extends"]
    if not isinstance(base_name, str):
        raise ConfigError(f"{where}: extends must name a shipped experiment or a YAML file, got {base_name!r}")
    sibling = Path(name_or_path).parent / base_name
    base_ref: str | Path = sibling if sibling.suffix in (".yaml", ".yml") and sibling.exists() else base_name
    text, base_where = _read_spec_text(base_ref)
    base = parse_yaml(text, base_where)
    if not isinstance(base, dict):
        raise ConfigError(f"{base_where}: an experiment file must be a mapping")
    base = _resolve_extends(base, base_where, base_ref, depth + 1)
    return {**base, **{k: v for k, v in raw.items() if k != "extends"}}


def _read_spec_text(name_or_path: str | Path) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise DataNotFoundError(f"experiment file {path} not found")
        return path.read_text(encoding="utf-8"), str(path)
    specs = builtin_specs()
    if str(name_or_path) not in specs:
        raise unknown_name("experiment", name_or_path, specs)
    return specs[str(name_or_path)].read_text(encoding="utf-8"), f"{name_or_path}.yaml"


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set dotted keys (``train.epochs=5``, ``datasets.0.params.size=16``) in a copy of ``raw``."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r} (e.g. --set train.epochs=5)")
        *parents, last = key.split(".")
        node: Any = raw
        for part in parents:
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {key}: {part!r} is not an index of a list of {len(node)}")
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"--set {key}: {part!r} is a value, not a section")
        parsed = parse_yaml(value, f"--set {item}") if value else ""
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ConfigError(f"--set {key}: {last!r} is not an index of a list of {len(node)}")
            node[int(last)] = parsed
        else:
            node[last] = parsed
    return raw
