"""``pyflink.table.expressions``: every function PyFlink's module offers, building inert
``Expression`` values (see ``pyflink.table.expression``): UDF files that import and use them at
module level load; the Table API they are meant for is not part of udfbox."""

from .expression import Expression

__all__ = ['if_then_else', 'lit', 'col', 'range_', 'and_', 'or_', 'not_', 'current_database', 'current_date', 'current_time', 'current_timestamp', 'current_watermark', 'local_time', 'local_timestamp', 'to_date', 'to_timestamp', 'to_timestamp_ltz', 'temporal_overlaps', 'date_format', 'timestamp_diff', 'convert_tz', 'from_unixtime', 'unix_timestamp', 'array', 'row', 'map_', 'map_from_arrays', 'row_interval', 'pi', 'e', 'rand', 'rand_integer', 'atan2', 'negative', 'concat', 'concat_ws', 'uuid', 'null_of', 'log', 'source_watermark', 'with_columns', 'without_columns', 'with_all_columns', 'json_string', 'json_object', 'json_object_agg', 'json_array', 'json_array_agg', 'call', 'call_sql', 'coalesce', 'object_of'] + ["UNBOUNDED_ROW", "UNBOUNDED_RANGE", "CURRENT_ROW", "CURRENT_RANGE"]

UNBOUNDED_ROW = Expression("UNBOUNDED_ROW")
UNBOUNDED_RANGE = Expression("UNBOUNDED_RANGE")
CURRENT_ROW = Expression("CURRENT_ROW")
CURRENT_RANGE = Expression("CURRENT_RANGE")


def _builder(name):
    def build(*args, **kwargs):
        return Expression(name)(*args, **kwargs)
    build.__name__ = name
    build.__qualname__ = name
    build.__doc__ = "PyFlink's ``expressions.%s``, as an inert ``Expression``." % name
    return build


def call(f, *args):
    """PyFlink's ``call(f, *args)``: ``f`` a function name or a UDF."""
    name = f if isinstance(f, str) else getattr(f, "_name", repr(f))
    return Expression(name)(*args)


for _name in __all__[:-4]:
    if _name != "call":
        globals()[_name] = _builder(_name)
del _name
