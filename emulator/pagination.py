"""Cursor pagination with WorkOS semantics over ascending, sorted id lists.

Object ids are monotonic ULIDs, so ascending id order equals ascending ``created_at`` order.

Semantics (workos-api.md section 5.2):

* ``desc`` (default): newest first; ``after=X`` gives the next page of *older* objects,
  ``before=X`` the page of newer objects closest to X.
* ``asc``: oldest first; ``after=X`` gives newer objects, ``before=X`` older ones.
* ``normal``: newest first, but ``before=X`` gives older objects and ``after=X`` newer ones.

``list_metadata`` always names the cursor to pass as the same-named parameter: ``after`` is
``None`` when there is no further page in the reading direction, ``before`` is ``None`` at the
start. Cursors are positions, not lookups: an unknown or deleted id still pages correctly from
where it would sort, so no 400 is ever returned for a cursor.

Paging costs O(log n + limit) on the pre-sorted list.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

ORDERS = ("desc", "asc", "normal")


class PaginationError(ValueError):
    """Raised for an invalid ``limit`` or ``order``."""


def validate(limit: object, order: object, default_limit: int = 10) -> tuple[int, str]:
    """Parse and validate ``limit`` (1..100) and ``order``; raises PaginationError."""
    if limit is None or limit == "":
        lim = default_limit
    else:
        try:
            lim = int(limit)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise PaginationError("limit must be an integer between 1 and 100") from None
    if not 1 <= lim <= 100:
        raise PaginationError("limit must be an integer between 1 and 100")
    od = order or "desc"
    if od not in ORDERS:
        raise PaginationError("order must be one of asc, desc, normal")
    return lim, str(od)


def paginate(
    ids: Sequence[str],
    *,
    limit: int = 10,
    order: str = "desc",
    before: str | None = None,
    after: str | None = None,
) -> tuple[list[str], dict[str, str | None]]:
    """Return (page ids in display order, list_metadata) for an ascending-sorted ``ids``."""
    if order not in ORDERS:
        raise PaginationError("order must be one of asc, desc, normal")
    if after and before:
        before = None  # ``after`` wins, as the SDK auto-pager only ever sends ``after``
    # Translate to a direction on the ascending list: "down" = towards smaller ids.
    if order == "asc":
        cursor, down = (after, False) if after else (before, True) if before else (None, False)
    elif order == "desc":
        cursor, down = (after, True) if after else (before, False) if before else (None, True)
    else:  # normal
        cursor, down = (before, True) if before else (after, False) if after else (None, True)

    n = len(ids)
    if down:
        hi = bisect_left(ids, cursor) if cursor else n
        lo = max(0, hi - limit)
        more_smaller, more_greater = lo > 0, hi < n
    else:
        lo = bisect_right(ids, cursor) if cursor else 0
        hi = min(n, lo + limit)
        more_smaller, more_greater = lo > 0, hi < n
    page = list(ids[lo:hi])
    if not page:
        return [], {"before": None, "after": None}
    smallest, greatest = page[0], page[-1]
    if order == "asc":
        meta = {
            "before": smallest if more_smaller else None,
            "after": greatest if more_greater else None,
        }
    elif order == "desc":
        page.reverse()
        meta = {
            "before": greatest if more_greater else None,
            "after": smallest if more_smaller else None,
        }
    else:
        page.reverse()
        meta = {
            "before": smallest if more_smaller else None,
            "after": greatest if more_greater else None,
        }
    return page, meta
