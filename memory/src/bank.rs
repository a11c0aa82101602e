//! The memory bank: the store's memory rows (the truth), the FAISS index over their vectors (a cache of
//! them), and the embedder that makes the vectors.
//!
//! A memory is written to the store first and to the index second; the index file is saved now and then,
//! not on every write. On open the saved index is compared with the store (count, largest id, checksum of
//! ids): when the index holds exactly the store's memories up to its largest id, the newer rows are added;
//! otherwise the index is rebuilt from the store. So a crash anywhere between the store write and the
//! index save loses nothing and duplicates nothing.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use medic_core::decision::Recollection;
use medic_core::messages::IncidentMemory;
use medic_core::ports::{Clock, Embedder, SystemClock};
use medic_core::{IncidentContext, IncidentUid, ObjectRef, RootCauseClass};
use medic_store::{MemoryRecord, NewMemory, Store};

use crate::config::MemoryConfig;
use crate::digest::{DIGEST_VERSION, SymptomDigest};
use crate::embed::embed_checked;
use crate::error::{Error, Result};
use crate::index::{IdFingerprint, IndexKind, MemoryIndex};

/// Rows read from the store per page while loading.
const PAGE: usize = 2_000;
/// Texts sent to the embedder at once when memories must be embedded again.
const EMBED_BATCH: usize = 64;

/// What the store keeps as a memory's document: the memory itself and the digest that was embedded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryDocument {
    pub digest_version: u32,
    /// The symptom digest, one `kind: value` line per symptom.
    pub digest: String,
    #[serde(flatten)]
    pub memory: IncidentMemory,
}

impl MemoryDocument {
    pub fn new(memory: IncidentMemory) -> Self {
        let digest = SymptomDigest::of(&memory.context).text();
        Self { digest_version: DIGEST_VERSION, digest, memory }
    }

    /// The text to embed: the stored digest, or a fresh one when it was made by an older digest version.
    pub fn embedding_text(&self) -> String {
        if self.digest_version == DIGEST_VERSION {
            self.digest.clone()
        } else {
            SymptomDigest::of(&self.memory.context).text()
        }
    }
}

/// What recall needs of a memory, kept in RAM for every memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemorySummary {
    pub id: i64,
    pub incident: IncidentUid,
    pub class: RootCauseClass,
    pub target: Option<ObjectRef>,
    pub playbook: Option<String>,
    /// The actions of the fix, as `kubectl`-like text.
    pub steps: Vec<String>,
    pub fix_worked: bool,
    pub approved_by: Option<String>,
    pub created_at: Timestamp,
}

impl MemorySummary {
    pub(crate) fn of(id: i64, memory: &IncidentMemory, created_at: Timestamp) -> Self {
        Self {
            id,
            incident: memory.incident,
            class: memory.class,
            target: memory.target.clone(),
            playbook: memory.playbook.clone(),
            steps: memory.steps.iter().map(ToString::to_string).collect(),
            fix_worked: memory.fix_worked,
            approved_by: memory.approved_by.clone(),
            created_at,
        }
    }

    /// Same incident, same diagnosis, same fix, same outcome: remembering it again adds nothing.
    fn same_lesson(&self, other: &MemorySummary) -> bool {
        self.incident == other.incident
            && self.class == other.class
            && self.target == other.target
            && self.playbook == other.playbook
            && self.steps == other.steps
            && self.fix_worked == other.fix_worked
            && self.approved_by == other.approved_by
    }

    fn recollection(&self, similarity: f32) -> Recollection {
        Recollection {
            incident: self.incident,
            similarity: f64::from(similarity).clamp(-1.0, 1.0),
            class: self.class,
            target: self.target.clone(),
            playbook: self.playbook.clone(),
            fix_worked: self.fix_worked,
            approved_by: self.approved_by.clone(),
        }
    }
}

