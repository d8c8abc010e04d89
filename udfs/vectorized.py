# Vectorized ("pandas") UDFs: each call receives whole columns; no pandas needed.
# tables: people=udfs/data/people.csv
# query: SELECT id, age, vadd(id, age) AS id_plus_age, older_than_id(age, id) AS older,
#   raise_salary(salary) AS raised FROM people ORDER BY id
from udfbox import DataTypes, udf


@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def vadd(i, j):
    return i + j


@udf(input_types=[DataTypes.BIGINT(), DataTypes.BIGINT()], result_type=DataTypes.BOOLEAN(),
     func_type="pandas")
def older_than_id(age, id):
    return age > id


@udf(input_types=[DataTypes.DOUBLE()], result_type=DataTypes.DOUBLE(), func_type="pandas")
def raise_salary(salary):
    return (salary * 1.1).round(2)
