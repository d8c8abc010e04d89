"""``ListView`` and ``MapView``: PyFlink's collection fields for accumulators.

In Flink they may be backed by state; in udfbox an accumulator lives in memory and travels
pickled, so a view is a list or dict with PyFlink's method surface, pickled with the
accumulator that holds it.
"""

__all__ = ["DataView", "ListView", "MapView"]


class DataView:
    """A collection that can be a field of an aggregate function's accumulator."""

    def clear(self):
        raise NotImplementedError


class ListView(DataView):
    """A list in an accumulator: ``get``, ``add``, ``add_all``, ``clear`` and iteration."""

    def __init__(self):
        self._list = []

    def get(self):
        """An iterable of the elements."""
        return self._list

    def add(self, value):
        self._list.append(value)

    def add_all(self, values):
        self._list.extend(values)

    def clear(self):
        self._list = []

    def __iter__(self):
        return iter(self._list)

    def __len__(self):
        return len(self._list)

    def __eq__(self, other):
        return isinstance(other, ListView) and list(self) == list(other)

    __hash__ = None

    def __repr__(self):
        return "ListView(%r)" % (self._list,)


class _RemovableIterator:
    """Iterates over a snapshot of a map view's entries; ``remove()`` deletes the entry last
    returned from the view (PyFlink's state-backed views allow it)."""

    def __init__(self, view, entries, key_of):
        self._view = view
        self._entries = iter(entries)
        self._key_of = key_of
        self._last = self._none = object()

    def __iter__(self):
        return self

    def __next__(self):
        entry = next(self._entries)
        self._last = self._key_of(entry)
        return entry

    def remove(self):
        if self._last is self._none:
            raise RuntimeError("remove() called before the iterator returned an entry")
        self._view._dict.pop(self._last, None)
        self._last = self._none


class _Entries:
    """``keys()``, ``values()`` or ``items()`` of a map view: iterable more than once, each
    iterator removable."""

    def __init__(self, view, kind):
        self._view = view
        self._kind = kind

    def _snapshot(self):
        data = self._view._dict
        if self._kind == "keys":
            return list(data.keys()), lambda key: key
        if self._kind == "values":
            keys = list(data.keys())
            return [(k, data[k]) for k in keys], lambda entry: entry[0]
        return list(data.items()), lambda entry: entry[0]

    def __iter__(self):
        entries, key_of = self._snapshot()
        if self._kind == "values":
            return _ValueIterator(_RemovableIterator(self._view, entries, key_of))
        return _RemovableIterator(self._view, entries, key_of)

    def __len__(self):
        return len(self._view._dict)

    def __contains__(self, item):
        return item in list(self)

    def __repr__(self):
        return "%s(%r)" % (self._kind, list(self))


class _ValueIterator:
    def __init__(self, inner):
        self._inner = inner

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._inner)[1]

    def remove(self):
        self._inner.remove()


class MapView(DataView):
    """A dict in an accumulator: ``get``, ``put``, ``put_all``, ``remove``, ``contains``,
    ``items``, ``keys``, ``values``, ``is_empty``, ``clear``, and ``view[key]``, ``key in view``,
    iteration over the keys."""

    def __init__(self):
        self._dict = {}

    def get(self, key):
        return self._dict[key]

    def put(self, key, value):
        self._dict[key] = value

    def put_all(self, dict_value):
        self._dict.update(dict_value)

    def remove(self, key):
        del self._dict[key]

    def contains(self, key):
        return key in self._dict

    def items(self):
        return _Entries(self, "items")

    def keys(self):
        return _Entries(self, "keys")

    def values(self):
        return _Entries(self, "values")

    def is_empty(self):
        return len(self._dict) == 0

    def clear(self):
        self._dict.clear()

    def __getitem__(self, key):
        return self.get(key)

    def __setitem__(self, key, value):
        self.put(key, value)

    def __delitem__(self, key):
        self.remove(key)

    def __contains__(self, key):
        return self.contains(key)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._dict)

    def __eq__(self, other):
        return isinstance(other, MapView) and self._dict == other._dict

    __hash__ = None

    def __repr__(self):
        return "MapView(%r)" % (self._dict,)
