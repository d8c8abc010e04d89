from udfbox.udf import (FunctionContext, ScalarFunction, UserDefinedFunction,
                        UserDefinedFunctionWrapper, udf)

__all__ = ["FunctionContext", "ScalarFunction", "UserDefinedFunction",
           "UserDefinedFunctionWrapper", "udf"]
