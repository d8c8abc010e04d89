from udfbox.data_view import ListView, MapView
from udfbox.row import Row
from udfbox.types import DataTypes
from udfbox.udf import (AggregateFunction, FunctionContext, ScalarFunction, TableAggregateFunction,
                        TableFunction)

from .expression import Expression

__all__ = ["AggregateFunction", "DataTypes", "EnvironmentSettings", "Expression", "FunctionContext",
           "ListView", "MapView", "Row", "ScalarFunction", "StreamTableEnvironment",
           "TableAggregateFunction", "TableEnvironment", "TableFunction"]

_NO_TABLE_API = ("udfbox runs the UDFs of this file, not PyFlink's Table API: query them with SQL "
                 "(udfbox sql --udf FILE \"SELECT ...\") or from Rust")


class _TableApi:
    """PyFlink's Table API entry points import, so documentation files load; using them is a
    clear error."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(_NO_TABLE_API)

    @classmethod
    def create(cls, *args, **kwargs):
        raise NotImplementedError(_NO_TABLE_API)

    @classmethod
    def in_streaming_mode(cls):
        raise NotImplementedError(_NO_TABLE_API)

    @classmethod
    def in_batch_mode(cls):
        raise NotImplementedError(_NO_TABLE_API)

    @classmethod
    def new_instance(cls):
        raise NotImplementedError(_NO_TABLE_API)


class TableEnvironment(_TableApi):
    pass


class StreamTableEnvironment(_TableApi):
    pass


class EnvironmentSettings(_TableApi):
    pass
