"""OGC API - Features at /ogc: paste the landing URL into QGIS (with a bearer-token header) to add layers."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from app.db import SessionDep
from app.deps import OriginDep, SignedIn
from app.templating import render
from contexts.access import Actor, ensure
from mapping.ogc import (
    CONFORMANCE,
    CRS84,
    DEFAULT_LIMIT,
    Collection,
    ItemQuery,
    check_limit,
    collection,
    describe,
    parse_bbox,
    parse_datetime,
    visible_collections,
)

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"])
GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
Format = Annotated[str | None, Query(alias="f", pattern="^(json|html)$", description="json or html")]


def wants_html(request: Request, f: str | None) -> bool:
    """HTML when asked by `f=html`, or by a browser's Accept header when `f` is absent."""
    if f is not None:
        return f == "html"
    accept = request.headers.get("accept", "")
    return HTML in accept and "json" not in accept


def url(request: Request, path: str, **params: object) -> str:
    """An absolute link to a path under the service, with query parameters."""
    query = "&".join(f"{key}={value}" for key, value in params.items() if value is not None)
    return f"{str(request.base_url).rstrip('/')}{path}" + (f"?{query}" if query else "")


def link(href: str, rel: str, media_type: str, title: str) -> dict[str, str]:
    """One link object."""
    return {"href": href, "rel": rel, "type": media_type, "title": title}


def self_links(request: Request, path: str, media_type: str, html: bool) -> list[dict[str, str]]:
    """The self and alternate links of a document."""
    as_json = link(
        url(request, path, f="json"), "self" if not html else "alternate", media_type, "This as JSON"
    )
    as_html = link(url(request, path, f="html"), "self" if html else "alternate", HTML, "This as HTML")
    return [as_json, as_html]


@router.get("", summary="Landing page")
def landing(request: Request, _: SignedIn, f: Format = None) -> Response:
    """What the service offers and where to find it."""
    html = wants_html(request, f)
    body = {
        "title": "csmap OGC API - Features",
        "description": "Shareable layers of the safeguarding partnership: places, small areas and "
        "disclosure-controlled hotspot cells.",
        "links": [
            *self_links(request, "/ogc", JSON, html),
            link(url(request, "/api/openapi.json"), "service-desc", OPENAPI, "OpenAPI"),
            link(url(request, "/ogc/conformance"), "conformance", JSON, "Conformance classes"),
            link(url(request, "/ogc/collections"), "data", JSON, "Collections"),
        ],
    }
    if html:
        return render(request, "ogc/landing.html", {"doc": body, "landing_url": url(request, "/ogc")})
    return JSONResponse(body)


@router.get("/conformance", summary="Conformance classes")
def conformance(request: Request, _: SignedIn, f: Format = None) -> Response:
    """The parts of the standard this service implements."""
    body = {"conformsTo": list(CONFORMANCE)}
    if wants_html(request, f):
        return render(request, "ogc/conformance.html", {"doc": body})
    return JSONResponse(body)


def collection_document(
    request: Request, session: SessionDep, layer: Collection, html: bool
) -> dict[str, Any]:
    """A collection's metadata and links."""
    path = f"/ogc/collections/{layer.id}"
    return {
        "id": layer.id,
        "title": layer.title,
        "description": layer.description,
        "keywords": list(layer.keywords),
        "itemType": "feature",
        "crs": [CRS84],
        "extent": describe(layer, session),
        "links": [
            *self_links(request, path, JSON, html),
            link(url(request, f"{path}/items", f="json"), "items", GEOJSON, f"{layer.title} as GeoJSON"),
            link(url(request, f"{path}/items", f="html"), "items", HTML, f"{layer.title} as HTML"),
        ],
    }


