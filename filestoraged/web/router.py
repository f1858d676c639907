"""Path routing that knows 404 from 405 and fills ``Allow``.

Routes match the raw (still percent-encoded) path, so ``%2f`` or ``%2e%2e``
can never turn into a separator or a parent directory; captured segments are
validated by the face that receives them (``names.object_id`` and friends).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from ..errors import MethodNotAllowed, NotFound
from ..access.scopes import Need
from ..wire.fields import refuse_unknown

Handler = Callable[..., object]


@dataclass
class Route:
    pattern: "re.Pattern[str]"
    face: str  # for metrics and logs: files, data, file, kv, ops
    methods: Dict[str, Handler]
    # The /kv contract answers 404, not 405, to a wrong method.
    wrong_method_is_not_found: bool = False
    allow: List[str] = field(default_factory=list)
    query: Optional[Tuple[str, ...]] = ()  # the query parameters it takes (any other is 400); None: its face reads them
    needs: Mapping[str, Optional[Need]] = field(default_factory=dict)  # method -> what it asks of a token


class Router:
    """An ordered list of routes; the first whose pattern matches the path
    wins. Decision: each path is tried only against the routes its first
    segment may match (those that begin with that segment, and those that
    begin with a capture), in the order they were added: a request tried
    every pattern before it, a dozen on the main port."""

    def __init__(self) -> None:
        self._by_first: Dict[str, List[Route]] = {}  # a first segment -> the routes it may match
        self._anywhere: List[Route] = []  # routes whose first segment is a capture

    def add(
        self,
        pattern: str,
        face: str,
        methods: Dict[str, Handler],
        needs: Mapping[str, Optional[Need]],
        wrong_method_is_not_found: bool = False,
        head: bool = True,
        query: Optional[Tuple[str, ...]] = (),
    ) -> None:
        """Add a route; ``{name}`` in ``pattern`` captures one path segment,
        ``{name...}`` the rest of the path (slashes included).
        ``needs``: what each method asks of a request's token (every method
        declares one, None for no token ever, so a new face states its access
        rules where its routes are). With ``head``, ``HEAD`` is allowed
        wherever ``GET`` is (the handler drops the body), needing what
        ``GET`` needs. ``query``: the parameters it takes (a typo in one is a
        400 naming it, never silently ignored)."""
        undeclared = set(methods) - set(needs)
        if undeclared:
            raise ValueError("%s: declare the need of %s" % (pattern, ", ".join(sorted(undeclared))))
        regex = re.sub(r"\{(\w+)\.\.\.\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        methods, needs = dict(methods), dict(needs)
        if head and "GET" in methods:
            methods.setdefault("HEAD", methods["GET"])
            needs.setdefault("HEAD", needs["GET"])
        route = Route(re.compile(regex), face, methods, wrong_method_is_not_found, sorted(methods),
                      None if query is None else tuple(query), needs)
        first = pattern[1:].partition("/")[0]
        if "{" in first:
            self._anywhere.append(route)
            for routes in self._by_first.values():
                routes.append(route)
        else:
            self._by_first.setdefault(first, list(self._anywhere)).append(route)

    def _candidates(self, path: str) -> List[Route]:
        """The routes ``path`` may match, in order (see the class docstring)."""
        return self._by_first.get(path[1:].partition("/")[0], self._anywhere)

    def match(self, method: str, path: str) -> Tuple[Handler, Dict[str, str], str, Optional[Need]]:
        """Return ``(handler, captured segments, face, need)``; raise
        NotFound or MethodNotAllowed."""
        for route in self._candidates(path):
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            handler = route.methods.get(method)
            if handler is not None:
                return handler, found.groupdict(), route.face, route.needs[method]
            if route.wrong_method_is_not_found:
                continue  # a later route may take it (GET /kv/set reads key "set")
            raise MethodNotAllowed(route.allow, "%s is not allowed here" % method[:20])
        raise NotFound("no such path")

    def check_query(self, path: str, query: str) -> None:
        """``BadRequest`` naming the first query parameter the route of
        ``path`` does not take (and the closest one it does)."""
        for route in self._candidates(path):
            if route.pattern.fullmatch(path):
                if route.query is None:
                    return
                for name in parse_qs(query, keep_blank_values=True):
                    if name not in route.query:
                        refuse_unknown("query parameter", name, route.query)
                return

    def methods_for(self, path: str) -> List[str]:
        """Every method some route allows on ``path`` (for CORS preflights); NotFound if none."""
        methods = sorted({method for route in self._candidates(path) if route.pattern.fullmatch(path)
                          for method in route.methods})
        if not methods:
            raise NotFound("no such path")
        return methods

    def face_of(self, path: str) -> str:
        """The face a path belongs to (for metrics of requests that failed early)."""
        for route in self._candidates(path):
            if route.pattern.fullmatch(path):
                return route.face
        return "other"
