"""The UDF definition API, shaped after ``pyflink.table.udf``."""

import functools
import inspect

from .types import DataType, to_data_type

__all__ = ["FunctionContext", "UserDefinedFunction", "ScalarFunction", "UserDefinedFunctionWrapper",
           "udf"]

_FUNC_TYPES = ("general", "pandas")


class FunctionContext:
    """What ``open()`` receives: the job parameters given with ``--param KEY=VALUE``."""

    def __init__(self, job_parameters=None):
        self._job_parameters = dict(job_parameters or {})

    def get_job_parameter(self, key, default_value=None):
        return self._job_parameters.get(key, default_value)


class UserDefinedFunction:
    """Base of the class-based UDFs: ``open()`` runs once before the first call, ``close()`` after
    the last one."""

    def open(self, function_context):
        pass

    def close(self):
        pass

    def is_deterministic(self):
        return True


class ScalarFunction(UserDefinedFunction):
    """A scalar function: subclasses define ``eval(self, *args)`` returning one value."""

    def eval(self, *args):
        raise NotImplementedError("ScalarFunction subclasses must define eval()")


def _callable_name(f):
    if isinstance(f, functools.partial):
        return _callable_name(f.func)
    name = getattr(f, "__name__", None)
    if name:
        return name
    return type(f).__name__


class UserDefinedFunctionWrapper:
    """What ``udf(...)`` returns: the function plus its declared types. A UDF file registers every
    module-level name bound to one of these."""

    kind = "scalar"

    def __init__(self, func, input_types, result_type, deterministic, name, func_type):
        if func_type not in _FUNC_TYPES:
            raise ValueError("func_type must be one of %s, got %r" % (", ".join(_FUNC_TYPES), func_type))
        if isinstance(func, ScalarFunction):
            self._instance = func
            self._call = func.eval
        elif isinstance(func, UserDefinedFunction):
            raise TypeError("udf() takes a ScalarFunction, got %s" % type(func).__name__)
        elif inspect.isclass(func):
            raise TypeError("udf() takes a function or an instance, got the class %s; "
                            "pass %s() instead" % (func.__name__, func.__name__))
        elif callable(func):
            self._instance = None
            self._call = func
        else:
            raise TypeError("udf() takes a callable, got %r" % (func,))
        if result_type is None:
            raise TypeError("udf %s needs a result_type" % (name or _callable_name(func)))
        if isinstance(input_types, (DataType, str)):
            input_types = [input_types]
        self.func = func
        self.input_types = None if input_types is None else [to_data_type(t) for t in input_types]
        self.result_type = to_data_type(result_type)
        if deterministic is None:
            deterministic = self._instance.is_deterministic() if self._instance is not None else True
        self.deterministic = bool(deterministic)
        self.explicit_name = name
        self.name = name or _callable_name(func)
        self.func_type = func_type
        self.opened = False

    def open(self, context):
        if self._instance is not None and not self.opened:
            self._instance.open(context)
        self.opened = True

    def close(self):
        if self._instance is not None and self.opened:
            self.opened = False
            self._instance.close()

    def __call__(self, *args):
        """Calling the wrapper from Python calls the function itself (handy in tests)."""
        return self._call(*args)

    def __repr__(self):
        return "<udf %s(%s) -> %s>" % (
            self.name, "?" if self.input_types is None else ", ".join(map(str, self.input_types)),
            self.result_type)


def udf(f=None, input_types=None, result_type=None, deterministic=None, name=None,
        func_type="general", udf_type=None):
    """Makes a scalar UDF from a function, lambda, callable object, ``functools.partial`` or
    ``ScalarFunction`` instance. Works as a call, ``udf(f, input_types, result_type)``, and as a
    decorator, ``@udf(result_type=DataTypes.BIGINT())``. ``func_type="pandas"`` makes a vectorized
    UDF that receives whole columns and returns a column of the same length."""
    if udf_type is not None:  # PyFlink 1.11 spelling
        func_type = udf_type
    if f is None:
        return functools.partial(udf, input_types=input_types, result_type=result_type,
                                 deterministic=deterministic, name=name, func_type=func_type)
    return UserDefinedFunctionWrapper(f, input_types, result_type, deterministic, name, func_type)
