//! Builds the sandbox guest: componentize-py turns `guest-runtime/` + `wit/` into a WebAssembly
//! component in `OUT_DIR`, which the crate embeds. Also points the binary at the machine's
//! libpython for the native backend.

use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py release the guest is built and tested with (bundles CPython 3.14).
const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    if env::var_os("CARGO_FEATURE_WASM").is_some() {
        build_guest(&root);
    }
    if env::var_os("CARGO_FEATURE_NATIVE").is_some() {
        link_libpython();
    }
}

/// How componentize-py is run (the output path follows). Part of the compiled-guest cache key,
/// with the sources: a change here must not reuse an artifact built the old way.
const COMPONENTIZE_ARGS: [&str; 9] =
    ["-d", "wit", "-w", "udfbox-guest", "componentize", "guest", "-p", "guest-runtime", "-o"];
const COMPONENTIZE_ENV: [(&str, &str); 1] = [("PYTHONDONTWRITEBYTECODE", "1")];

/// The Python packages of `guest-runtime/` (as `host/src/backend/sources.rs` embeds them).
const PACKAGES: [&str; 4] = ["udfbox", "pyflink", "arrow_udf", "databend_udf"];

fn inputs(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("wit/udfbox.wit"), root.join("guest-runtime/guest.py")];
    let mut sources = Vec::new();
    for package in PACKAGES {
        python_files(&root.join("guest-runtime").join(package), &mut sources);
    }
    sources.sort();
    files.extend(sources);
    files
}

fn python_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("read guest-runtime").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "__pycache__") {
                python_files(&path, out);
            }
        } else if path.extension().is_some_and(|x| x == "py") {
            out.push(path);
        }
    }
}

fn build_guest(root: &Path) {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("udfbox_guest.wasm");
    let files = inputs(root);
    println!("cargo:rerun-if-changed={}", root.join("guest-runtime").display());
    println!("cargo:rerun-if-env-changed=UDFBOX_COMPONENTIZE_PY");
    let mut hasher = DefaultHasher::new();
    COMPONENTIZE_PY_VERSION.hash(&mut hasher);
    COMPONENTIZE_ARGS.hash(&mut hasher);
    COMPONENTIZE_ENV.hash(&mut hasher);
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        file.file_name().hash(&mut hasher);
        fs::read(file).expect("read guest source").hash(&mut hasher);
    }
    // The compiled-artifact cache is keyed on this (plus wasmtime's own compatibility hash).
    println!("cargo:rustc-env=UDFBOX_GUEST_HASH={:016x}", hasher.finish());

    let tool = env::var_os("UDFBOX_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/componentize-py"));
    if !tool.exists() {
        panic!(
            "componentize-py not found at {}.\nRun `scripts/bootstrap` (installs componentize-py=={} \
             into .venv) or set UDFBOX_COMPONENTIZE_PY.",
            tool.display(),
            COMPONENTIZE_PY_VERSION
        );
    }
    let version = Command::new(&tool).arg("--version").output().expect("run componentize-py");
    let version = String::from_utf8_lossy(&version.stdout);
    if !version.contains(COMPONENTIZE_PY_VERSION) {
        panic!("componentize-py {COMPONENTIZE_PY_VERSION} is required, found `{}`", version.trim());
    }
    let status = Command::new(&tool)
        .current_dir(root)
        .envs(COMPONENTIZE_ENV)
        .args(COMPONENTIZE_ARGS)
        .arg(&out)
        .status()
        .expect("run componentize-py");
    if !status.success() {
        panic!("componentize-py failed to build the guest ({status})");
    }
}

fn link_libpython() {
    // pyo3 links libpython but sets no run-time search path; a pyenv or venv Python keeps its
    // shared library outside the loader's default path, so record where it is.
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let python = env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let output =
        Command::new(python).args(["-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')"]).output();
    if let Ok(output) = output {
        let libdir = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if !libdir.is_empty() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{libdir}");
        }
    }
}
