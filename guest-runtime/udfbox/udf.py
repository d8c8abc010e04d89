"""The UDF definition API, shaped after ``pyflink.table.udf``."""

import abc
import functools
import inspect

from .types import DataType, to_data_type

__all__ = ["AggregateFunction", "FunctionContext", "ScalarFunction", "TableAggregateFunction",
           "TableFunction", "UserDefinedAggregateFunctionWrapper", "UserDefinedFunction",
           "UserDefinedFunctionWrapper", "UserDefinedScalarFunctionWrapper",
           "UserDefinedTableFunctionWrapper", "udaf", "udf", "udtaf", "udtf"]

_FUNC_TYPES = ("general", "pandas")


class FunctionContext:
    """What ``open()`` receives: the job parameters given with ``--param KEY=VALUE``, and the
    function's metric group."""

    def __init__(self, job_parameters=None, metric_group=None):
        self._job_parameters = dict(job_parameters or {})
        self._metric_group = metric_group

    def get_job_parameter(self, key, default_value=None):
        return self._job_parameters.get(key, default_value)

    def get_metric_group(self):
        if self._metric_group is None:
            from .metrics import MetricGroup, _Registry
            self._metric_group = MetricGroup(_Registry(), "")
        return self._metric_group


class UserDefinedFunction(abc.ABC):
    """Base of the class-based UDFs: ``open()`` runs once before the first call, ``close()`` after
    the last one. As in PyFlink, a subclass that lacks its kind's abstract methods (``eval``;
    ``create_accumulator``, ``accumulate`` and ``get_value`` or ``emit_value``) cannot be
    instantiated."""

    def open(self, function_context):
        pass

    def close(self):
        pass

    def is_deterministic(self):
        return True


class ScalarFunction(UserDefinedFunction):
    """A scalar function: subclasses define ``eval(self, *args)`` returning one value."""

    @abc.abstractmethod
    def eval(self, *args):
        pass


class TableFunction(UserDefinedFunction):
    """A table function: ``eval(self, *args)`` yields (or returns an iterable of) rows: tuples,
    ``Row``s, or single values when there is one result column; ``None`` means no rows."""

    @abc.abstractmethod
    def eval(self, *args):
        pass


class ImperativeAggregateFunction(UserDefinedFunction):
    """What aggregate and table-aggregate functions share: an accumulator made by
    ``create_accumulator()`` and updated in place by ``accumulate(acc, *args)``; optionally
    ``retract(acc, *args)`` (sliding windows) and ``merge(acc, accs)`` (partial aggregation)."""

    @abc.abstractmethod
    def create_accumulator(self):
        pass

    @abc.abstractmethod
    def accumulate(self, accumulator, *args):
        pass

    def retract(self, accumulator, *args):
        raise NotImplementedError("%s does not define retract(), which sliding windows need"
                                  % type(self).__name__)

    def merge(self, accumulator, accumulators):
        raise NotImplementedError("%s does not define merge(), which combining partial aggregates "
                                  "from several partitions needs" % type(self).__name__)

    def get_result_type(self):
        return None

    def get_accumulator_type(self):
        return None


class AggregateFunction(ImperativeAggregateFunction):
    """An aggregate function: ``get_value(acc)`` turns the accumulator into the result."""

    @abc.abstractmethod
    def get_value(self, accumulator):
        pass


class TableAggregateFunction(ImperativeAggregateFunction):
    """A table-aggregate function: ``emit_value(acc)`` yields result rows, or
    ``emit_update_with_retract(acc, out)`` calls ``out.collect(row)`` / ``out.retract(row)``."""

    @abc.abstractmethod
    def emit_value(self, accumulator):
        pass


def _overrides(instance, base, method):
    defined = getattr(type(instance), method, None)
    return callable(defined) and defined is not getattr(base, method, None)


