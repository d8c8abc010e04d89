from udfbox import udf

double = udf(lambda x: 2 * x)
