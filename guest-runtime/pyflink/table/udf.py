from udfbox.udf import (AggregateFunction, FunctionContext, ScalarFunction, TableAggregateFunction,
                        TableFunction, UserDefinedAggregateFunctionWrapper, UserDefinedFunction,
                        UserDefinedFunctionWrapper, UserDefinedScalarFunctionWrapper,
                        UserDefinedTableFunctionWrapper, udaf, udf, udtaf, udtf)

__all__ = ["AggregateFunction", "FunctionContext", "ScalarFunction", "TableAggregateFunction",
           "TableFunction", "UserDefinedAggregateFunctionWrapper", "UserDefinedFunction",
           "UserDefinedFunctionWrapper", "UserDefinedScalarFunctionWrapper",
           "UserDefinedTableFunctionWrapper", "udaf", "udf", "udtaf", "udtf"]
