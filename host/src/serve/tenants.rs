//! Where a server's tenants come from, and reloading them without a restart.
//!
//! A tenant is one [`FunctionSet`] (its own sandboxes, limits, dependency directory and error
//! policy) plus the functions it serves, its token hash and its concurrency permits. Tenants
//! come from `--udf` files (the open tenant, reached without a token) and from a directory,
//! one sub-folder per tenant:
//!
//! ```text
//! DIR/<tenant>/tenant.toml   token_sha256 = "<hex sha256 of the token>"   (required)
//!                            on_error = "fail" | "null", dialect = "risingwave" | "databend"
//!                            [limits] memory = "256MiB", timeout = "10s", fuel = N, max_instances = N
//!                            [params] key = "value"   (job parameters)
//! DIR/<tenant>/*.py          UDF files, loaded in name order
//! DIR/<tenant>/deps/         optional: importable, readable, never writable (/deps in the sandbox)
//! ```
//!
//! The live tenants are one immutable [`Registry`] snapshot; a reload builds a new one (only
//! tenants whose files changed are rebuilt, found by a hash of their files) and swaps it in.
//! Calls hold the `Arc<Tenant>` they started with, so calls in flight finish on the old set.
//! Unlike `crate::Tenants` (a mutable map by id), the snapshot changes as a whole, so a token is
//! never resolved against a half-reloaded directory.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::dialect::{Builtin, Dialect, Signature};
use crate::backend::{ErrorPolicy, FunctionSet, Options};
use crate::error::{Error, Result};
use crate::limits::{parse_duration, parse_size};

/// The open tenant's name in logs and metrics.
pub const OPEN_TENANT: &str = "default";
/// Tenant folder names: at most this long, of `[A-Za-z0-9._-]`.
const MAX_TENANT_ID: usize = 64;
/// Files of a `deps/` directory looked at for its fingerprint, at most.
const MAX_DEPS_ENTRIES: usize = 100_000;

pub type TokenHash = [u8; 32];

/// The SHA-256 of a bearer token.
pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// How a served function runs.
#[derive(Debug, Clone)]
pub enum Target {
    /// A UDF of the tenant's set, with the error policy the server applies.
    Udf {
        policy: ErrorPolicy,
    },
    Builtin(Builtin),
}

/// A function as a tenant serves it.
#[derive(Debug, Clone)]
pub struct Served {
    pub signature: Signature,
    pub target: Target,
}

impl Served {
    /// Whether results carry RisingWave's per-row `error` column (`on_error = null`).
    pub fn error_column(&self) -> bool {
        matches!(self.target, Target::Udf { policy: ErrorPolicy::Null }) && self.signature.output_with_errors.is_some()
    }
}

/// One tenant: its set, its functions, its token and its concurrency.
pub struct Tenant {
    pub id: String,
    /// `None`: the open tenant.
    pub token: Option<TokenHash>,
    set: Option<Arc<FunctionSet>>,
    pub functions: BTreeMap<String, Arc<Served>>,
    /// One per sandbox (`max_instances`): a call beyond them waits for one.
    pub permits: Arc<Semaphore>,
    pub max_instances: usize,
    fingerprint: [u8; 32],
    /// Fuel per function already counted in the metrics (the set counts since it was made).
    fuel_counted: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant").field("id", &self.id).field("functions", &self.functions.keys()).finish()
    }
}

impl Tenant {
    pub fn set(&self) -> &Arc<FunctionSet> {
        self.set.as_ref().expect("a tenant's set is taken only when it is dropped")
    }

    pub fn function(&self, name: &str) -> Option<&Arc<Served>> {
        self.functions.get(name)
    }

    /// Closes the set on this thread (its UDFs' `close()` runs), when no call holds it.
    pub fn close(mut self) {
        if let Some(set) = self.set.take() {
            if Arc::strong_count(&set) > 1 {
                tracing::warn!(target: "udfbox::serve", "tenant {}: calls still running; not closed", self.id);
            }
            drop(set);
        }
    }