/// How opening went: what was loaded, added, or rebuilt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OpenReport {
    pub memories: usize,
    /// The saved index was loaded.
    pub loaded: bool,
    /// Memories in the store that the saved index did not have yet, added on open.
    pub caught_up: usize,
    /// Why the index was rebuilt from the store, if it was.
    pub rebuilt: Option<String>,
    /// Memories embedded again (made by another embedder or digest version).
    pub re_embedded: usize,
    /// Rows whose document could not be read; they are left out of the index.
    pub unreadable: usize,
}

/// The answer to `remember`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remembered {
    Stored {
        id: i64,
    },
    /// The same lesson of the same incident was already remembered under this id.
    AlreadyKnown {
        id: i64,
    },
}

/// One hit of a free-text search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub similarity: f64,
    pub memory: MemorySummary,
}

/// `medic memory stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryStats {
    pub memories: usize,
    pub incidents: usize,
    pub embedder: String,
    pub dimension: usize,
    pub index_kind: &'static str,
    pub index_factory: String,
    pub fixes_worked: usize,
    pub fixes_failed: usize,
    pub approved_by_a_human: usize,
    /// Per root-cause class: (fixes that worked, fixes that failed).
    pub by_class: BTreeMap<String, (usize, usize)>,
    pub index_file_bytes: Option<u64>,
}

pub(crate) struct State {
    pub(crate) index: MemoryIndex,
    pub(crate) summaries: HashMap<i64, MemorySummary>,
    by_incident: HashMap<IncidentUid, Vec<i64>>,
    unsaved: usize,
}

impl State {
    fn insert_summary(&mut self, summary: MemorySummary) {
        self.by_incident.entry(summary.incident).or_default().push(summary.id);
        self.summaries.insert(summary.id, summary);
    }

    pub(crate) fn known_lesson(&self, summary: &MemorySummary) -> Option<i64> {
        self.by_incident
            .get(&summary.incident)?
            .iter()
            .filter_map(|id| self.summaries.get(id))
            .find(|known| known.same_lesson(summary))
            .map(|known| known.id)
    }
}

pub struct MemoryBank {
    pub(crate) store: Store,
    pub(crate) embedder: Arc<dyn Embedder>,
    pub(crate) config: MemoryConfig,
    clock: Arc<dyn Clock>,
    pub(crate) state: Mutex<State>,
}

impl std::fmt::Debug for MemoryBank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBank")
            .field("embedder", &self.embedder.id())
            .field("index_path", &self.config.index_path)
            .finish_non_exhaustive()
    }
}

impl MemoryBank {
    /// Opens the memory: validates the config, builds its embedder, loads the saved index and reconciles
    /// it with the store.
    pub async fn open(config: MemoryConfig, store: Store) -> Result<(Self, OpenReport)> {
        config.validate()?;
        let embedder = config.embedder.build()?;
        Self::open_with(config, store, embedder, Arc::new(SystemClock)).await
    }

    /// As [`MemoryBank::open`] with a given embedder and clock.
    pub async fn open_with(
        config: MemoryConfig,
        store: Store,
        embedder: Arc<dyn Embedder>,
        clock: Arc<dyn Clock>,
    ) -> Result<(Self, OpenReport)> {
        config.validate()?;
        let (state, report) = reconcile(&config, &store, embedder.as_ref()).await?;
        let bank = Self { store, embedder, config, clock, state: Mutex::new(state) };
        if report.rebuilt.is_some() || report.caught_up > 0 {
            bank.save()?;
        }
        tracing::info!(
            memories = report.memories,
            loaded = report.loaded,
            caught_up = report.caught_up,
            rebuilt = report.rebuilt.as_deref().unwrap_or("no"),
            re_embedded = report.re_embedded,
            "memory opened"
        );
        Ok((bank, report))
    }

