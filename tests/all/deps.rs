//! The one grantable capability: a read-only dependency directory (`Options::deps`, `--deps`).
//! Packages in it import and resource files in it read, the same in both modes; in the sandbox
//! nothing in it can be written, created or removed, and nothing outside it can be reached.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use udfbox::{FunctionSet, Mode, Options};

use crate::harness::{assert_no_panic, udfbox, MODES};

/// `{"scale": 3}`, pickled with protocol 0 (plain ASCII).
const MODEL_PKL: &[u8] = b"(dp0\nVscale\np1\nI3\ns.";

const USES_DEPS: &str = r#"
import pickle
import textkit
import udfbox
from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf

class Scale(ScalarFunction):
    def open(self, function_context):
        with open("model.pkl", "rb") as f:      # relative: read from the dependency directory
            self.model = pickle.load(f)

    def eval(self, x):
        return x * self.model["scale"]

scale = udf(Scale(), result_type=DataTypes.BIGINT())
shout = udf(lambda s: textkit.shout(s), result_type=DataTypes.STRING())
has_deps = udf(lambda: udfbox.deps_dir() is not None, result_type=DataTypes.BOOLEAN())
"#;

/// Each attempt returns "ok: ..." or the exception type it raised.
const ATTEMPTS: &str = r#"
import os
from udfbox import udf

def _try(action):
    try:
        return "ok: %s" % (action(),)
    except BaseException as exc:
        return type(exc).__name__

ACTIONS = {
    "overwrite": lambda: open("model.pkl", "wb").write(b"x"),
    "create": lambda: open("new.txt", "w").write("x"),
    "append": lambda: open("/deps/model.pkl", "ab").write(b"x"),
    "remove": lambda: os.remove("/deps/model.pkl"),
    "mkdir": lambda: os.mkdir("/deps/sub"),
    "rename": lambda: os.rename("/deps/model.pkl", "/deps/moved.pkl"),
    "parent": lambda: open("/deps/../etc/passwd").read(),
    "dotdot": lambda: open("../../../../etc/passwd").read(),
    "symlink": lambda: open("/deps/passwd_link").read(),
    "symlink_dir": lambda: os.listdir("/deps/root_link"),
    "read": lambda: len(open("model.pkl", "rb").read()),
}

attempt = udf(lambda name: _try(ACTIONS[name]), result_type="STRING")
"#;

fn fill_deps(dir: &Path) {
    std::fs::create_dir_all(dir.join("textkit")).unwrap();
    std::fs::write(dir.join("textkit/__init__.py"), "def shout(s):\n    return s.upper() + '!'\n").unwrap();
    std::fs::write(dir.join("model.pkl"), MODEL_PKL).unwrap();
}

fn set_with(mode: Mode, deps: Option<&Path>, source: &str) -> FunctionSet {
    let mut set = FunctionSet::new(Options { mode, deps: deps.map(Path::to_path_buf), ..Default::default() }).unwrap();
    set.load_source("deps_test.py", source).unwrap();
    set
}

#[test]
fn packages_import_and_resources_read_in_both_modes() {
    let deps = tempfile::tempdir().unwrap();
    fill_deps(deps.path());
    let numbers: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
    let words: ArrayRef = Arc::new(StringArray::from(vec!["hi", "there"]));
    let mut seen = Vec::new();
    for mode in MODES {
        let set = set_with(mode, Some(deps.path()), USES_DEPS);
        let scaled = set.call("scale", &[numbers.clone()], 3).unwrap();
        assert_eq!(scaled.as_ref(), &Int64Array::from(vec![3, 6, 9]), "{mode}");
        let shouted = set.call("shout", &[words.clone()], 2).unwrap();
        assert_eq!(shouted.as_ref(), &StringArray::from(vec!["HI!", "THERE!"]), "{mode}");
        seen.push((scaled, shouted));
    }
    assert_eq!(seen[0], seen[1], "wasm and native disagree");
}

