"""``/v1/audit``: the merchant's audit entries, the latest signed tree head, and proofs.

A merchant key lists only its own entries and gets inclusion proofs only for them; proofs
reveal other merchants' leaves only as hashes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from strongbox.api.context import authenticate, params_of
from strongbox.api.responses import dumps, json_response
from strongbox.api.routers.common import created_of, list_response, page_of, query_doc
from strongbox.audit import repository, service
from strongbox.audit.heads import latest_head
from strongbox.audit.schemas import (
    ConsistencyParams,
    InclusionParams,
    ListAuditEventsParams,
    TreeHeadParams,
    render_entry,
)
from strongbox.core.errors import InvalidRequestError, ResourceMissingError
from strongbox.core.params import validate_params

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/events", summary="List audit events", openapi_extra=query_doc(ListAuditEventsParams))
def list_audit_events(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ListAuditEventsParams, params)
    return list_response(
        caller,
        "/v1/audit/events",
        lambda uow: repository.list_entries(
            uow.session,
            caller.ctx.merchant_id,
            page_of(p),
            created=created_of(p),
            actor=p.actor,
            action=p.action,
            resource=p.resource,
            resource_type=p.resource_type,
        ),
        lambda _, e: render_entry(e),
    )


@router.get(
    "/tree_head", summary="The latest signed tree head", openapi_extra=query_doc(TreeHeadParams)
)
def tree_head(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    validate_params(TreeHeadParams, params)
    with caller.runtime.db.read() as session:
        head = latest_head(session)
    if head is None:
        raise ResourceMissingError("No tree head has been signed yet.")
    return json_response(200, dumps(head.to_dict()))


def _check_size(param: str, value: int, size: int) -> None:
    if value > size:
        raise InvalidRequestError(
            f"Invalid {param}: the log has {size} integrated entries.",
            code="parameter_invalid_integer",
            param=param,
        )


@router.get(
    "/proofs/inclusion", summary="Inclusion proof", openapi_extra=query_doc(InclusionParams)
)
def inclusion(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(InclusionParams, params)
    with caller.runtime.db.read() as session:
        state = service.tree_state(session)
        head = latest_head(session)
        size = p.tree_size if p.tree_size is not None else (head.tree_size if head else 0)
        if size == 0:
            raise ResourceMissingError("No tree head has been signed yet.", param="tree_size")
        _check_size("tree_size", size, state.size)
        if p.index >= size:
            raise InvalidRequestError(
                "Invalid index: must be smaller than tree_size.",
                code="parameter_invalid_integer",
                param="index",
            )
        entry = repository.entry_at(session, caller.ctx.merchant_id, p.index)
        if entry is None:
            raise ResourceMissingError(f"No such audit event at index {p.index}.", param="index")
        tree = service.stored_tree(session)
        proof = tree.inclusion_proof(p.index, size)
        root = tree.root(size)
        body = {
            "object": "audit.inclusion_proof",
            "index": p.index,
            "tree_size": size,
            "leaf": service.leaf_bytes(entry, p.index).decode(),
            "leaf_hash": (entry.leaf_hash or b"").hex(),
            "audit_path": [h.hex() for h in proof],
            "root_hash": root.hex(),
            "tree_head": head.to_dict() if head and head.tree_size == size else None,
        }
    return json_response(200, dumps(body))


@router.get(
    "/proofs/consistency", summary="Consistency proof", openapi_extra=query_doc(ConsistencyParams)
)
def consistency(request: Request, params: dict[str, Any] = Depends(params_of)) -> Response:
    caller = authenticate(request)
    p = validate_params(ConsistencyParams, params)
    if p.first > p.second:
        raise InvalidRequestError(
            "Invalid first: must not be greater than second.",
            code="parameter_invalid_integer",
            param="first",
        )
    with caller.runtime.db.read() as session:
        _check_size("second", p.second, service.tree_state(session).size)
        tree = service.stored_tree(session)
        body = {
            "object": "audit.consistency_proof",
            "first": p.first,
            "second": p.second,
            "first_root_hash": tree.root(p.first).hex(),
            "second_root_hash": tree.root(p.second).hex(),
            "proof": [h.hex() for h in tree.consistency_proof(p.first, p.second)],
        }
    return json_response(200, dumps(body))