@router.get("/collections", summary="Collections")
def collections(request: Request, actor: SignedIn, session: SessionDep, f: Format = None) -> Response:
    """The layers the signed-in user may read."""
    html = wants_html(request, f)
    body = {
        "links": self_links(request, "/ogc/collections", JSON, html),
        "collections": [
            collection_document(request, session, layer, html) for layer in visible_collections(actor)
        ],
    }
    if html:
        return render(request, "ogc/collections.html", {"doc": body})
    return JSONResponse(body)


def readable(actor: Actor, collection_id: str) -> Collection:
    """A collection the actor may read (403 otherwise, 404 when there is none)."""
    layer = collection(collection_id)
    ensure(actor, layer.permission)
    return layer


@router.get("/collections/{collection_id}", summary="A collection")
def one_collection(
    request: Request, actor: SignedIn, session: SessionDep, collection_id: str, f: Format = None
) -> Response:
    """One layer's metadata."""
    html = wants_html(request, f)
    body = collection_document(request, session, readable(actor, collection_id), html)
    if html:
        return render(request, "ogc/collections.html", {"doc": {"collections": [body], "links": []}})
    return JSONResponse(body)


def page_links(
    request: Request, path: str, query: ItemQuery, returned: int, matched: int
) -> list[dict[str, str]]:
    """Links to the next and previous pages, keeping the filters."""
    params = {
        "bbox": request.query_params.get("bbox"),
        "datetime": request.query_params.get("datetime"),
        "limit": query.limit,
    }
    links = []
    if query.offset + returned < matched:
        next_url = url(request, path, **params, offset=query.offset + query.limit, f="json")
        links.append(link(next_url, "next", GEOJSON, "Next page"))
    if query.offset > 0:
        previous = url(request, path, **params, offset=max(0, query.offset - query.limit), f="json")
        links.append(link(previous, "prev", GEOJSON, "Previous page"))
    return links


@router.get("/collections/{collection_id}/items", summary="Features of a collection")
def items(
    request: Request,
    actor: SignedIn,
    session: SessionDep,
    origin: OriginDep,
    collection_id: str,
    bbox: Annotated[str | None, Query(description="west,south,east,north in CRS84")] = None,
    datetime_: Annotated[str | None, Query(alias="datetime", description="An instant or start/end")] = None,
    limit: Annotated[int, Query(description="Features per page, 1 to 10,000")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0)] = 0,
    f: Format = None,
) -> Response:
    """A page of features, filtered by bbox and datetime, with next/prev links."""
    layer = readable(actor, collection_id)
    query = ItemQuery(parse_bbox(bbox), parse_datetime(datetime_), check_limit(limit), offset, origin)
    page = layer.items(session, actor, query)
    path = f"/ogc/collections/{layer.id}/items"
    html = wants_html(request, f)
    body = {
        "type": "FeatureCollection",
        "features": page.features,
        "numberMatched": page.matched,
        "numberReturned": len(page.features),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "links": [
            *self_links(request, path, GEOJSON, html),
            *page_links(request, path, query, len(page.features), page.matched),
        ],
    }
    if html:
        return render(request, "ogc/items.html", {"doc": body, "layer": layer})
    return JSONResponse(body, media_type=GEOJSON)


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature")
def item(
    request: Request,
    actor: SignedIn,
    session: SessionDep,
    origin: OriginDep,
    collection_id: str,
    feature_id: str,
    f: Format = None,
) -> Response:
    """One feature of a collection."""
    layer = readable(actor, collection_id)
    feature = layer.item(session, actor, feature_id, origin)
    path = f"/ogc/collections/{layer.id}/items/{feature_id}"
    html = wants_html(request, f)
    body = {
        **feature,
        "links": [
            *self_links(request, path, GEOJSON, html),
            link(url(request, f"/ogc/collections/{layer.id}"), "collection", JSON, layer.title),
        ],
    }
    if html:
        return render(
            request, "ogc/items.html", {"doc": {"features": [feature], "links": []}, "layer": layer}
        )
    return JSONResponse(body, media_type=GEOJSON)