#[test]
fn without_a_grant_there_is_no_directory() {
    let error = FunctionSet::new(Options { mode: Mode::Wasm, ..Default::default() })
        .unwrap()
        .load_source("deps_test.py", USES_DEPS)
        .unwrap_err();
    assert!(error.to_string().contains("No module named 'textkit'"), "{error}");
    let set = set_with(Mode::Wasm, None, "from udfbox import udf, deps_dir\nhas = udf(lambda: deps_dir() is not None, result_type='BOOLEAN')\nexists = udf(lambda: __import__('os').path.exists('/deps'), result_type='BOOLEAN')\n");
    for name in ["has", "exists"] {
        let result = set.call(name, &[], 1).unwrap();
        assert_eq!(result.as_ref(), &arrow::array::BooleanArray::from(vec![false]), "{name}");
    }
    let missing = FunctionSet::new(Options { deps: Some("/no/such/dir".into()), ..Default::default() }).unwrap_err();
    assert!(missing.to_string().contains("/no/such/dir"), "{missing}");
}

#[test]
fn the_directory_is_read_only_and_closed_in_the_sandbox() {
    let deps = tempfile::tempdir().unwrap();
    fill_deps(deps.path());
    std::os::unix::fs::symlink("/etc/passwd", deps.path().join("passwd_link")).unwrap();
    std::os::unix::fs::symlink("/", deps.path().join("root_link")).unwrap();
    let set = set_with(Mode::Wasm, Some(deps.path()), ATTEMPTS);
    for (action, denied) in [
        ("overwrite", true),
        ("create", true),
        ("append", true),
        ("remove", true),
        ("mkdir", true),
        ("rename", true),
        ("parent", true),
        ("dotdot", true),
        ("symlink", true),
        ("symlink_dir", true),
        ("read", false),
    ] {
        let name: ArrayRef = Arc::new(StringArray::from(vec![action]));
        let result = set.call("attempt", &[name], 1).unwrap();
        let text = result.as_any().downcast_ref::<StringArray>().unwrap().value(0).to_string();
        if denied {
            assert!(!text.starts_with("ok"), "{action} was allowed: {text}");
            assert!(text.ends_with("Error"), "{action}: {text}");
        } else {
            assert_eq!(text, format!("ok: {}", MODEL_PKL.len()));
        }
    }
    assert_eq!(std::fs::read(deps.path().join("model.pkl")).unwrap(), MODEL_PKL, "the file is unchanged");
    assert!(!deps.path().join("new.txt").exists() && !deps.path().join("sub").exists());
}

#[test]
fn each_tenant_sees_its_own_directory_only() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(a.path().join("secret_a.txt"), "tenant a").unwrap();
    std::fs::write(b.path().join("secret_b.txt"), "tenant b").unwrap();
    let source = "import os\nfrom udfbox import udf\nlisting = udf(lambda: ','.join(sorted(os.listdir('/deps'))), result_type='STRING')\n";
    for (dir, expected) in [(&a, "secret_a.txt"), (&b, "secret_b.txt")] {
        let set = set_with(Mode::Wasm, Some(dir.path()), source);
        let result = set.call("listing", &[], 1).unwrap();
        assert_eq!(result.as_ref(), &StringArray::from(vec![expected]));
    }
}

#[test]
fn deps_from_the_command_line() {
    let deps = tempfile::tempdir().unwrap();
    fill_deps(deps.path());
    let file = deps.path().with_extension("udf.py");
    std::fs::write(&file, USES_DEPS).unwrap();
    let (file, dir) = (file.to_str().unwrap(), deps.path().to_str().unwrap());
    for mode in ["wasm", "native"] {
        let (code, out, err) = udfbox(&[
            "sql",
            "--mode",
            mode,
            "--udf",
            file,
            "--deps",
            dir,
            "--format",
            "csv",
            "SELECT scale(2) AS s, shout('ok') AS t",
        ]);
        assert_eq!(code, 0, "{mode}: {err}");
        assert_eq!(out, "s,t\n6,OK!\n", "{mode}");
    }
    let (code, _, err) = udfbox(&["sql", "--udf", file, "--deps", "/no/such/dir", "SELECT 1"]);
    assert_eq!(code, 1);
    assert!(err.contains("/no/such/dir"), "{err}");
    assert_no_panic(&err);
    std::fs::remove_file(file).unwrap();
}