    pub fn embedder_id(&self) -> &str {
        self.embedder.id()
    }

    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Remembers a closed incident: symptoms and context → diagnosis → fix → outcome.
    pub async fn remember(&self, memory: IncidentMemory) -> Result<Remembered> {
        let created_at = self.clock.now();
        if let Some(id) = self.lock().known_lesson(&MemorySummary::of(0, &memory, created_at)) {
            return Ok(Remembered::AlreadyKnown { id });
        }
        let document = MemoryDocument::new(memory);
        let vector = embed_checked(self.embedder.as_ref(), std::slice::from_ref(&document.digest))
            .await?
            .pop()
            .unwrap_or_default();
        let value =
            serde_json::to_value(&document).map_err(|e| Error::Config(format!("encoding a memory document: {e}")))?;
        self.insert(document.memory, vector, value, created_at).await.map(|id| Remembered::Stored { id })
    }

    /// Stores a memory row, then indexes it.
    pub(crate) async fn insert(
        &self,
        memory: IncidentMemory,
        vector: Vec<f32>,
        document: serde_json::Value,
        created_at: Timestamp,
    ) -> Result<i64> {
        let new = NewMemory {
            incident: memory.incident,
            embedder: self.embedder.id().to_string(),
            vector,
            document,
            created_at,
        };
        let id = self.store.insert_memory(new.clone()).await.map_err(Error::store("storing a memory"))?;
        let mut state = self.lock();
        state.index.add(&[id], &new.vector)?;
        state.insert_summary(MemorySummary::of(id, &memory, created_at));
        state.unsaved += 1;
        if state.index.outgrew(&self.config.index) {
            let exact = std::mem::replace(&mut state.index, MemoryIndex::exact(self.embedder.dimension())?);
            tracing::info!(memories = exact.len(), factory = %self.config.index.approximate, "memory index turns approximate");
            state.index = exact.into_approximate(&self.config.index)?;
            state.unsaved = usize::MAX;
        }
        // Saving a large index is expensive; the store has the row, so an unsaved index only costs a
        // catch-up on the next open.
        if state.unsaved >= (state.index.len() / 1000).max(1) {
            self.save_locked(&mut state);
        }
        Ok(id)
    }

    /// The `k` past incidents most similar to this context, at least `min_similarity` alike, best first;
    /// at most one per (incident, playbook), the latest; never `exclude` itself.
    pub async fn recall(
        &self,
        context: &IncidentContext,
        exclude: Option<IncidentUid>,
        k: usize,
    ) -> Result<Vec<Recollection>> {
        let digest = SymptomDigest::of(context);
        if digest.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let query = self.embed_one(digest.text()).await?;
        let floor = self.config.min_similarity as f32;
        let mut state = self.lock();
        let fetch = (k * 4 + 8).min(state.index.len());
        let hits = state.index.search(&query, fetch)?;
        // One recollection per (incident, fix): the similarity of its closest memory, the outcome of its
        // latest (a fix that failed verification and later, retried, worked, is remembered as working).
        let mut best: Vec<(&MemorySummary, f32)> = Vec::with_capacity(k);
        for hit in hits.iter().filter(|h| h.score >= floor) {
            let Some(summary) = state.summaries.get(&hit.id) else { continue };
            if Some(summary.incident) == exclude {
                continue;
            }
            let same =
                |(s, _): &&mut (&MemorySummary, f32)| s.incident == summary.incident && s.playbook == summary.playbook;
            match best.iter_mut().find(same) {
                Some(entry) => {
                    entry.1 = entry.1.max(hit.score);
                    if summary.id > entry.0.id {
                        entry.0 = summary;
                    }
                }
                None => best.push((summary, hit.score)),
            }
        }
        best.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.id.cmp(&a.0.id)));
        best.truncate(k);
        let recollections = best.into_iter().map(|(s, score)| s.recollection(score)).collect();
        drop(state);
        Ok(recollections)
    }

    /// The `k` memories most similar to pasted text (log lines, or `kind: value` digest lines).
    pub async fn search_text(&self, text: &str, k: usize) -> Result<Vec<SearchHit>> {
        let digest = SymptomDigest::from_text(text);
        if digest.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let query = self.embed_one(digest.text()).await?;
        let mut state = self.lock();
        let hits = state.index.search(&query, k)?;
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                let memory = state.summaries.get(&h.id)?.clone();
                Some(SearchHit { similarity: f64::from(h.score), memory })
            })
            .collect())
    }

    pub fn stats(&self) -> MemoryStats {
        let state = self.lock();
        let mut by_class: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let (mut worked, mut failed, mut approved) = (0, 0, 0);
        for s in state.summaries.values() {
            let entry = by_class.entry(s.class.to_string()).or_default();
            if s.fix_worked {
                worked += 1;
                entry.0 += 1;
            } else {
                failed += 1;
                entry.1 += 1;
            }
            approved += usize::from(s.approved_by.is_some());
        }
        MemoryStats {
            memories: state.summaries.len(),
            incidents: state.by_incident.len(),
            embedder: self.embedder.id().to_string(),
            dimension: self.embedder.dimension(),
            index_kind: state.index.kind().as_str(),
            index_factory: state.index.factory().to_string(),
            fixes_worked: worked,
            fixes_failed: failed,
            approved_by_a_human: approved,
            by_class,
            index_file_bytes: std::fs::metadata(&self.config.index_path).ok().map(|m| m.len()),
        }
    }

    /// Writes the index file now.
    pub fn save(&self) -> Result<()> {
        let mut state = self.lock();
        state.index.save(&self.config.index_path, self.embedder.id())?;
        state.unsaved = 0;
        Ok(())
    }

    fn save_locked(&self, state: &mut State) {
        match state.index.save(&self.config.index_path, self.embedder.id()) {
            Ok(()) => state.unsaved = 0,
            Err(e) => {
                tracing::warn!(error = %e, "saving the memory index failed; it will be caught up from the store on the next start")
            }
        }
    }

    pub(crate) async fn embed_one(&self, text: String) -> Result<Vec<f32>> {
        Ok(embed_checked(self.embedder.as_ref(), &[text]).await?.pop().unwrap_or_default())
    }
}

