"""Validation problems (``core.validation.Problem``) in ComfyUI's words: the error types, messages and the
``node_errors`` structure its POST /prompt answers with, so clients that highlight bad nodes and inputs work.

Details never name server paths (a missing file says which folder kind it was looked for in, not where that is).
"""
from __future__ import annotations

from typing import Any

from nodeflow.core.validation import Problem

#: Our problem kinds -> ComfyUI's error type and message (execution.py's validate_inputs).
_COMFY_ERRORS = {
    "missing_input": ("required_input_missing", "Required input is missing"),
    "muted_input": ("required_input_missing", "Required input is missing"),
    "invalid_choice": ("value_not_in_list", "Value not in list"),
    "missing_file": ("value_not_in_list", "Value not in list"),
    "wrong_type": ("invalid_input_type", "Failed to convert an input value"),
    "type_mismatch": ("return_type_mismatch", "Return type mismatch between linked nodes"),
    "dangling_link": ("bad_linked_input", "Bad linked input"),
    "duplicate_link": ("bad_linked_input", "Bad linked input"),
    "not_a_socket": ("bad_linked_input", "Bad linked input"),
    "invalid_value": ("custom_validation_failed", "Custom validation failed for node"),
    "unknown_type": ("invalid_prompt", "Node type does not exist"),
    "cycle": ("dependency_cycle", "Dependency cycle detected"),
}


def error(type_: str, message: str, details: str = "", extra_info: dict | None = None) -> dict:
    return {"type": type_, "message": message, "details": details, "extra_info": extra_info or {}}


def rejection(err: dict, node_errors: dict | None = None) -> dict:
    """The body of a 400 answer to POST /prompt."""
    return {"error": err, "node_errors": node_errors or {}}


def comfy_error(problem: Problem, graph, registry) -> dict:
    node = graph.nodes.get(problem.node_id) if problem.node_id is not None else None
    nt = registry.get(node.type) if node is not None else None
    inp = nt.input(problem.field) if nt is not None and problem.field else None
    value = node.values.get(problem.field, inp.default if inp else None) if node is not None and problem.field \
        else None
    type_, message = _COMFY_ERRORS.get(problem.kind, ("invalid_input", "Invalid input"))
    if problem.kind == "out_of_range" and inp is not None and isinstance(value, (int, float)):
        if inp.min is not None and value < inp.min:
            type_, message = "value_smaller_than_min", f"Value {value} smaller than min of {inp.min}"
        else:
            type_, message = "value_bigger_than_max", f"Value {value} bigger than max of {inp.max}"
    if problem.kind == "missing_file" and inp is not None:
        details = f"{problem.field}: '{value}' not in the {inp.files} folder"
    else:
        details = f"{problem.field}: {problem.message}" if problem.field else problem.message
        if problem.expected and problem.kind != "missing_file":
            details += f" (expected {problem.expected})"
    extra: dict[str, Any] = {}
    if problem.field:
        extra["input_name"] = problem.field
        if value is not None:
            extra["received_value"] = value
    return error(type_, message, details, extra)


def node_errors(problems: list[Problem], work, api_ids: dict[int, str], class_types: dict[int, str],
                registry) -> dict:
    """{prompt node id: {"errors", "dependent_outputs", "class_type"}} for the problems of nodes the outputs need."""
    out: dict[str, dict] = {}
    for p in problems:
        if p.node_id is None or p.node_id not in work.reach:
            continue
        key = api_ids.get(p.node_id, str(p.node_id))
        entry = out.setdefault(key, {"errors": [], "dependent_outputs": [],
                                     "class_type": class_types.get(p.node_id, "")})
        entry["errors"].append(comfy_error(p, work.graph, registry))
        for target in work.targets:
            if (target == p.node_id or p.node_id in work.ancestors(target)) \
                    and api_ids[target] not in entry["dependent_outputs"]:
                entry["dependent_outputs"].append(api_ids[target])
    return out


def summary(node_errs: dict) -> str:
    """ComfyUI's details text: one "message: details" line per error."""
    return "\n".join(f"{e['message']}: {e['details']}" for n in node_errs.values() for e in n["errors"])