    /// Fuel `function` used since the last time this was asked (for a counter).
    pub fn fuel_delta(&self, function: &str) -> u64 {
        let Some(total) = self.set().fuel_used(function) else { return 0 };
        let mut counted = self.fuel_counted.lock().unwrap_or_else(|e| e.into_inner());
        let seen = counted.entry(function.to_string()).or_default();
        let delta = total.saturating_sub(*seen);
        *seen = total.max(*seen);
        delta
    }
}

impl Drop for Tenant {
    /// Dropping a set runs the UDFs' `close()`, which may take as long as a call: never on an
    /// async worker thread.
    fn drop(&mut self) {
        let Some(set) = self.set.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(move || drop(set))),
            Err(_) => drop(set),
        }
    }
}

/// The live tenants: one immutable snapshot.
#[derive(Debug, Default)]
pub struct Registry {
    pub tenants: BTreeMap<String, Arc<Tenant>>,
    by_token: HashMap<TokenHash, Arc<Tenant>>,
    pub open: Option<Arc<Tenant>>,
}

impl Registry {
    fn new(tenants: BTreeMap<String, Arc<Tenant>>) -> Self {
        let by_token = tenants.values().filter_map(|t| t.token.map(|h| (h, t.clone()))).collect();
        let open = tenants.values().find(|t| t.token.is_none()).cloned();
        Self { tenants, by_token, open }
    }

    /// The tenants, with no other reference of the registry's left.
    pub fn into_tenants(self) -> BTreeMap<String, Arc<Tenant>> {
        let Registry { tenants, by_token, open } = self;
        drop((by_token, open));
        tenants
    }

    /// The tenant a token selects.
    pub fn by_token(&self, hash: &TokenHash) -> Option<&Arc<Tenant>> {
        self.by_token.get(hash)
    }
}

/// What a tenant is made of, read from disk.
#[derive(Debug, Clone)]
struct Spec {
    id: String,
    token: Option<TokenHash>,
    options: Options,
    on_error: ErrorPolicy,
    dialect: Dialect,
    files: Vec<PathBuf>,
    fingerprint: [u8; 32],
}

/// `tenant.toml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    token_sha256: Option<String>,
    on_error: Option<ErrorPolicyName>,
    dialect: Option<Dialect>,
    #[serde(default)]
    limits: LimitsFile,
    #[serde(default)]
    params: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum ErrorPolicyName {
    Fail,
    Null,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    memory: Option<String>,
    timeout: Option<String>,
    fuel: Option<u64>,
    max_instances: Option<usize>,
}

/// Where tenants come from: the server's settings, `--udf` files, `--tenants DIR`.
#[derive(Debug, Clone)]
pub struct Source {
    /// Mode, limits, bundling knobs and interpreter for every tenant; params and deps for the
    /// open tenant only (a directory tenant has its own).
    pub base: Options,
    /// The dialect of udfbox/PyFlink functions when a tenant names none.
    pub dialect: Dialect,
    /// The error policy when a tenant names none.
    pub on_error: ErrorPolicy,
    /// The open tenant's UDF files (`--udf`).
    pub open_files: Vec<PathBuf>,
    /// `--tenants DIR`.
    pub dir: Option<PathBuf>,
}

/// What a reload changed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReloadReport {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Tenants that failed to load, with the error; a tenant that was live keeps its old set.
    pub failed: BTreeMap<String, String>,
}

impl Source {
    /// Reads and builds every tenant; any failure is an error (a server starts complete).
    pub fn load(&self) -> Result<Registry> {
        let (registry, report) = self.reload(&Registry::default())?;
        match report.failed.into_iter().next() {
            Some((id, error)) => Err(Error::Invalid(format!("tenant '{id}': {error}"))),
            None => Ok(registry),
        }
    }

