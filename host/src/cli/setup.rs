//! What every subcommand that loads UDFs shares: job parameters, dependencies, limits, error
//! policies, and loading the files into a `FunctionSet`.

use std::path::PathBuf;

use udfbox::{ErrorPolicy, FunctionSet, Limits, Mode, Options};

/// What UDFs get: job parameters, dependencies, limits.
#[derive(clap::Args)]
pub struct SetupArgs {
    /// A job parameter for `FunctionContext.get_job_parameter` (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// A directory of pure-Python packages and resource files, importable and readable by the
    /// UDFs, never writable (`/deps` in the sandbox).
    #[arg(long, value_name = "DIR")]
    pub deps: Option<PathBuf>,
    /// A PyFlink bundling knob: python.fn-execution.bundle.size (100000), .bundle.time (1000 ms)
    /// or .arrow.batch.size (10000) (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// The Python interpreter of process mode's workers (default: $UDFBOX_PYTHON, else python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Replayable runs (wasm mode): virtual clocks and random numbers seeded from each call's
    /// function and arguments, so the same input gives byte-identical output.
    #[arg(long)]
    pub deterministic: bool,
    /// Snapshot after open(): loads run open() at once, and sandboxes (or workers) made later
    /// start from that state instead of running the files and open() again.
    #[arg(long)]
    pub snapshot: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Sandbox limits (wasm mode); see `udfbox::Limits` for what each one does.
#[derive(clap::Args)]
pub struct LimitArgs {
    /// Linear memory per sandbox, e.g. 256MiB (the default).
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
    /// Time per call, e.g. 10s (the default) or 500ms.
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Fuel (about one unit per WebAssembly instruction) per call; also reports fuel used.
    #[arg(long, value_name = "UNITS")]
    pub fuel: Option<u64>,
    /// Sandboxes run at once for parallel query partitions (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_instances: Option<u32>,
}

impl LimitArgs {
    pub fn limits(&self) -> Result<Limits, String> {
        let mut limits = Limits::default();
        if let Some(size) = &self.memory_limit {
            limits.memory_bytes = udfbox::limits::parse_size(size).map_err(|e| e.to_string())?;
        }
        if let Some(timeout) = &self.timeout {
            limits.timeout = udfbox::limits::parse_duration(timeout).map_err(|e| e.to_string())?;
        }
        limits.fuel = self.fuel;
        if let Some(n) = self.max_instances {
            limits.max_instances = n as usize;
        }
        Ok(limits)
    }
}

pub fn key_value(flag: &str, text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_string(), value.to_string())),
        _ => Err(format!(
            "invalid {flag} '{text}': expected {}",
            if flag == "--table" { "NAME=PATH" } else { "KEY=VALUE" }
        )),
    }
}

/// `--on-error fail|null` for every function, or `--on-error NAME=fail|null` for one.
pub fn error_policies(args: &[String], options: &mut Options) -> Result<(), String> {
    for arg in args {
        let invalid = || format!("invalid --on-error '{arg}': expected fail or null, or NAME=fail|null");
        let parse = |text: &str| <ErrorPolicy as clap::ValueEnum>::from_str(text.trim(), true).map_err(|_| invalid());
        match arg.split_once('=') {
            Some((name, policy)) if !name.trim().is_empty() => {
                options.error_policies.insert(name.trim().to_string(), parse(policy)?);
            }
            Some(_) => return Err(invalid()),
            None => options.on_error = parse(arg)?,
        }
    }
    Ok(())
}

/// The options `setup` and `on_error` describe for a set in `mode` (notes about what a mode
/// ignores go to stderr).
pub fn options(mode: Mode, setup: &SetupArgs, on_error: &[String]) -> Result<Options, String> {
    let params = setup.params.iter().map(|p| key_value("--param", p)).collect::<Result<Vec<_>, _>>()?;
    let limits = setup.limits.limits()?;
    match mode {
        Mode::Native => {
            eprintln!(
                "udfbox: note: --mode native runs UDFs unsandboxed in this process; use it for trusted code only"
            );
            if limits != Limits::default() {
                eprintln!(
                    "udfbox: note: --memory-limit, --timeout, --fuel and --max-instances apply in wasm and process mode only"
                );
            }
        }
        Mode::Process => {
            eprintln!(
                "udfbox: note: --mode process runs UDFs in worker processes with your rights, unsandboxed; use it for trusted code only"
            );
            if setup.limits.fuel.is_some() {
                eprintln!("udfbox: note: --fuel applies in wasm mode only");
            }
        }
        Mode::Wasm => {}
    }
    let mut options = Options {
        mode,
        params,
        limits,
        deps: setup.deps.clone(),
        python: setup.python.clone(),
        deterministic: setup.deterministic,
        snapshot: setup.snapshot,
        ..Default::default()
    };
    for entry in &setup.config {
        let (key, value) = key_value("--config", entry)?;
        options.config.set(&key, &value).map_err(|e| e.to_string())?;
    }
    error_policies(on_error, &mut options)?;
    Ok(options)
}

pub fn load(udfs: &[PathBuf], mode: Mode, setup: &SetupArgs, on_error: &[String]) -> Result<FunctionSet, String> {
    let options = options(mode, setup, on_error)?;
    let mut set = FunctionSet::new(options).map_err(|e| e.to_string())?;
    for path in udfs {
        set.load_file(path).map_err(|e| e.to_string())?;
    }
    for name in set.options().error_policies.keys() {
        if set.function(name).is_none() {
            return Err(format!("--on-error names '{name}', which no --udf file defines"));
        }
    }
    Ok(set)
}
