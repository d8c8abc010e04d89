"""Metrics in PyFlink's shape: ``function_context.get_metric_group()`` gives a group with
``counter``, ``gauge``, ``meter`` and ``distribution``, and ``add_group`` for sub-groups. The
values stay in the runtime; the host reads them with ``Runtime.metrics()``."""

import time

__all__ = ["Counter", "Distribution", "Meter", "MetricGroup"]

MAX_METRICS = 1000  # per runtime: a UDF cannot make the host collect unbounded metrics
MAX_NAME_CHARS = 256


class Counter:
    def __init__(self):
        self._count = 0

    def inc(self, n=1):
        self._count += int(n)

    def dec(self, n=1):
        self._count -= int(n)

    def get_count(self):
        return self._count


class Meter:
    """Events, and their rate per second over the last ``time_span_in_seconds``."""

    def __init__(self, time_span_in_seconds=60):
        self._span = max(1, int(time_span_in_seconds))
        self._count = 0
        self._events = []  # (second, events in it), recent seconds only

    def mark_event(self, value=1):
        value = int(value)
        self._count += value
        now = int(time.monotonic())
        if self._events and self._events[-1][0] == now:
            self._events[-1] = (now, self._events[-1][1] + value)
        else:
            self._events.append((now, value))
        while self._events and self._events[0][0] <= now - self._span:
            self._events.pop(0)

    def get_count(self):
        return self._count

    def get_rate(self):
        now = int(time.monotonic())
        return sum(n for second, n in self._events if second > now - self._span) / self._span


class Distribution:
    """Count, sum, minimum and maximum of the values given to ``update``."""

    def __init__(self):
        self.count = 0
        self.sum = 0.0
        self.min = None
        self.max = None

    def update(self, value):
        value = float(value)
        self.count += 1
        self.sum += value
        self.min = value if self.min is None else min(self.min, value)
        self.max = value if self.max is None else max(self.max, value)


class _Registry:
    def __init__(self):
        self.metrics = {}  # (function, group path, name) -> (kind, metric)

    def add(self, key, kind, metric):
        existing = self.metrics.get(key)
        if existing is not None:
            if existing[0] != kind:
                raise ValueError("metric %r is already a %s" % (key[2], existing[0]))
            if kind != "gauge":
                return existing[1]
        if len(self.metrics) >= MAX_METRICS:
            raise ValueError("too many metrics (the limit is %d)" % MAX_METRICS)
        self.metrics[key] = (kind, metric)
        return metric

    def snapshot(self):
        """``(function, group, name, kind, count, value, min, max)`` for every metric."""
        rows = []
        for (function, group, name), (kind, metric) in self.metrics.items():
            count, value, low, high = 0, 0.0, 0.0, 0.0
            if kind == "counter":
                count = metric.get_count()
            elif kind == "gauge":
                try:
                    value = float(metric())
                except Exception:
                    value = float("nan")
            elif kind == "meter":
                count, value = metric.get_count(), metric.get_rate()
            else:
                count, value = metric.count, metric.sum
                low = metric.min if metric.min is not None else 0.0
                high = metric.max if metric.max is not None else 0.0
            rows.append((function, list(group), name, kind, count, value, low, high))
        return rows


def _name(name):
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS:
        raise ValueError("a metric name must be a string of 1 to %d characters" % MAX_NAME_CHARS)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a metric name must be UTF-8 text (no lone surrogates)") from None
    return name


class MetricGroup:
    def __init__(self, registry, function, group=()):
        self._registry = registry
        self._function = function
        self._group = tuple(group)

    def add_group(self, name, extra=None):
        group = self._group + (_name(name),)
        if extra is not None:
            group += (_name(str(extra)),)
        return MetricGroup(self._registry, self._function, group)

    def _key(self, name):
        return (self._function, self._group, _name(name))

    def counter(self, name):
        return self._registry.add(self._key(name), "counter", Counter())

    def gauge(self, name, obj):
        if not callable(obj):
            raise TypeError("a gauge takes a function returning a number")
        return self._registry.add(self._key(name), "gauge", obj)

    def meter(self, name, time_span_in_seconds=60):
        return self._registry.add(self._key(name), "meter", Meter(time_span_in_seconds))

    def distribution(self, name):
        return self._registry.add(self._key(name), "distribution", Distribution())