def _input_names(func, count, skip=0):
    """The Python parameter names of a function's data arguments, in order: the positional
    parameters of ``func`` after the first ``skip`` (an aggregate's accumulator), then ``arg<i>``
    for those only ``*args`` takes. With ``count`` (declared inputs) exactly that many; without,
    as many as are named."""
    names = []
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except Exception:  # a builtin without a signature, a hostile __signature__ ...
        parameters = []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    for parameter in parameters[skip:]:
        if parameter.kind not in positional:
            break
        names.append(parameter.name)
    if count is None:
        return names
    names = names[:count]
    for i in range(len(names), count):
        name = "arg%d" % i
        while name in names:  # def f(arg1, *rest): the second input is not also arg1
            name = "_" + name
        names.append(name)
    return names


def _callable_name(f):
    if isinstance(f, functools.partial):
        return _callable_name(f.func)
    name = getattr(f, "__name__", None)
    if name:
        return name
    return type(f).__name__


class UserDefinedFunctionWrapper:
    """What ``udf``, ``udtf``, ``udaf`` and ``udtaf`` return: the function plus its declared
    types. A UDF file registers every module-level name bound to one of these."""

    kind = None
    # Which Python API registered the function: ``udfbox`` (udfbox's and PyFlink's),
    # ``arrow-udf`` or ``databend-udf``; the API modules of the latter two set it.
    dialect = "udfbox"
    # The callable whose parameters name the data arguments (``None``: ``_call``), and how many
    # of its leading parameters are not data arguments.
    _named = None
    _skipped_parameters = 0

    def __init__(self, func, input_types, result_type, deterministic, name, func_type):
        if func_type not in _FUNC_TYPES:
            # PyFlink's wording: its tests match the message.
            raise ValueError("The func_type must be one of '%s', got %s." % (", ".join(_FUNC_TYPES), func_type))
        if isinstance(input_types, DataType) and input_types.kind == "ROW":
            # PyFlink: a ROW of input types is the list of its fields' types.
            input_types = [f.data_type for f in input_types.fields]
        elif isinstance(input_types, (DataType, str)):
            input_types = [input_types]
        if deterministic is not None and isinstance(func, UserDefinedFunction) \
                and bool(deterministic) != func.is_deterministic():
            raise ValueError("Inconsistent deterministic: %s and %s" % (deterministic, func.is_deterministic()))
        self.func = func
        self.input_types = None if input_types is None else [to_data_type(t) for t in input_types]
        if result_type is None:
            maker = {"scalar": "udf", "table": "udtf", "aggregate": "udaf"}.get(self.kind, "udtaf")
            raise TypeError("%s %s needs a result_type" % (maker, name or _callable_name(func)))
        self.result_type = to_data_type(result_type)
        if deterministic is None:
            deterministic = self._instance.is_deterministic() if self._instance is not None else True
        self.deterministic = bool(deterministic)
        self.explicit_name = name
        self.name = name or _callable_name(func)
        self.func_type = func_type
        # The attributes PyFlink's wrapper has, which its tests and some user code read.
        self._func = func
        self._name = name or getattr(func, "__name__", None) or type(func).__name__
        self._deterministic = self.deterministic
        self._func_type = func_type
        self._input_types = self.input_types
        self._result_type = self.result_type
        self._takes_row_as_input = False
        self.input_names = _input_names(
            self._call if self._named is None else self._named, None if self.input_types is None else len(self.input_types),
            self._skipped_parameters)
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
        return "<%s %s(%s) -> %s>" % (
            self.kind, self.name, "?" if self.input_types is None else ", ".join(map(str, self.input_types)),
            self.result_type)


def _bind(func, expected, maker):
    """The instance (if a class-based UDF) and the callable for ``func``."""
    if isinstance(func, expected):
        return func, func.eval
    if isinstance(func, UserDefinedFunction):
        raise TypeError("%s() takes a %s, got %s" % (maker, expected.__name__, type(func).__name__))
    if inspect.isclass(func):
        raise TypeError("%s() takes a function or an instance, got the class %s; pass %s() instead"
                        % (maker, func.__name__, func.__name__))
    if not callable(func):
        raise TypeError("%s() takes a callable, got %r" % (maker, func))
    return None, func


class UserDefinedScalarFunctionWrapper(UserDefinedFunctionWrapper):
    kind = "scalar"

    def __init__(self, func, input_types, result_type, deterministic, name, func_type):
        self._instance, self._call = _bind(func, ScalarFunction, "udf")
        super().__init__(func, input_types, result_type, deterministic, name, func_type)


