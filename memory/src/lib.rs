//! The Memory actor: embedders, the FAISS index and its persistence
#![forbid(unsafe_code)]