/// Loads the saved index and brings it in line with the store.
async fn reconcile(config: &MemoryConfig, store: &Store, embedder: &dyn Embedder) -> Result<(State, OpenReport)> {
    let dimension = embedder.dimension();
    let mut report = OpenReport::default();
    let mut loaded = MemoryIndex::load(&config.index_path, embedder.id(), dimension)?;
    let indexed = loaded.as_ref().map(MemoryIndex::fingerprint).unwrap_or_default();

    // One pass over the store: every summary, the store's fingerprint up to the index's largest id, and
    // the rows the index has not seen.
    let mut summaries = HashMap::new();
    let mut store_upto = IdFingerprint::default();
    let mut store_all = IdFingerprint::default();
    let mut tail = Pending::default();
    let mut after = 0;
    loop {
        let page = store.memories_after(after, PAGE).await.map_err(Error::store("reading memories"))?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for record in page {
            let Some((summary, document)) = read_record(&record, &mut report) else { continue };
            store_all.add(record.id);
            if loaded.is_some() && record.id <= indexed.max_id {
                store_upto.add(record.id);
            } else {
                tail.push(record, document, embedder);
            }
            summaries.insert(summary.id, summary);
        }
    }
    report.memories = summaries.len();

    let desired_kind =
        if store_all.count as usize > config.index.exact_up_to { IndexKind::Approximate } else { IndexKind::Exact };
    let reason = match &loaded {
        None if store_all.count == 0 => None,
        None => Some("no usable saved index".to_string()),
        Some(_) if store_upto != indexed => Some(format!(
            "the saved index ({} memories up to id {}) disagrees with the store ({} memories up to that id)",
            indexed.count, indexed.max_id, store_upto.count
        )),
        Some(index) if index.kind() == IndexKind::Approximate && desired_kind == IndexKind::Exact => {
            Some("the memory is small enough for exact search".into())
        }
        Some(index) if index.kind() == IndexKind::Approximate && index.factory() != config.index.approximate => {
            Some(format!("the index factory changed from {} to {}", index.factory(), config.index.approximate))
        }
        Some(_) => None,
    };

    let index = match (loaded.take(), reason) {
        (Some(mut index), None) => {
            report.loaded = true;
            report.caught_up = tail.len();
            let (ids, vectors) = tail.finish(embedder, &mut report).await?;
            index.add(&ids, &vectors)?;
            if index.outgrew(&config.index) {
                index = index.into_approximate(&config.index)?;
                report.rebuilt = Some("the memory outgrew exact search".into());
            }
            index.set_params(&config.index.params)?;
            index
        }
        (previous, reason) => {
            report.rebuilt = reason;
            // Without a saved index every row is already in `tail`; otherwise read them all again.
            let all = if previous.is_none() { tail } else { read_all(store, embedder).await? };
            let (ids, vectors) = all.finish(embedder, &mut report).await?;
            MemoryIndex::build(dimension, &config.index, &ids, &vectors)?
        }
    };

    let mut state = State { index, summaries: HashMap::new(), by_incident: HashMap::new(), unsaved: 0 };
    let mut ordered: Vec<MemorySummary> = summaries.into_values().collect();
    ordered.sort_by_key(|s| s.id);
    ordered.into_iter().for_each(|s| state.insert_summary(s));
    Ok((state, report))
}

