//! Authentication as a tonic interceptor in front of the Flight service: the bearer token
//! selects the caller (a tenant, or the admin) before any method runs, and the methods read
//! the [`Caller`] from the request's extensions. No method sees a token, and a missing or
//! wrong token learns nothing about any tenant.

use std::sync::Arc;

use tonic::metadata::MetadataMap;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use super::tenants::{token_hash, Tenant};
use super::State;

/// Who is calling, as the token said.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A tenant, as it was when the call started (a reload does not change a running call).
    Tenant(Arc<Tenant>),
    /// The holder of `--admin-token-file`'s token: admin actions only.
    Admin,
}

/// The interceptor.
#[derive(Clone)]
pub struct Auth {
    pub(super) state: Arc<State>,
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let caller = self.caller(request.metadata()).inspect_err(|_| {
            self.state.metrics.unauthenticated.inc();
        })?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

impl Auth {
    fn caller(&self, metadata: &MetadataMap) -> Result<Caller, Status> {
        let registry = self.state.registry();
        let Some(token) = bearer(metadata)? else {
            return registry.open.clone().map(Caller::Tenant).ok_or_else(|| {
                Status::unauthenticated("this server needs a token: send the header 'authorization: Bearer TOKEN'")
            });
        };
        let hash = token_hash(token);
        if self.state.admin.as_ref() == Some(&hash) {
            return Ok(Caller::Admin);
        }
        registry.by_token(&hash).cloned().map(Caller::Tenant).ok_or_else(|| Status::unauthenticated("invalid token"))
    }
}

/// The token of an `authorization: Bearer TOKEN` header, if there is one.
fn bearer(metadata: &MetadataMap) -> Result<Option<&str>, Status> {
    let Some(value) = metadata.get("authorization") else { return Ok(None) };
    let malformed = || Status::unauthenticated("malformed authorization header: expected 'Bearer TOKEN'");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> MetadataMap {
        let mut map = MetadataMap::new();
        map.insert("authorization", value.parse().unwrap());
        map
    }

    #[test]
    fn reads_bearer_tokens() {
        assert_eq!(bearer(&MetadataMap::new()).unwrap(), None);
        assert_eq!(bearer(&headers("Bearer abc")).unwrap(), Some("abc"));
        assert_eq!(bearer(&headers("bearer  abc ")).unwrap(), Some("abc"));
        assert_eq!(bearer(&headers("Basic abc")).unwrap_err().code(), tonic::Code::Unauthenticated);
        assert_eq!(bearer(&headers("Bearer")).unwrap_err().code(), tonic::Code::Unauthenticated);
    }
}
