//! A typed view of the store, parsed once per object version.
//!
//! Controllers read typed k8s-openapi objects. Parsing a stored JSON value costs far more than a tick's
//! logic, so parsed objects are kept by resourceVersion (unique across the cluster): a refresh lists the
//! kind (cheap: shared pointers) and parses only the objects written since the last refresh. One cache
//! per kind is shared by every controller in a tick, like a shared informer.
use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Arc;

use crate::store::{Kind, Object, Store};

/// One object: as stored (for names, resourceVersion and raw fields) and parsed.
#[derive(Debug)]
pub struct Entry<K> {
    pub object: Object,
    pub typed: Arc<K>,
}

impl<K> Clone for Entry<K> {
    fn clone(&self) -> Self {
        Self { object: self.object.clone(), typed: self.typed.clone() }
    }
}

impl<K: Metadata<Ty = ObjectMeta>> Entry<K> {
    pub fn name(&self) -> &str {
        self.typed.metadata().name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.typed.metadata().namespace.as_deref().unwrap_or_default()
    }

    pub fn uid(&self) -> &str {
        self.typed.metadata().uid.as_deref().unwrap_or_default()
    }
}

#[derive(Debug)]
pub struct Cache<K> {
    kind: Kind,
    parsed: HashMap<u64, Arc<K>>,
    /// The previous listing: returned again when nothing of the kind changed since.
    last: Vec<Entry<K>>,
}

impl<K: DeserializeOwned> Cache<K> {
    pub fn new(kind: Kind) -> Self {
        Self { kind, parsed: HashMap::new(), last: Vec::new() }
    }

    /// Every object of the kind in the whole cluster, in key order (namespace, then name). Objects that
    /// do not parse as `K` are left out (the API server validates what it stores, so this is rare).
    pub fn list(&mut self, store: &Store) -> Vec<Entry<K>> {
        let (objects, _) = store.list(self.kind, None);
        let unchanged = objects.len() == self.last.len()
            && objects.iter().zip(&self.last).all(|(o, e)| o.resource_version == e.object.resource_version);
        if unchanged {
            return self.last.clone();
        }
        let mut parsed = HashMap::with_capacity(objects.len());
        let mut entries = Vec::with_capacity(objects.len());
        for object in objects {
            let rv = object.resource_version;
            let typed = match self.parsed.remove(&rv) {
                Some(typed) => typed,
                None => match K::deserialize(&object.value) {
                    Ok(typed) => Arc::new(typed),
                    Err(error) => {
                        tracing::warn!(kind = self.kind.kind(), name = object.name(), %error, "unreadable object");
                        continue;
                    }
                },
            };
            parsed.insert(rv, typed.clone());
            entries.push(Entry { object, typed });
        }
        self.parsed = parsed;
        self.last = entries.clone();
        entries
    }

    /// Parse one object (outside a listing), re-using a parsed copy of the same version.
    pub fn parse(&self, object: &Object) -> Option<Arc<K>> {
        if let Some(typed) = self.parsed.get(&object.resource_version) {
            return Some(typed.clone());
        }
        K::deserialize(&object.value).ok().map(Arc::new)
    }
}

/// The caches of the kinds the controllers and the kubelet read.
#[derive(Debug)]
pub struct Caches {
    pub pods: Cache<k8s_openapi::api::core::v1::Pod>,
    pub nodes: Cache<k8s_openapi::api::core::v1::Node>,
    pub deployments: Cache<k8s_openapi::api::apps::v1::Deployment>,
    pub replica_sets: Cache<k8s_openapi::api::apps::v1::ReplicaSet>,
    pub services: Cache<k8s_openapi::api::core::v1::Service>,
    pub endpoints: Cache<k8s_openapi::api::core::v1::Endpoints>,
    pub config_maps: Cache<k8s_openapi::api::core::v1::ConfigMap>,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            pods: Cache::new(Kind::Pod),
            nodes: Cache::new(Kind::Node),
            deployments: Cache::new(Kind::Deployment),
            replica_sets: Cache::new(Kind::ReplicaSet),
            services: Cache::new(Kind::Service),
            endpoints: Cache::new(Kind::Endpoints),
            config_maps: Cache::new(Kind::ConfigMap),
        }
    }
}
