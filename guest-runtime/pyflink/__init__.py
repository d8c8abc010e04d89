"""PyFlink compatibility: UDF files written for PyFlink import from here and run unchanged.

Only the UDF-definition API is provided (types, rows, udf and the function classes); see
``docs/PYFLINK.md`` for what is not supported.
"""
