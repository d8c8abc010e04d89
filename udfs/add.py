# The five ways PyFlink defines a scalar function (Flink blog, "PyFlink UDFs"), all registered.
# tables: orders=udfs/data/orders.csv
# query: SELECT order_id, person_id, add_class(order_id, person_id) AS a, add_decorated(order_id, person_id) AS b,
#   add_lambda(order_id, person_id) AS c, add_callable(order_id, person_id) AS d, add_partial(order_id, person_id) AS e
#   FROM orders ORDER BY order_id
import functools

from udfbox import DataTypes, ScalarFunction, udf


# option 1: extending the base class `ScalarFunction`
class Add(ScalarFunction):
    def eval(self, i, j):
        return i + j


add_class = udf(Add(), [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())


# option 2: a Python function
@udf(input_types=[DataTypes.BIGINT(), DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
def add_decorated(i, j):
    return i + j


# option 3: a lambda
add_lambda = udf(lambda i, j: i + j, [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())


# option 4: a callable object
class CallableAdd(object):
    def __call__(self, i, j):
        return i + j


add_callable = udf(CallableAdd(), [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())


# option 5: a partial function
def partial_add(i, j, k):
    return i + j + k


add_partial = udf(functools.partial(partial_add, k=1), [DataTypes.BIGINT(), DataTypes.BIGINT()],
                  DataTypes.BIGINT())