    /// Re-reads the tenants: changed ones are rebuilt, removed ones dropped, and one that fails
    /// keeps its previous version. Returns the new snapshot and what changed.
    pub fn reload(&self, current: &Registry) -> Result<(Registry, ReloadReport)> {
        let (specs, mut failed) = self.scan()?;
        let mut report = ReloadReport::default();
        let mut tenants = BTreeMap::new();
        let mut to_build = Vec::new();
        for spec in specs {
            match current.tenants.get(&spec.id) {
                Some(live) if live.fingerprint == spec.fingerprint => {
                    report.unchanged.push(spec.id.clone());
                    tenants.insert(spec.id.clone(), live.clone());
                }
                _ => to_build.push(spec),
            }
        }
        for (spec, built) in build_all(to_build) {
            match built {
                Ok(tenant) => {
                    let list =
                        if current.tenants.contains_key(&spec.id) { &mut report.updated } else { &mut report.added };
                    list.push(spec.id.clone());
                    tenants.insert(spec.id.clone(), Arc::new(tenant));
                }
                Err(error) => {
                    failed.insert(spec.id.clone(), error.to_string());
                }
            }
        }
        for (id, live) in &current.tenants {
            if tenants.contains_key(id) {
                continue;
            }
            if failed.contains_key(id) {
                tenants.insert(id.clone(), live.clone());
            } else {
                report.removed.push(id.clone());
            }
        }
        // A token names one tenant. Where two claim one, the tenant that held it keeps it (else
        // the first by name) and the other is refused, keeping its previous version if any.
        let mut claims: Vec<(bool, &String, TokenHash)> = tenants
            .iter()
            .filter_map(|(id, tenant)| {
                let held = current.tenants.get(id).is_some_and(|live| live.token == tenant.token);
                tenant.token.map(|hash| (!held, id, hash))
            })
            .collect();
        claims.sort();
        let mut owners: HashMap<TokenHash, String> = HashMap::new();
        let mut clashes = Vec::new();
        for (_, id, hash) in claims {
            match owners.get(&hash) {
                Some(owner) => clashes.push((id.clone(), owner.clone())),
                None => drop(owners.insert(hash, id.clone())),
            }
        }
        for (id, owner) in clashes {
            failed.insert(id.clone(), format!("tenant '{owner}' has the same token"));
            match current.tenants.get(&id) {
                Some(live) => drop(tenants.insert(id.clone(), live.clone())),
                None => drop(tenants.remove(&id)),
            }
            report.added.retain(|a| *a != id);
            report.updated.retain(|a| *a != id);
        }
        report.failed = failed;
        Ok((Registry::new(tenants), report))
    }