class UserDefinedTableFunctionWrapper(UserDefinedFunctionWrapper):
    """A table function. ``result_type`` is a ROW of its result columns ``f0, f1, ...`` (SQL
    names them: ``LATERAL TABLE(f(x)) AS T(a, b)``), or of ``column_names``."""

    # Whether ``_call`` returns rows as tuples of the result columns (the API modules of other
    # libraries normalize them so); else a lone value is a row of one column.
    exact_rows = False

    kind = "table"

    def __init__(self, func, input_types, result_types, deterministic, name, column_names=None):
        self._instance, self._call = _bind(func, TableFunction, "udtf")
        if result_types is None:
            raise TypeError("udtf %s needs result_types" % (name or _callable_name(func)))
        if isinstance(result_types, (DataType, str)):
            result_types = to_data_type(result_types)
            if result_types.kind == "ROW" and column_names is None:
                # As PyFlink: a ROW of result types is the row of result columns.
                column_names = [f.name for f in result_types.fields]
                result_types = [f.data_type for f in result_types.fields]
            else:
                result_types = [result_types]
        self.result_types = [to_data_type(t) for t in result_types]
        if not self.result_types:
            raise TypeError("udtf %s needs at least one result type" % (name or _callable_name(func)))
        if column_names is None:
            column_names = ["f%d" % i for i in range(len(self.result_types))]
        row = "ROW<%s>" % ", ".join("`%s` %s" % (n.replace("`", "``"), t)
                                    for n, t in zip(column_names, self.result_types))
        super().__init__(func, input_types, row, deterministic, name, "general")
        self._result_types = self.result_types


class _VectorizedAggregate(AggregateFunction):
    """A ``func_type="pandas"`` aggregate: keeps each group's (or window frame's) rows and, for
    its value, passes them as whole columns (``Series``) to the function, or, for an
    ``AggregateFunction`` (PyFlink's class-based vectorized aggregate), to a fresh accumulator's
    ``accumulate`` once, followed by ``get_value``, as PyFlink does."""

    def __init__(self, func):
        self.func = func

    def open(self, function_context):
        if isinstance(self.func, UserDefinedFunction):
            self.func.open(function_context)

    def close(self):
        if isinstance(self.func, UserDefinedFunction):
            self.func.close()

    def is_deterministic(self):
        return self.func.is_deterministic() if isinstance(self.func, UserDefinedFunction) else True

    def create_accumulator(self):
        return []

    def accumulate(self, accumulator, *args):
        accumulator.append(list(args))

    def retract(self, accumulator, *args):
        row = list(args)
        for i, kept in enumerate(accumulator):
            if kept == row:
                del accumulator[i]
                return

    def merge(self, accumulator, accumulators):
        for other in accumulators:
            accumulator.extend(other)

    def get_value(self, accumulator):
        from .series import column
        columns = [column(list(c)) for c in zip(*accumulator)] if accumulator else []
        if isinstance(self.func, AggregateFunction):
            user_accumulator = self.func.create_accumulator()
            self.func.accumulate(user_accumulator, *columns)
            return self.func.get_value(user_accumulator)
        return self.func(*columns)


