"""udfbox: Python UDFs over Arrow data, in a WebAssembly sandbox or natively.

The API follows ``pyflink.table.udf``: ``udf``, ``ScalarFunction``, ``DataTypes``, ``Row`` and
``FunctionContext`` mean what they mean in PyFlink.
"""

from .row import Row
from .series import Series
from .types import DataType, DataTypes, MonthDayNano
from .udf import (AggregateFunction, FunctionContext, ScalarFunction, TableAggregateFunction,
                  TableFunction, UserDefinedFunction, udaf, udf, udtaf, udtf)
from .runtime import deps_dir

__all__ = ["AggregateFunction", "DataType", "DataTypes", "FunctionContext", "MonthDayNano", "Row",
           "ScalarFunction", "Series", "TableAggregateFunction", "TableFunction",
           "UserDefinedFunction", "deps_dir", "udaf", "udf", "udtaf", "udtf"]