    /// Every tenant's spec, and the tenants that cannot be read (with why).
    fn scan(&self) -> Result<(Vec<Spec>, BTreeMap<String, String>)> {
        let mut specs = Vec::new();
        let mut failed = BTreeMap::new();
        if !self.open_files.is_empty() {
            let mut hasher = Sha256::new();
            for path in &self.open_files {
                hash_file(&mut hasher, path)?;
            }
            if let Some(deps) = &self.base.deps {
                hash_tree(&mut hasher, deps, deps, &mut 0)?;
            }
            let mut options = self.base.clone();
            options.tenant = Some(OPEN_TENANT.into());
            options.on_error = ErrorPolicy::Fail;
            options.error_policies.clear();
            specs.push(Spec {
                id: OPEN_TENANT.into(),
                token: None,
                options,
                on_error: self.on_error,
                dialect: self.dialect,
                files: self.open_files.clone(),
                fingerprint: hasher.finalize().into(),
            });
        }
        let Some(dir) = &self.dir else { return Ok((specs, failed)) };
        let entries = std::fs::read_dir(dir).map_err(|source| io(dir, source))?;
        let mut folders = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| io(dir, source))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            folders.push((name, entry.path()));
        }
        folders.sort();
        for (id, path) in folders {
            if id == OPEN_TENANT && !self.open_files.is_empty() {
                failed.insert(id, format!("'{OPEN_TENANT}' is the name of the --udf tenant"));
                continue;
            }
            match self.spec(&id, &path) {
                Ok(spec) => specs.push(spec),
                Err(e) => drop(failed.insert(id, e.to_string())),
            }
        }
        Ok((specs, failed))
    }

    fn spec(&self, id: &str, dir: &Path) -> Result<Spec> {
        if id.len() > MAX_TENANT_ID || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(Error::Invalid(format!(
                "a tenant folder name is up to {MAX_TENANT_ID} characters of A-Z a-z 0-9 . _ -"
            )));
        }
        let toml_path = dir.join("tenant.toml");
        let text = std::fs::read_to_string(&toml_path).map_err(|source| io(&toml_path, source))?;
        let file: TenantFile =
            toml::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {}", toml_path.display(), e.message())))?;
        let hex = file
            .token_sha256
            .ok_or_else(|| Error::Invalid(format!("{}: token_sha256 is required", toml_path.display())))?;
        let token = parse_hex_hash(&hex).ok_or_else(|| {
            Error::Invalid(format!(
                "{}: token_sha256 must be 64 hex digits (sha256sum of the token)",
                toml_path.display()
            ))
        })?;

        let mut options = self.base.clone();
        options.tenant = Some(id.to_string());
        options.on_error = ErrorPolicy::Fail;
        options.error_policies.clear();
        options.params = file.params.into_iter().collect();
        let deps = dir.join("deps");
        options.deps = deps.is_dir().then_some(deps.clone());
        if let Some(memory) = &file.limits.memory {
            options.limits.memory_bytes = parse_size(memory)?;
        }
        if let Some(timeout) = &file.limits.timeout {
            options.limits.timeout = parse_duration(timeout)?;
        }
        if let Some(fuel) = file.limits.fuel {
            options.limits.fuel = Some(fuel);
        }
        if let Some(n) = file.limits.max_instances {
            if !(1..=1024).contains(&n) {
                return Err(Error::Invalid(format!("{}: max_instances must be 1 to 1024", toml_path.display())));
            }
            options.limits.max_instances = n;
        }

        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|source| io(dir, source))? {
            let path = entry.map_err(|source| io(dir, source))?.path();
            if path.extension().is_some_and(|e| e == "py") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut hasher = Sha256::new();
        hasher.update(text.as_bytes());
        for path in &files {
            hash_file(&mut hasher, path)?;
        }
        if options.deps.is_some() {
            hash_tree(&mut hasher, &deps, &deps, &mut 0)?;
        }
        Ok(Spec {
            id: id.to_string(),
            token: Some(token),
            options,
            on_error: match file.on_error {
                Some(ErrorPolicyName::Fail) => ErrorPolicy::Fail,
                Some(ErrorPolicyName::Null) => ErrorPolicy::Null,
                None => self.on_error,
            },
            dialect: file.dialect.unwrap_or(self.dialect),
            files,
            fingerprint: hasher.finalize().into(),
        })
    }
}

/// Builds tenants on up to one thread per core (loading runs Python: seconds for many tenants).
fn build_all(specs: Vec<Spec>) -> Vec<(Spec, Result<Tenant>)> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(specs.len()).max(1);
    let queue = Mutex::new(specs.into_iter().enumerate().collect::<Vec<_>>());
    let done = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let Some((index, spec)) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop() else { break };
                let built = build(&spec);
                done.lock().unwrap_or_else(|e| e.into_inner()).push((index, spec, built));
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(index, _, _)| *index);
    done.into_iter().map(|(_, spec, built)| (spec, built)).collect()
}

