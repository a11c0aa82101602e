//! Playbook schema, loader and validation, with the built-in catalog
#![forbid(unsafe_code)]
