# open() and job parameters: the greeting comes from `--param greeting=...`.
# tables: people=udfs/data/people.csv
# params: greeting=Hallo
# query: SELECT id, greet(name) AS greeting, greet_default(name) AS fallback FROM people WHERE id <= 3 ORDER BY id
from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, udf


class Greet(ScalarFunction):
    def __init__(self, key, default):
        self.key = key
        self.default = default
        self.greeting = None

    def open(self, function_context: FunctionContext):
        self.greeting = function_context.get_job_parameter(self.key, self.default)

    def eval(self, name):
        return "%s, %s!" % (self.greeting, name)


greet = udf(Greet("greeting", "Hello"), result_type=DataTypes.STRING())
greet_default = udf(Greet("not_set", "Hello"), result_type=DataTypes.STRING())
