# A function that loads a resource file in open(): the stop words come from the read-only
# dependency directory granted with --deps, as does the `textnorm` package it imports.
# tables: people=udfs/data/people.csv
# deps: udfs/deps
# query: SELECT id, keywords(concat('The story of ', name, ' and the city of ', city)) AS k FROM people ORDER BY id
import textnorm
from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf


class Keywords(ScalarFunction):

    def open(self, function_context):
        with open("stopwords.txt") as f:  # relative paths resolve in the --deps directory
            self.stopwords = set(f.read().split())

    def eval(self, text):
        if text is None:
            return None
        return [w for w in textnorm.words(text) if w and w not in self.stopwords]


keywords = udf(Keywords(), result_type=DataTypes.ARRAY(DataTypes.STRING()))