class UserDefinedAggregateFunctionWrapper(UserDefinedFunctionWrapper):
    """An aggregate (``kind="aggregate"``) or table-aggregate (``"table_aggregate"``) function.
    Accumulators cross the sandbox boundary pickled (protocol 4), one BINARY value per group."""

    def __init__(self, func, input_types, result_type, accumulator_type, deterministic, name, func_type,
                 table):
        self.kind = "table_aggregate" if table else "aggregate"
        base = TableAggregateFunction if table else AggregateFunction
        maker = "udtaf" if table else "udaf"
        if func_type == "pandas" and not table:
            if inspect.isclass(func):
                raise TypeError("udaf() takes an instance, got the class %s; pass %s() instead"
                                % (func.__name__, func.__name__))
            if isinstance(func, UserDefinedFunction) and not isinstance(func, AggregateFunction) \
                    or not isinstance(func, UserDefinedFunction) and not callable(func):
                raise TypeError("udaf(func_type='pandas') takes a function of whole columns or an "
                                "AggregateFunction instance, got %r" % (func,))
            if result_type is not None and to_data_type(result_type).kind == "MAP":
                raise TypeError("Invalid returnType: Pandas UDAF doesn't support DataType type %s "
                                "currently" % to_data_type(result_type))
            self._instance = _VectorizedAggregate(func)
            if isinstance(func, AggregateFunction):
                self._named = func.accumulate
                self._skipped_parameters = 1
                if result_type is None:
                    result_type = func.get_result_type()
            else:
                self._named = func
        elif isinstance(func, base):
            self._instance = func
        elif inspect.isclass(func) and issubclass(func, base):
            raise TypeError("%s() takes an instance, got the class %s; pass %s() instead"
                            % (maker, func.__name__, func.__name__))
        else:
            raise TypeError("%s() takes a %s instance, got %r" % (maker, base.__name__, func))
        if result_type is None:
            result_type = self._instance.get_result_type()
        if accumulator_type is None:
            accumulator_type = self._instance.get_accumulator_type()
        self.accumulator_type = None if accumulator_type is None else to_data_type(accumulator_type)
        if table:
            if isinstance(result_type, (list, tuple)):
                result_type = "ROW<%s>" % ", ".join("`f%d` %s" % (i, to_data_type(t)) for i, t in enumerate(result_type))
            elif result_type is not None and to_data_type(result_type).kind != "ROW":
                result_type = "ROW<`f0` %s>" % to_data_type(result_type)
        self._call = self._instance.accumulate
        if not isinstance(self._instance, _VectorizedAggregate):
            self._skipped_parameters = 1  # accumulate(self, accumulator, *args)
        super().__init__(func, input_types, result_type, deterministic, name, func_type)
        self._accumulator_type = self.accumulator_type
        self._is_table_aggregate = table
        self.has_retract = _overrides(self._instance, ImperativeAggregateFunction, "retract")
        self.has_merge = _overrides(self._instance, ImperativeAggregateFunction, "merge")
        self.emits_with_retract = table and callable(getattr(self._instance, "emit_update_with_retract", None))


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
    return UserDefinedScalarFunctionWrapper(f, input_types, result_type, deterministic, name, func_type)


def udtf(f=None, input_types=None, result_types=None, deterministic=None, name=None):
    """Makes a table function from a generator function, a function returning an iterable, or a
    ``TableFunction`` instance; as a call or a decorator, as in PyFlink."""
    if f is None:
        return functools.partial(udtf, input_types=input_types, result_types=result_types,
                                 deterministic=deterministic, name=name)
    return UserDefinedTableFunctionWrapper(f, input_types, result_types, deterministic, name)


def udaf(f=None, input_types=None, result_type=None, accumulator_type=None, deterministic=None,
         name=None, func_type="general"):
    """Makes an aggregate function from an ``AggregateFunction`` instance, or, with
    ``func_type="pandas"``, from a function that takes each group's columns and returns one value."""
    if f is None:
        return functools.partial(udaf, input_types=input_types, result_type=result_type,
                                 accumulator_type=accumulator_type, deterministic=deterministic,
                                 name=name, func_type=func_type)
    return UserDefinedAggregateFunctionWrapper(f, input_types, result_type, accumulator_type,
                                               deterministic, name, func_type, table=False)


def udtaf(f=None, input_types=None, result_type=None, accumulator_type=None, deterministic=None,
          name=None, func_type="general"):
    """Makes a table-aggregate function from a ``TableAggregateFunction`` instance."""
    if f is None:
        return functools.partial(udtaf, input_types=input_types, result_type=result_type,
                                 accumulator_type=accumulator_type, deterministic=deterministic,
                                 name=name, func_type=func_type)
    if func_type != "general":
        raise ValueError("udtaf supports func_type='general' only")
    return UserDefinedAggregateFunctionWrapper(f, input_types, result_type, accumulator_type,
                                               deterministic, name, func_type, table=True)