/// The README's requirements.txt workflow: `scripts/install-deps` puts pure-Python wheels into a
/// directory that `--deps` grants. Run offline here, from a wheel built on the spot.
#[test]
fn requirements_install_into_a_deps_directory() {
    let work = tempfile::tempdir().unwrap();
    let wheels = work.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let build_wheel = r#"
import sys, zipfile
path = sys.argv[1] + "/textkit-1.0-py3-none-any.whl"
files = {
    "textkit/__init__.py": "def shout(s):\n    return s.upper() + '!'\n",
    "textkit-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: textkit\nVersion: 1.0\n",
    "textkit-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: udfbox-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
files["textkit-1.0.dist-info/RECORD"] = "".join("%s,,\n" % name for name in list(files) + ["textkit-1.0.dist-info/RECORD"])
with zipfile.ZipFile(path, "w") as wheel:
    for name, text in files.items():
        wheel.writestr(name, text)
"#;
    let status = std::process::Command::new("python3").args(["-c", build_wheel]).arg(&wheels).status().unwrap();
    assert!(status.success());
    std::fs::write(work.path().join("requirements.txt"), "textkit==1.0\n").unwrap();
    let deps = work.path().join("deps");
    let output = std::process::Command::new(crate::harness::repo_root().join("scripts/install-deps"))
        .arg(work.path().join("requirements.txt"))
        .arg(&deps)
        .args(["--no-index", "--find-links"])
        .arg(&wheels)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    std::fs::write(deps.join("model.pkl"), MODEL_PKL).unwrap();
    for mode in MODES {
        let set = set_with(mode, Some(&deps), USES_DEPS);
        let words: ArrayRef = Arc::new(StringArray::from(vec!["wheel"]));
        assert_eq!(set.call("shout", &[words], 1).unwrap().as_ref(), &StringArray::from(vec!["WHEEL!"]), "{mode}");
    }
}

/// Each open file under `/deps` holds a host descriptor: a sandbox may hold at most
/// `udfbox::wasm::MAX_WASI_HANDLES` WASI handles at once. Past that the sandbox ends with a typed
/// error naming the bound, the host can still open files, and the next call runs in a fresh one.
#[test]
fn a_sandbox_cannot_hoard_host_descriptors() {
    let deps = tempfile::tempdir().unwrap();
    fill_deps(deps.path());
    let source = r#"
from udfbox import udf
held = []

def hoard(n):
    for _ in range(n):
        held.append(open("model.pkl", "rb"))
    return len(held)

hoard_files = udf(hoard, result_type="BIGINT", input_types=["BIGINT"])
read = udf(lambda: len(open("model.pkl", "rb").read()), result_type="BIGINT")
"#;
    let set = set_with(Mode::Wasm, Some(deps.path()), source);
    let n: ArrayRef = Arc::new(Int64Array::from(vec![20_000]));
    let error = set.call("hoard_files", &[n], 1).unwrap_err();
    assert!(matches!(error, udfbox::Error::Sandbox { .. }), "{error:?}");
    assert!(error.to_string().contains(&udfbox::wasm::MAX_WASI_HANDLES.to_string()), "{error}");
    // The host still opens files, and the set still works (in a fresh sandbox).
    std::fs::File::open(deps.path().join("model.pkl")).unwrap();
    let read = set.call("read", &[], 1).unwrap();
    assert_eq!(read.as_ref(), &Int64Array::from(vec![MODEL_PKL.len() as i64]));
}

/// A FIFO (or socket, or device) blocks a read forever: a dependency directory holding one is
/// refused when the set is made, naming the file.
#[test]
fn a_dependency_directory_with_a_fifo_is_refused() {
    let deps = tempfile::tempdir().unwrap();
    fill_deps(deps.path());
    std::fs::create_dir(deps.path().join("nested")).unwrap();
    let fifo = deps.path().join("nested/pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let error = FunctionSet::new(Options { mode: Mode::Wasm, deps: Some(deps.path().into()), ..Default::default() })
        .err()
        .expect("a directory with a FIFO is refused");
    assert!(error.to_string().contains("nested/pipe"), "{error}");
}
