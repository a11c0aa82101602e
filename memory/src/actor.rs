//! The Memory actor: answers the Director's `Recall` with similar past incidents and stores what each
//! closed incident taught (`Remember`).
//!
//! Messages are handled one at a time, to completion (`AtomicResponse`), so a `Recall` sent after a
//! `Remember` sees that memory. A failing recall answers with no recollections rather than an error: the
//! Director decides without memory instead of not deciding.
use actix::prelude::*;
use std::sync::Arc;

use medic_core::decision::Recollection;
use medic_core::messages::{Recall, Remember};

use medic_store::Store;

use crate::bank::{MemoryBank, OpenReport, Remembered};
use crate::config::MemoryConfig;

pub struct MemoryActor {
    bank: Arc<MemoryBank>,
}

impl MemoryActor {
    pub fn new(bank: Arc<MemoryBank>) -> Self {
        Self { bank }
    }

    /// Starts the actor on an arbiter (thread) of its own: an exact search of a large memory or an index
    /// save takes milliseconds to seconds of CPU, which must not hold up the actors sharing a thread.
    pub fn start_on_own_thread(bank: Arc<MemoryBank>) -> Addr<Self> {
        let arbiter = Arbiter::new();
        Self::start_in_arbiter(&arbiter.handle(), move |_| Self::new(bank))
    }

    /// Opens the memory over the store and starts its actor on its own thread: what the composition root
    /// calls.
    pub async fn open_and_start(config: MemoryConfig, store: Store) -> crate::Result<(Addr<Self>, OpenReport)> {
        let (bank, report) = MemoryBank::open(config, store).await?;
        Ok((Self::start_on_own_thread(Arc::new(bank)), report))
    }
}

impl Actor for MemoryActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Err(e) = self.bank.save() {
            tracing::warn!(error = %e, "saving the memory index on stop failed; it will be caught up from the store");
        }
    }
}

impl Handler<Recall> for MemoryActor {
    type Result = AtomicResponse<Self, Vec<Recollection>>;

    fn handle(&mut self, msg: Recall, _ctx: &mut Self::Context) -> Self::Result {
        let bank = self.bank.clone();
        AtomicResponse::new(Box::pin(
            async move {
                match bank.recall(&msg.context, Some(msg.incident), msg.k).await {
                    Ok(recalled) => {
                        tracing::debug!(incident = %msg.incident, recalled = recalled.len(), "recalled");
                        recalled
                    }
                    Err(e) => {
                        tracing::warn!(incident = %msg.incident, error = %e, "recall failed; deciding without memory");
                        Vec::new()
                    }
                }
            }
            .into_actor(self),
        ))
    }
}

impl Handler<Remember> for MemoryActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: Remember, _ctx: &mut Self::Context) -> Self::Result {
        let bank = self.bank.clone();
        AtomicResponse::new(Box::pin(
            async move {
                let incident = msg.memory.incident;
                match bank.remember(msg.memory).await {
                    Ok(Remembered::Stored { id }) => tracing::info!(%incident, id, "remembered"),
                    Ok(Remembered::AlreadyKnown { id }) => tracing::debug!(%incident, id, "already remembered"),
                    Err(e) => tracing::error!(%incident, error = %e, "remembering failed"),
                }
            }
            .into_actor(self),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{crash_loop, image_pull, memory_of, node_not_ready};
    use medic_core::messages::IncidentMemory;
    use medic_core::{IncidentUid, RootCauseClass};
    use medic_store::StoreConfig;

    async fn start(dir: &std::path::Path) -> (Addr<MemoryActor>, Arc<MemoryBank>) {
        let store = StoreConfig::new(dir.join("medic.db")).build().unwrap();
        let (bank, _) = MemoryBank::open(MemoryConfig::new(dir.join("memory.faiss")), store).await.unwrap();
        let bank = Arc::new(bank);
        (MemoryActor::new(bank.clone()).start(), bank)
    }

    #[actix_rt::test]
    async fn recall_answers_with_what_remember_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (memory, _bank) = start(dir.path()).await;

        let past = crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1);
        let lesson: IncidentMemory = memory_of(&past, RootCauseClass::BadRollout, "rollback-deployment", true, None);
        memory.send(Remember { memory: lesson.clone() }).await.unwrap();
        let other = image_pull("web", "web-5c6b7f8d9-q8w4z");
        memory
            .send(Remember { memory: memory_of(&other, RootCauseClass::ImagePull, "rollback-deployment", true, None) })
            .await
            .unwrap();

        let now = crash_loop("cart", "cart-5f6d7c8b9-m2n4p", "10.0.3.17", 2);
        let incident = IncidentUid::new();
        let recalled = memory.send(Recall { incident, context: Arc::new(now), k: 3 }).await.unwrap();
        assert_eq!(recalled.len(), 1, "{recalled:?}");
        let r = &recalled[0];
        assert_eq!(
            (r.incident, r.class, r.playbook.as_deref(), r.fix_worked),
            (lesson.incident, RootCauseClass::BadRollout, Some("rollback-deployment"), true)
        );
        assert!(r.similarity > 0.9, "{}", r.similarity);

        // An incident does not recall itself.
        let recalled =
            memory.send(Recall { incident: lesson.incident, context: lesson.context.clone(), k: 3 }).await.unwrap();
        assert!(recalled.is_empty(), "{recalled:?}");
    }

    #[actix_rt::test]
    async fn stopping_the_actor_saves_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let (memory, bank) = start(dir.path()).await;
        let past = crash_loop("cart", "cart-7d9f8b6c4-x2x9z", "10.0.0.5", 1);
        memory
            .send(Remember {
                memory: memory_of(&past, RootCauseClass::OomMemoryLimit, "raise-memory-limit", true, None),
            })
            .await
            .unwrap();
        std::fs::remove_file(&bank.config().index_path).unwrap();
        drop(memory);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(bank.config().index_path.exists(), "the actor saved the index when it stopped");
    }

    #[actix_rt::test]
    async fn the_actor_on_its_own_thread_serves_the_director() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreConfig::new(dir.path().join("medic.db")).build().unwrap();
        let config = MemoryConfig::new(dir.path().join("memory.faiss"));
        let (memory, report) = MemoryActor::open_and_start(config, store).await.unwrap();
        assert_eq!(report.memories, 0);
        let past = node_not_ready("node-3");
        let lesson = memory_of(&past, RootCauseClass::NodeNotReady, "drain-node", true, Some("api:bob"));
        memory.send(Remember { memory: lesson.clone() }).await.unwrap();
        let now = Arc::new(node_not_ready("node-3"));
        let recalled = memory.send(Recall { incident: IncidentUid::new(), context: now, k: 1 }).await.unwrap();
        assert_eq!(recalled.len(), 1);
        assert_eq!((recalled[0].incident, recalled[0].approved_by.as_deref()), (lesson.incident, Some("api:bob")));
    }
}