async fn read_all(store: &Store, embedder: &dyn Embedder) -> Result<Pending> {
    let mut all = Pending::default();
    let mut after = 0;
    loop {
        let page = store.memories_after(after, PAGE).await.map_err(Error::store("reading memories"))?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for record in page {
            if let Some((_, document)) = read_record(&record, &mut OpenReport::default()) {
                all.push(record, document, embedder);
            }
        }
    }
    Ok(all)
}

/// A row's summary and document, or `None` (counted, logged) when its document cannot be read.
fn read_record(record: &MemoryRecord, report: &mut OpenReport) -> Option<(MemorySummary, MemoryDocument)> {
    match MemoryDocument::deserialize(&record.document) {
        Ok(document) => Some((MemorySummary::of(record.id, &document.memory, record.created_at), document)),
        Err(e) => {
            tracing::warn!(id = record.id, error = %e, "memory document unreadable; left out of the index");
            report.unreadable += 1;
            None
        }
    }
}

/// Rows on their way into the index: their stored vectors, or texts to embed again.
#[derive(Default)]
pub(crate) struct Pending {
    ids: Vec<i64>,
    vectors: Vec<Option<Vec<f32>>>,
    to_embed: Vec<(usize, String)>,
}

impl Pending {
    pub(crate) fn push(&mut self, record: MemoryRecord, document: MemoryDocument, embedder: &dyn Embedder) {
        let reusable = record.embedder == embedder.id()
            && record.vector.len() == embedder.dimension()
            && document.digest_version == DIGEST_VERSION;
        if reusable {
            self.vectors.push(Some(record.vector));
        } else {
            self.to_embed.push((self.ids.len(), document.embedding_text()));
            self.vectors.push(None);
        }
        self.ids.push(record.id);
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Embeds what must be embedded again; returns ids and row-major vectors.
    pub(crate) async fn finish(
        mut self,
        embedder: &dyn Embedder,
        report: &mut OpenReport,
    ) -> Result<(Vec<i64>, Vec<f32>)> {
        report.re_embedded += self.to_embed.len();
        for batch in self.to_embed.chunks(EMBED_BATCH) {
            let texts: Vec<String> = batch.iter().map(|(_, t)| t.clone()).collect();
            let vectors = embed_checked(embedder, &texts).await?;
            for ((slot, _), vector) in batch.iter().zip(vectors) {
                self.vectors[*slot] = Some(vector);
            }
        }
        let mut flat = Vec::with_capacity(self.ids.len() * embedder.dimension());
        for vector in self.vectors {
            flat.extend(vector.unwrap_or_default());
        }
        Ok((self.ids, flat))
    }
}
