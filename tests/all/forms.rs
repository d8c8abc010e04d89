//! Every PyFlink way to define a scalar UDF, registration names, lifecycle and determinism.

use crate::harness::{check, function_set, MODES};

const FORMS: &str = r#"
import functools
from udfbox import DataTypes, ScalarFunction, udf

class Add(ScalarFunction):
    def eval(self, i, j):
        return i + j

add_class = udf(Add(), [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())

@udf(input_types=[DataTypes.BIGINT(), DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
def add_function(i, j):
    return i + j

add_lambda = udf(lambda i, j: i + j, [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())

class CallableAdd:
    def __call__(self, i, j):
        return i + j

add_callable = udf(CallableAdd(), [DataTypes.BIGINT(), DataTypes.BIGINT()], DataTypes.BIGINT())

def partial_add(i, j, k):
    return i + j + k

add_partial = udf(functools.partial(partial_add, k=10), [DataTypes.BIGINT(), DataTypes.BIGINT()],
                  DataTypes.BIGINT())

@udf(result_type="BIGINT")
def add_inferred(i, j):
    return i + j

negate = udf(lambda x: -x, DataTypes.BIGINT(), DataTypes.BIGINT())
opposite = negate

renamed = udf(lambda x: x * 3, result_type=DataTypes.BIGINT(), name="triple")

@udf(result_type=DataTypes.BIGINT())
def addOne(x):
    return x + 1

@udf(result_type=DataTypes.STRING())
def constant():
    return "k"
"#;

#[tokio::test]
async fn five_pyflink_forms_and_call_site_types() {
    check(
        FORMS,
        None,
        "SELECT add_class(1, 2) a, add_function(3, 4) b, add_lambda(5, 6) c, add_callable(7, 8) d, \
         add_partial(1, 1) e, add_inferred(2, 2) f, negate(5) g, opposite(6) h, triple(2) t, \"addOne\"(1) j, \
         addone(2) k, constant() l",
        "a,b,c,d,e,f,g,h,t,j,k,l
         3,7,11,15,12,4,-5,-6,6,2,3,k",
    )
    .await;
}

#[tokio::test]
async fn registration_names_and_metadata() {
    for mode in MODES {
        let set = function_set(mode, FORMS).unwrap();
        let names: Vec<&str> = set.functions().map(|f| f.info.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "addOne",
                "add_callable",
                "add_class",
                "add_function",
                "add_inferred",
                "add_lambda",
                "add_partial",
                "constant",
                "negate",
                "opposite",
                "triple"
            ],
            "{mode}"
        );
        let add = set.function("add_class").unwrap();
        assert_eq!(add.info.input_types.as_deref(), Some(&["BIGINT".to_string(), "BIGINT".to_string()][..]));
        assert_eq!(add.info.result_type, "BIGINT");
        assert_eq!(add.info.kind, "scalar");
        assert!(add.info.deterministic);
        assert_eq!(set.function("add_inferred").unwrap().info.input_types, None);
        assert!(set.function("renamed").is_none(), "name= replaces the variable name");
        // Input names come from the Python signature, whatever the form.
        for (name, inputs) in [
            ("add_class", &["i", "j"][..]),
            ("add_function", &["i", "j"]),
            ("add_lambda", &["i", "j"]),
            ("add_callable", &["i", "j"]),
            ("add_partial", &["i", "j"]),
            ("add_inferred", &["i", "j"]),
            ("negate", &["x"]),
            ("triple", &["x"]),
            ("constant", &[]),
        ] {
            let info = &set.function(name).unwrap().info;
            assert_eq!(info.input_names, inputs, "{name} in {mode}");
            assert_eq!(info.dialect, "udfbox", "{name} in {mode}");
        }
    }
}

const LIFECYCLE: &str = r#"
from udfbox import DataTypes, ScalarFunction, udf

class CountOpens(ScalarFunction):
    opens = 0
    def open(self, function_context):
        CountOpens.opens += 1
        self.offset = int(function_context.get_job_parameter("offset", "100"))
    def eval(self, x):
        return CountOpens.opens * 1000 + self.offset + x

count_opens = udf(CountOpens(), result_type=DataTypes.BIGINT())

calls = {"n": 0}

def next_number():
    calls["n"] += 1
    return calls["n"]

volatile_counter = udf(next_number, result_type=DataTypes.BIGINT(), deterministic=False)

class Stable(ScalarFunction):
    def __init__(self):
        self.n = 0
    def eval(self):
        self.n += 1
        return self.n

stable_counter = udf(Stable(), result_type=DataTypes.BIGINT())

class Random(ScalarFunction):
    def __init__(self):
        self.n = 0
    def eval(self):
        self.n += 1
        return self.n
    def is_deterministic(self):
        return False

class_volatile = udf(Random(), result_type=DataTypes.BIGINT())
"#;

#[tokio::test]
async fn open_runs_once_before_the_first_call() {
    check(
        LIFECYCLE,
        None,
        "SELECT count_opens(v) AS r FROM (VALUES (1), (2), (3)) AS x(v) ORDER BY r",
        "r
         1101
         1102
         1103",
    )
    .await;
}

#[tokio::test]
async fn non_deterministic_functions_are_never_folded() {
    // A deterministic function without arguments is a constant: DataFusion folds it once.
    // deterministic=False (or is_deterministic() returning False) makes it run for every row.
    check(
        LIFECYCLE,
        None,
        "SELECT v, volatile_counter() AS volatile, stable_counter() AS stable, class_volatile() AS c \
         FROM (VALUES (1), (2), (3)) AS x(v) ORDER BY volatile",
        "v,volatile,stable,c
         1,1,1,1
         2,2,1,2
         3,3,1,3",
    )
    .await;
    for mode in MODES {
        let set = function_set(mode, LIFECYCLE).unwrap();
        assert!(!set.function("volatile_counter").unwrap().info.deterministic);
        assert!(!set.function("class_volatile").unwrap().info.deterministic);
        assert!(set.function("stable_counter").unwrap().info.deterministic);
    }
}

#[tokio::test]
async fn close_runs_after_the_last_call() {
    let source = r#"
from udfbox import DataTypes, ScalarFunction, udf
class Closing(ScalarFunction):
    def eval(self, x):
        return x
    def close(self):
        raise RuntimeError("closed after use")
closing = udf(Closing(), result_type=DataTypes.BIGINT())
"#;
    for mode in MODES {
        let set = function_set(mode, source).unwrap();
        // Never opened: close() is not called.
        set.close().unwrap();
        let ints: arrow::array::ArrayRef = std::sync::Arc::new(arrow::array::Int64Array::from(vec![1]));
        set.call("closing", &[ints], 1).unwrap();
        let error = set.close().unwrap_err().to_string();
        assert!(error.contains("RuntimeError: closed after use (in close())"), "{mode}: {error}");
    }
}

#[tokio::test]
async fn input_names_of_every_kind() {
    let source = r#"
from udfbox import AggregateFunction, DataTypes, udaf, udf, udtf

@udf(input_types=["INT", "INT", "INT"], result_type="INT")
def total(arg1, *rest):
    return arg1 + sum(rest)

spread = udf(lambda *values: len(values), ["INT", "INT"], "INT")
builtin = udf(len, ["STRING"], "INT")

@udtf(result_types=["INT"])
def repeat(value, times):
    for _ in range(times):
        yield value

class Sum(AggregateFunction):
    def create_accumulator(self):
        return [0]
    def accumulate(self, accumulator, amount, weight):
        accumulator[0] += amount * weight
    def get_value(self, accumulator):
        return accumulator[0]

weighted = udaf(Sum(), result_type="BIGINT")
mean = udaf(lambda price: price.mean(), ["DOUBLE"], "DOUBLE", func_type="pandas")
"#;
    for mode in MODES {
        let set = function_set(mode, source).unwrap();
        for (name, inputs) in [
            ("total", &["arg1", "_arg1", "arg2"][..]),
            ("spread", &["arg0", "arg1"]),
            ("builtin", &["obj"]),
            ("repeat", &["value", "times"]),
            ("weighted", &["amount", "weight"]),
            ("mean", &["price"]),
        ] {
            assert_eq!(set.function(name).unwrap().info.input_names, inputs, "{name} in {mode}");
        }
    }
}

#[tokio::test]
async fn the_host_checks_what_the_runtime_reports() {
    // A UDF file can patch the runtime it runs in; what it then reports is checked on the host.
    let cases = [
        ("f.dialect = 'evil'", "function 'f' reports an unknown dialect 'evil'"),
        ("f.input_names = ['a', 'b']", "function 'f' reports 2 input names for 1 input types"),
        ("f.input_names = ['']", "function 'f' reports an input name that is empty or longer than 256 bytes"),
    ];
    for (patch, message) in cases {
        let source = format!("from udfbox import udf\nf = udf(lambda a: a, ['INT'], 'INT')\n{patch}\n");
        for mode in MODES {
            let error = function_set(mode, &source).unwrap_err();
            assert_eq!(error.to_string(), message, "{mode}");
        }
    }
}