fn build(spec: &Spec) -> Result<Tenant> {
    let mut set = FunctionSet::new(spec.options.clone())?;
    // Tracebacks reach the tenant's clients: they name the file, not where the server keeps it
    // (unless two files share a name).
    let short = |path: &Path| path.file_name().map(|n| n.to_string_lossy().into_owned());
    for path in &spec.files {
        let source = std::fs::read_to_string(path).map_err(|source| io(path, source))?;
        let name = short(path).filter(|n| spec.files.iter().filter(|p| short(p).as_ref() == Some(n)).count() == 1);
        let name = name.unwrap_or_else(|| path.display().to_string());
        set.load_source(&name, source.strip_prefix('\u{feff}').unwrap_or(&source))?;
    }
    let mut functions = BTreeMap::new();
    for function in set.functions() {
        let dialect = Dialect::for_api(&function.info.dialect, spec.dialect);
        match Signature::new(dialect, function) {
            Ok(signature) => {
                let served = Served { signature, target: Target::Udf { policy: spec.on_error } };
                functions.insert(function.info.name.clone(), Arc::new(served));
            }
            Err(e) => tracing::warn!(target: "udfbox::serve", "tenant {}: {e}; not served", spec.id),
        }
    }
    // Under `null`, RisingWave's functions get per-row messages (the server retries around the
    // failing rows, see `exchange`); Databend's have no error column, so the set nulls the rows.
    for served in functions.values() {
        if spec.on_error == ErrorPolicy::Null && served.signature.dialect == Dialect::Databend {
            set.set_error_policy(&served.signature.name, ErrorPolicy::Null);
        }
    }
    for builtin in Builtin::ALL {
        functions.entry(builtin.name().to_string()).or_insert_with(|| {
            Arc::new(Served { signature: Signature::builtin(builtin), target: Target::Builtin(builtin) })
        });
    }
    let max_instances = spec.options.limits.max_instances.max(1);
    Ok(Tenant {
        id: spec.id.clone(),
        token: spec.token,
        set: Some(Arc::new(set)),
        functions,
        permits: Arc::new(Semaphore::new(max_instances)),
        max_instances,
        fingerprint: spec.fingerprint,
        fuel_counted: Mutex::default(),
    })
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), source }
}

fn hash_file(hasher: &mut Sha256, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|source| io(path, source))?;
    hasher.update(path.as_os_str().as_encoded_bytes());
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(&bytes);
    Ok(())
}

/// A `deps/` directory's names, sizes and modification times (not contents: it may be large).
fn hash_tree(hasher: &mut Sha256, root: &Path, dir: &Path, count: &mut usize) -> Result<()> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(|source| io(dir, source))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|source| io(dir, source))?;
    entries.sort();
    for path in entries {
        *count += 1;
        if *count > MAX_DEPS_ENTRIES {
            return Err(Error::Invalid(format!("{} has more than {MAX_DEPS_ENTRIES} entries", root.display())));
        }
        let meta = std::fs::symlink_metadata(&path).map_err(|source| io(&path, source))?;
        hasher.update(path.strip_prefix(root).unwrap_or(&path).as_os_str().as_encoded_bytes());
        hasher.update(meta.len().to_le_bytes());
        let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        hasher.update(modified.map_or(0, |d| d.as_nanos()).to_le_bytes());
        if meta.is_dir() {
            hash_tree(hasher, root, &path, count)?;
        }
    }
    Ok(())
}

fn parse_hex_hash(text: &str) -> Option<TokenHash> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hashes_parse_as_sha256sum_prints_them() {
        // `printf secret | sha256sum`
        let hex = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
        assert_eq!(parse_hex_hash(hex), Some(token_hash("secret")));
        assert_eq!(parse_hex_hash(&hex.to_uppercase()), Some(token_hash("secret")));
        assert_eq!(parse_hex_hash(&hex[1..]), None);
        assert_eq!(parse_hex_hash(&format!("{}zz", &hex[2..])), None);
    }
}
