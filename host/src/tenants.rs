//! Many tenants in one process: a registry of function sets, one per tenant.
//!
//! Isolation comes from the sets themselves: in wasm mode each set has sandboxes of its own, so
//! one tenant's Python state (globals, module caches, monkey-patched builtins) is never visible
//! to another's, and each set has its own [`crate::Limits`]. The registry adds naming, lookup and
//! removal for a service that serves many tenants; sets are shared as `Arc`s, so queries running
//! while a tenant is removed finish with the set they started with.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::backend::{FunctionSet, Options};
use crate::error::{Error, Result};

/// Function sets by tenant id.
#[derive(Debug, Default)]
pub struct Tenants {
    sets: RwLock<BTreeMap<String, Arc<FunctionSet>>>,
}

impl Tenants {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a tenant's set with `options` (tagged with the tenant id in logs), runs `setup` on
    /// it (load its UDF files there) and registers it. Fails if the id is taken; nothing is
    /// registered when `setup` fails.
    pub fn create(
        &self,
        id: &str,
        mut options: Options,
        setup: impl FnOnce(&mut FunctionSet) -> Result<()>,
    ) -> Result<Arc<FunctionSet>> {
        if self.get(id).is_some() {
            return Err(Error::Invalid(format!("tenant '{id}' already exists")));
        }
        options.tenant.get_or_insert_with(|| id.to_string());
        let mut set = FunctionSet::new(options)?;
        setup(&mut set)?;
        let set = Arc::new(set);
        let mut sets = self.sets.write().unwrap_or_else(|e| e.into_inner());
        if sets.contains_key(id) {
            return Err(Error::Invalid(format!("tenant '{id}' already exists")));
        }
        sets.insert(id.to_string(), set.clone());
        Ok(set)
    }

    pub fn get(&self, id: &str) -> Option<Arc<FunctionSet>> {
        self.sets.read().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    /// Unregisters a tenant. Its sandboxes are freed when the last query using the set ends.
    pub fn remove(&self, id: &str) -> Option<Arc<FunctionSet>> {
        self.sets.write().unwrap_or_else(|e| e.into_inner()).remove(id)
    }

    /// Tenant ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.sets.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.sets.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
